"""A Sphinx extension that serves BokehJS to the book pages holding a galaxy map (_config.yml).

Chapter 5 embeds its interactive map with ``map_html(layout, bokehjs="book")``: the fragment
then carries the map's document but not BokehJS itself (1.6 MB that would otherwise sit in the
committed notebook). This extension copies the installed bokeh's ``bokeh.min.js`` and
``bokeh-widgets.min.js`` into the book's ``_static/bokeh-<version>/`` and adds them to the
``<head>`` of every page whose body holds such a map, and of no other page. Everything stays
local: the book needs no internet.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_bokehjs(app) -> None:
    """Put BokehJS into the output's ``_static`` before pages are written (their checksums)."""
    if app.builder.format != "html":
        return
    from helpers.book.interactive import bokehjs_files

    for name, source in bokehjs_files():
        target = Path(app.outdir) / "_static" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)


def add_bokehjs(app, pagename, templatename, context, doctree) -> None:
    """Load BokehJS in the head of a page whose body has a map made with ``bokehjs="book"``."""
    from helpers.book.interactive import BOOK_MARKER, bokehjs_files

    if BOOK_MARKER not in (context.get("body") or ""):
        return
    for name, _ in bokehjs_files():
        app.add_js_file(name)  # per page: Sphinx resets the page scripts before this event


def setup(app):
    app.connect("builder-inited", copy_bokehjs)
    app.connect("html-page-context", add_bokehjs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
