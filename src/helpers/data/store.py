"""Where survey files live: local paths and fsspec URLs, one way to read, list and write them.

A *location* is a local path (relative paths are taken from the repository root, as everywhere
in the project) or an fsspec URL: ``s3://bucket/prefix`` (s3fs), ``gs://`` (gcsfs), ``file://``,
``memory://`` ... A URL whose backend is not installed, a store that does not answer or refuses
the credentials end in one :class:`~helpers.errors.UserError` naming the location and what to do.

Writes are atomic where the store allows it: on a local disk a file is written under a temporary
name, then renamed; an object store makes an object visible only once its upload is
complete, and whatever reads it back later checks it (``helpers.codes.survey`` verifies every finished
shard on resume). Credentials and endpoints come from ``storage_options`` or from the backend's
own configuration (for s3fs: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``; fsspec also reads ``FSSPEC_S3_*`` variables).

>>> p = locate("memory://doctest-store/out")
>>> p.write("a/b.txt", b"hello"); p.read("a/b.txt"), p.exists("a/b.txt"), p.local
(b'hello', True, False)
>>> p.list("a", suffix=".txt")
['b.txt']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import UserError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")


def is_url(where: str | Path) -> bool:
    """``True`` for ``scheme://...`` (including ``file://``), ``False`` for a plain path.

    >>> is_url("s3://bucket/x"), is_url("data/x"), is_url(Path("/tmp"))
    (True, False, False)
    """
    return isinstance(where, str) and bool(_SCHEME.match(where))


def _backend_error(url: str, exc: Exception) -> UserError:
    from fsspec.registry import known_implementations

    scheme = _SCHEME.match(url).group(1).lower()
    known = known_implementations.get(scheme)
    if known is None:
        return UserError(f"{url}: the URL scheme {scheme}:// is not one fsspec knows; use a local "
                         "path or a URL such as s3://bucket/prefix, gs://, file://")
    hint = known.get("err") or f"install the fsspec backend for {scheme}://"
    return UserError(f"{url}: reading {scheme}:// needs its fsspec backend, which is not installed "
                     f"({hint.rstrip('.')}); pip install it into this environment and on every "
                     f"Dask worker ({type(exc).__name__}: {exc})")


@dataclass
class Location:
    """A folder (or file) on a local disk or in a store: the filesystem and the path in it."""

    url: str  # as given (a local path made absolute)
    fs: Any = field(repr=False)
    root: str  # the path inside ``fs``
    options: dict = field(default_factory=dict, repr=False)

    @property
    def local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    def path(self, name: str = "") -> str:
        return f"{self.root.rstrip('/')}/{name}" if name else self.root

    def child(self, name: str) -> str:
        """The location of ``name`` under this one, as a path or URL a worker can open."""
        return self.url.rstrip("/") + "/" + name

    def exists(self, name: str = "") -> bool:
        return bool(self.fs.exists(self.path(name)))

    def read(self, name: str = "") -> bytes:
        return self.fs.cat_file(self.path(name))

    def write(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name``: atomically on a local disk (temp file, then rename); in
        one upload elsewhere (an object store shows an object only once it is complete)."""
        if self.local:
            from helpers.artifacts import write_atomic

            write_atomic(Path(self.path(name)), lambda tmp: tmp.write_bytes(data))
        else:
            self.fs.pipe_file(self.path(name), data)

    def remove(self, name: str) -> None:
        if self.exists(name):
            self.fs.rm_file(self.path(name))

    def list(self, sub: str = "", suffix: str = "", prefix: str = "") -> list[str]:
        """Names of the files directly in ``sub`` (sorted), filtered by prefix and suffix."""
        where = self.path(sub)
        if not self.fs.exists(where):
            return []
        self.fs.invalidate_cache(where)
        names = [e["name"].rstrip("/").rsplit("/", 1)[-1]
                 for e in self.fs.ls(where, detail=True) if e.get("type") != "directory"]
        return sorted(n for n in names if n.endswith(suffix) and n.startswith(prefix))

    def sizes(self, sub: str = "") -> dict[str, int]:
        """``{name: size}`` of the files directly in ``sub`` (one listing, no request per file)."""
        self.fs.invalidate_cache(self.path(sub))
        return {e["name"].rstrip("/").rsplit("/", 1)[-1]: int(e.get("size") or 0)
                for e in self.fs.ls(self.path(sub), detail=True) if e.get("type") != "directory"}


def locate(where: str | Path, storage_options: dict | None = None) -> Location:
    """The :class:`Location` of a local path or an fsspec URL (its backend must be installed)."""
    from helpers import paths

    options = dict(storage_options or {})
    if not is_url(where):
        from fsspec.implementations.local import LocalFileSystem

        path = paths.resolve(where)
        return Location(str(path), LocalFileSystem(), str(path), options)
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(where, **options)
    except ImportError as exc:
        raise _backend_error(where, exc) from None
    except ValueError as exc:
        if "protocol" in str(exc).lower():
            raise _backend_error(where, exc) from None
        raise UserError(f"{where}: {exc}") from None
    return Location(where, fs, root, options)


def check_reachable(p: Location, what: str) -> bool:
    """Whether ``p`` exists, refusing in one line a store that cannot be reached or read.

    ``what`` names the parameter in messages (e.g. ``--images``)."""
    if p.local:
        return p.exists()
    try:
        p.fs.invalidate_cache(p.root)
        return bool(p.fs.exists(p.root))
    except PermissionError as exc:
        raise UserError(f"{what} {p.url}: access denied by the store ({exc}): check the credentials "
                        "(for s3://: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile)") from None
    except Exception as exc:  # connection refused, DNS, timeouts: each backend has its own types
        endpoint = p.options.get("endpoint_url") or _endpoint(p.fs)
        at = f" at {endpoint}" if endpoint else ""
        raise UserError(f"{what} {p.url}: the store{at} cannot be reached ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}): check the address "
                        "(for s3://: AWS_ENDPOINT_URL or storage_options endpoint_url), the "
                        "network and that the server runs") from None


def _endpoint(fs) -> str | None:
    kwargs = getattr(fs, "client_kwargs", None) or {}
    import os

    return kwargs.get("endpoint_url") or getattr(fs, "endpoint_url", None) or os.environ.get(
        "AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def read_bytes(where: str | Path, storage_options: dict | None = None) -> bytes:
    """The bytes of one file, local or behind a URL (``FileNotFoundError`` when it is not there)."""
    if not is_url(where):
        from helpers import paths

        return paths.resolve(where).read_bytes()
    p = locate(where, storage_options)
    return p.fs.cat_file(p.root)


def join(base: str, name: str) -> str:
    """``name`` taken relative to the folder ``base`` (a path or URL); absolute paths and URLs
    stay as they are.

    >>> join("s3://b/cat", "img/1.fits"), join("/data/cat", "/abs/1.fits"), join("/d", "s3://b/x")
    ('s3://b/cat/img/1.fits', '/abs/1.fits', 's3://b/x')
    """
    if is_url(name) or name.startswith("/"):
        return name
    return base.rstrip("/") + "/" + name
