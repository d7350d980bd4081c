"""A Sphinx extension that mends two faults of the Jupyter Book 1.x stack, loaded by _config.yml.

Sphinx 7.4 writes sphinx-thebe's inline configuration script twice on every page (its
de-duplication compares a missing file name ``None`` with ``''``), and the second copy throws
``Identifier 'THEBE_JS_URL' has already been declared`` in the reader's browser console. This
extension drops exact duplicate scripts before a page is written. (The other fault, the theme's
"invalid theme mode" console error, is mended in _config.yml with ``default_mode: auto``.)
"""

from __future__ import annotations


def _script_key(js) -> tuple:
    return (js.filename or "", getattr(js, "priority", 500), tuple(sorted(js.attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of every identical ``<script>`` the page context lists."""
    scripts = context.get("script_files")
    if scripts is None:
        return
    seen, kept = set(), []
    for js in scripts:
        key = _script_key(js)
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
