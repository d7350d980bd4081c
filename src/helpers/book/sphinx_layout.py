"""A Sphinx extension that fits the chapters to the book's column (loaded by _config.yml).

It adds ``book.css`` (beside this module, in ``static/``) to every page: printed output wraps
at the column instead of scrolling sideways, and tables of results take a smaller type. Code
cells are kept to the column's 75 characters by the chapters themselves (``notebooks/ruff.toml``).
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"


def add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", add_static)
    app.add_css_file("book.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
