"""The rendered book in a real headless Chromium, served over HTTP the way a reader gets it.

The book is rendered from the committed notebooks (``helpers.book.build.build_committed_book``, nothing is
executed) and served from 127.0.0.1. Every page of ``_toc.yml`` must load (HTTP 200), show its
title, log no console error and raise no page error, and show every figure of its notebook's
outputs (loaded, not broken). Every interactive map (``helpers.book.interactive.map_html``) must
load BokehJS, hold its points, paint them in the colours of its data, show the galaxy's image
and ID in the hover tooltip, and switch its colouring. A small book built here around two maps
checks the map without the chapters.

Chromium comes from Debian (``make browser``); Playwright only drives it (nothing downloaded).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import io
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# MyST-NB renders the first of these that an output has: an image/png beside text/html is no <img>
HIGHER_THAN_IMAGES = ("application/vnd.jupyter.widget-view+json", "application/javascript",
                      "text/html", "image/svg+xml")
REMOVED_TAGS = {"remove-output", "remove_output", "remove-cell", "remove_cell"}
MAP_DIV = re.compile(r'<div id="([A-Za-z][\w-]*)" class="galaxy-map"')
VIEWPORT = {"width": 1280, "height": 1000}


# --- the browser and the server ------------------------------------------------------------

def chromium_executable() -> str:
    """Debian's Chromium; without it the test fails and says how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.fail("Chromium is not installed, so the book cannot be tested in a browser: run "
                    "`make browser` (installs Debian's chromium with apt-get), then rerun",
                    pytrace=False)
    return found


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the base class prints every request
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free port of 127.0.0.1 (daemon thread); yield the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def committed_book(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """The book of the committed notebooks, rendered into a temporary _build and served."""
    from helpers.book import build

    index = build.build_committed_book(tmp_path_factory.mktemp("book") / "_build")
    with serve(index.parent) as url:
        yield index.parent, url


# --- what the sources promise --------------------------------------------------------------

@dataclass
class Page:
    docname: str  # "notebooks/01_labels"
    source: Path
    title: str
    images: int  # figures among the notebook's outputs (0 for a Markdown page)

    @property
    def html(self) -> str:
        return self.docname + ".html"


def toc_docnames(toc: Path) -> list[str]:
    """Every page of a Jupyter Book 1.x ``_toc.yml``, root first, without suffixes."""
    data = yaml.safe_load(toc.read_text())
    names = [data["root"]]

    def entries(node) -> None:
        for key in ("parts", "chapters", "sections"):
            for entry in node.get(key) or []:
                if "file" in entry:
                    names.append(entry["file"])
                entries(entry)

    entries(data)
    return [re.sub(r"\.(ipynb|md)$", "", name) for name in names]


def page_source(root: Path, docname: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (root / (docname + suffix)).exists():
            return root / (docname + suffix)
    raise AssertionError(f"_toc.yml names {docname}, but there is no {docname}.ipynb or .md")


def plain_title(markdown: str) -> str:
    """The text of a Markdown heading: no emphasis, code marks or link targets."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"\{[a-z:]+\}`([^`<]*)(<[^>]*>)?`", r"\1", text)  # {ref}`text <target>`
    return " ".join(re.sub(r"[*_`]", "", text).split())


def expected_title(source: Path) -> str:
    if source.suffix == ".ipynb":
        import nbformat

        cells = nbformat.read(source, as_version=4).cells
        lines = [ln for c in cells if c.cell_type == "markdown" for ln in c.source.splitlines()]
    else:
        lines = source.read_text().splitlines()
    heading = next((ln for ln in lines if re.match(r"#\s", ln)), None)
    assert heading, f"{source.name} has no '# title' heading"
    return plain_title(heading.lstrip("#"))


def expected_images(source: Path) -> int:
    """The notebook outputs that the book shows as an <img> (PNG/JPEG, not removed by tags)."""
    if source.suffix != ".ipynb":
        return 0
    import nbformat

    count = 0
    for cell in nbformat.read(source, as_version=4).cells:
        if cell.cell_type != "code" or REMOVED_TAGS & set(cell.metadata.get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if ({"image/png", "image/jpeg"} & set(data)
                    and not any(m in data for m in HIGHER_THAN_IMAGES)):
                count += 1
    return count


def book_pages(root: Path) -> list[Page]:
    pages = []
    for docname in toc_docnames(root / "_toc.yml"):
        source = page_source(root, docname)
        pages.append(Page(docname, source, expected_title(source), expected_images(source)))
    return pages


def map_ids(html: str) -> list[str]:
    """The element ids of the interactive maps (map_html outputs) in a page."""
    return MAP_DIV.findall(html)


# --- one page in the browser ---------------------------------------------------------------

class Visit:
    """A page opened in a fresh tab, recording console errors and uncaught exceptions."""

    def __init__(self, browser, url: str, name: str):
        self.name = name
        self.problems: list[str] = []
        self.tab = browser.new_page(viewport=VIEWPORT)
        self.tab.on("console", self._console)
        self.tab.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.response = self.tab.goto(url, wait_until="load")

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):  # the browser's own request; the book has none
            return
        self.problems.append(f"console error: {message.text} ({where})")

    def close(self) -> None:
        self.tab.close()


def check_page(visit: Visit, page: Page) -> list[str]:
    """What is wrong with one rendered page (an empty list when nothing is)."""
    tab, name = visit.tab, page.html
    status = visit.response.status if visit.response else None
    if status != 200:
        return [f"{name}: HTTP {status}"]
    failures = []
    heading = tab.locator("article.bd-article h1").first
    shown = plain_title(heading.inner_text().rstrip("#")) if heading.count() else "(no <h1>)"
    if page.title not in shown:
        failures.append(f"{name}: the title is {shown!r}, expected {page.title!r}")
    images = tab.eval_on_selector_all(
        ".cell_output img",
        "els => els.map(e => ({src: e.getAttribute('src'), complete: e.complete,"
        " natural: e.naturalWidth, w: e.getBoundingClientRect().width,"
        " h: e.getBoundingClientRect().height}))")
    if len(images) < page.images:
        failures.append(f"{name}: {len(images)} <img> in cell outputs, but the notebook has "
                        f"{page.images} figure outputs")
    for image in images:
        if not image["complete"] or image["natural"] == 0:
            failures.append(f"{name}: image {image['src']} did not load (broken)")
        elif image["w"] <= 0 or image["h"] <= 0:
            failures.append(f"{name}: image {image['src']} is not shown (rendered size 0)")
    failures += [f"{name}: {problem}" for problem in visit.problems]
    return failures


# --- a chapter read at the book's width ----------------------------------------------------

READABLE_PX = 8.0  # the smallest text a figure may show, in CSS pixels at the book's width
BOOKKEEPING = ("within tolerance", "Headline numbers against", "as committed", "NOT COMMITTED",
               "OUTSIDE tolerance", "NBVAL", "headlines = {", "record = {", "close_chapter")
SCROLLERS = """els => els.filter(e => e.scrollWidth > e.clientWidth + 1)
                       .map(e => (e.className + ': ' + (e.innerText || '').slice(0, 60)))"""


def figure_text_px(html_dir: Path, page_html: str, src: str) -> float | None:
    """The smallest text a figure records (helpers.book.plots.TEXT_SIZE_KEY), in image pixels."""
    from helpers.book.plots import TEXT_SIZE_KEY

    if src.startswith("data:"):
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            info = dict(getattr(im, "text", {}) or {}) | dict(im.info)
    else:
        with Image.open((html_dir / page_html).parent / src) as im:
            info = dict(getattr(im, "text", {}) or {}) | dict(im.info)
    if TEXT_SIZE_KEY in info:
        return float(info[TEXT_SIZE_KEY])
    comment = info.get("comment", b"")
    comment = comment.decode() if isinstance(comment, bytes) else str(comment)
    return float(comment.split("=", 1)[1]) if comment.startswith(TEXT_SIZE_KEY) else None


def check_readable(visit: Visit, page: Page, html_dir: Path) -> list[str]:
    """A chapter page read at 1280 px: no code or output block scrolls sideways, the run's
    parameters are shown once (and labelled), every figure's smallest text is at least
    READABLE_PX on screen, and none of the replay's bookkeeping reaches the reader."""
    tab, name = visit.tab, page.html
    failures = [f"{name}: needs side-scrolling: {block}" for block in tab.eval_on_selector_all(
        "div.cell_input pre, div.cell_output pre, div.cell_output table, div.cell_output", SCROLLERS)]
    parameters = tab.locator("div.cell.tag_parameters").count()
    injected = tab.locator("div.cell.tag_injected-parameters").count()
    labelled = tab.locator("div.cell.tag_parameters", has_text="This run's values").count()
    if (parameters, injected, labelled) != (1, 0, 1):
        failures.append(f"{name}: {parameters} parameters cell(s) ({labelled} labelled as this run's "
                        f"values) and {injected} injected by papermill; expected one, labelled")
    for image in tab.eval_on_selector_all(
            ".cell_output img", "els => els.map(e => ({src: e.getAttribute('src'),"
            " natural: e.naturalWidth, w: e.getBoundingClientRect().width}))"):
        text_px = figure_text_px(html_dir, name, image["src"])
        if text_px is None:
            failures.append(f"{name}: figure {image['src'][:60]} records no text size")
        elif image["natural"] and text_px * image["w"] / image["natural"] < READABLE_PX:
            failures.append(f"{name}: figure {image['src'][:60]} shows text of "
                            f"{text_px * image['w'] / image['natural']:.1f} px (at least {READABLE_PX})")
    shown = tab.locator("article.bd-article").inner_text()
    failures += [f"{name}: the reader sees the replay's bookkeeping ({word!r})"
                 for word in BOOKKEEPING if word in shown]
    return failures


# --- an interactive map in the browser -----------------------------------------------------

# Finds the map's figure view through Bokeh.index (root model ids start with the element id).
FIND_PLOT = """
const [id, version] = args;
const B = window.Bokeh && (window.Bokeh[version] || window.Bokeh);
function* walk(v) { yield v; for (const c of (v.child_views ?? [])) yield* walk(c); }
const roots = B ? Object.entries(B.index).filter(([k]) => k.startsWith(id + "-")) : [];
const plot = roots.flatMap(([, v]) => [...walk(v)]).find(v => v.model.type === "Figure");
const rv = plot ? [...plot.renderer_views.values()].find(
    r => r.model.type === "GlyphRenderer") : undefined;
"""

READY = "args => {" + FIND_PLOT + """
  return rv != null && rv.glyph.sx != null &&
         rv.glyph.sx.length === rv.model.data_source.get_length() && !plot._needs_paint;
}"""

STATE = "args => {" + FIND_PLOT + """
  if (!B) return {error: "window.Bokeh is undefined: BokehJS did not load"};
  if (!rv) return {error: "BokehJS is loaded but no figure of #" + id + " was rendered"};
  const source = rv.model.data_source, fill = rv.model.glyph.fill_color;
  const field = fill && fill.field;
  const colours = field ? source.get_column(field) : null;
  const f = plot.frame.bbox, sx = rv.glyph.sx, sy = rv.glyph.sy;
  const inside = [];  // the points drawn last: no later point covers them
  for (let i = sx.length - 1; i >= 0 && inside.length < 80; i--) {
    if (sx[i] > f.left + 6 && sx[i] < f.right - 6 && sy[i] > f.top + 6 && sy[i] < f.bottom - 6)
      inside.push([sx[i], sy[i], colours ? colours[i] : null]);
  }
  const legend = plot.model.center.concat(plot.model.right, plot.model.left, plot.model.above,
      plot.model.below).find(m => m.type === "Legend");
  return {
    n: source.get_length(), field: field ?? null,
    colours: colours ? Array.from(colours).join(",") : "",
    gids: source.data.gid ? Array.from(source.data.gid) : [],
    frame: [f.left, f.top, f.right, f.bottom], inside,
    legend: legend ? {title: legend.title, n: legend.items.length} : null,
  };
}"""


def hex_rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)], float)


def wait_until(tab, predicate: str, arg, timeout_ms: int) -> bool:
    """Wait for a JS predicate; False on timeout (the caller's assertion then explains)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        tab.wait_for_function(predicate, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True


def next_paint(tab) -> None:
    tab.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def canvas_pixels(tab, canvas) -> np.ndarray:
    """What the plot's canvas shows (all its layers), as an (H, W, 3) array in canvas pixels."""
    tab.mouse.move(0, 0)  # no hover highlight or tooltip in the picture
    next_paint(tab)
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(float)


def painted_as_data(pixels: np.ndarray, state: dict) -> float:
    """The share of points whose centre pixel shows their data colour.

    The fill is drawn at alpha 0.8: over white, or over another point (off by at most 41).
    """
    hits = 0
    for sx, sy, colour in state["inside"]:
        expected = 0.8 * hex_rgb(colour) + 0.2 * 255
        pixel = pixels[int(round(sy)), int(round(sx))]
        hits += bool(np.abs(pixel - expected).max() <= 48)
    return hits / max(len(state["inside"]), 1)


def check_map(tab, element_id: str, where: str, version: str,
              expected_points: int | None = None) -> None:
    """Assert that the map in ``#element_id`` works: data, paint, tooltip, colouring switch."""
    name = f"{where} #{element_id}"
    wait_until(tab, READY, [element_id, version], 20_000)  # else the state says what is missing
    state = tab.evaluate(STATE, [element_id, version])
    assert "error" not in state, f"{name}: {state.get('error')}"
    assert state["n"] > 0, f"{name}: the plot's data source holds no points"
    if expected_points is not None:
        assert state["n"] == expected_points, f"{name}: {state['n']} points, not {expected_points}"
    assert state["field"], f"{name}: the points' fill_color is not a data column"
    assert len(state["inside"]) >= min(10, state["n"]), f"{name}: few points inside the frame"

    # not blank: the frame holds many coloured pixels, in the colours of the data
    canvas = tab.evaluate_handle("args => {" + FIND_PLOT + " return plot.canvas_view.el; }",
                                 [element_id, version]).as_element()
    canvas.scroll_into_view_if_needed()
    before = canvas_pixels(tab, canvas)
    left, top, right, bottom = (int(v) for v in state["frame"])
    frame = before[top:bottom, left:right]
    coloured = int(((frame.max(-1) - frame.min(-1)) > 40).sum())
    assert coloured >= 300, f"{name}: the plot looks blank ({coloured} coloured pixels)"
    share = painted_as_data(before, state)
    assert share >= 0.5, f"{name}: only {share:.0%} of the points show their data colour"

    # hover: the tooltip shows the galaxy's image and its ID (BokehJS 3.9 puts tooltips in
    # <body>, not in the map's element: the visible one belongs to the hovered map)
    tooltip = tab.locator(".gm-tooltip:visible")
    box = canvas.bounding_box()
    candidates = [(box["x"] + sx, box["y"] + sy) for sx, sy, _ in state["inside"][:20]]
    candidates += [(box["x"] + x, box["y"] + y)
                   for y in range(top + 10, bottom - 5, 25) for x in range(left + 10, right - 5, 25)]
    for x, y in candidates:
        tab.mouse.move(x, y)
        next_paint(tab)
        if tooltip.count():
            break
    else:
        raise AssertionError(f"{name}: no tooltip appeared at {len(candidates)} mouse positions")
    image = tooltip.first.locator("img")
    assert image.count() == 1, f"{name}: the tooltip shows no galaxy image"
    loaded = image.evaluate("e => [e.getAttribute('src').slice(0, 11), e.complete && "
                            "e.naturalWidth, e.getBoundingClientRect().width]")
    assert loaded[0] == "data:image/" and loaded[1] > 0, f"{name}: tooltip image broken: {loaded}"
    assert loaded[2] >= 64, f"{name}: the tooltip image is {loaded[2]} px wide"
    text = tooltip.first.inner_text()
    gid = tooltip.first.locator(".gm-gid").inner_text().strip()
    assert "GalaxyID" in text and gid in state["gids"], f"{name}: tooltip without an ID: {text!r}"

    # the colouring switch repaints the points in the new colouring's colours
    select = tab.locator(f"#{element_id} select")
    assert select.count() == 1, f"{name}: no colouring menu"
    options = select.evaluate("e => [...e.options].map(o => o.value)")
    assert len(options) >= 2, f"{name}: only one colouring ({options}) to switch to"
    current = select.input_value()
    target = next(o for o in reversed(options) if o != current)
    select.select_option(target)
    wait_until(tab, "args => {" + FIND_PLOT + " return rv.model.data_source.get_column("
               "rv.model.glyph.fill_color.field).join(',') !== args[2]; }",
               [element_id, version, state["colours"]], 5_000)
    after_state = tab.evaluate(STATE, [element_id, version])
    assert after_state["colours"] != state["colours"], \
        f"{name}: choosing {target!r} in the menu did not change the points' colours"
    assert after_state["legend"] and after_state["legend"]["title"] == target, \
        f"{name}: the legend did not follow the colouring: {after_state['legend']}"
    after = canvas_pixels(tab, canvas)
    share = painted_as_data(after, after_state)
    assert share >= 0.5, f"{name}: after switching to {target!r}, only {share:.0%} of the " \
                         "points show their new colour"
    changed = sum(a[2] != b[2] for a, b in zip(state["inside"], after_state["inside"], strict=False))
    if changed:
        repainted = int((np.abs(after - before).max(-1) > 40).sum())
        assert repainted > 50, f"{name}: the canvas did not change when the colouring did"
    select.select_option(current)  # back as the reader found it


def bokeh_version() -> str:
    import bokeh

    return bokeh.__version__


def find_maps(html_dir: Path, pages: list[Page]) -> dict[str, list[str]]:
    """The interactive maps of the rendered pages: {page.html: [element ids]}."""
    maps = {}
    for page in pages:
        html_file = html_dir / page.html
        ids = map_ids(html_file.read_text()) if html_file.exists() else []
        if ids:
            maps[page.html] = ids
    return maps


def check_book(browser, url: str, pages: list[Page], html_dir: Path | None = None) -> list[str]:
    """Visit every page; return what is wrong with them. With ``html_dir``, the chapters
    (notebooks) are also read at the book's width (:func:`check_readable`)."""
    failures = []
    for page in pages:
        visit = Visit(browser, url + page.html, page.html)
        try:
            failures += check_page(visit, page)
            if html_dir is not None and page.source.suffix == ".ipynb":
                failures += check_readable(visit, page, html_dir)
        finally:
            visit.close()
    return failures


def check_maps(browser, url: str, maps: dict, expected_points: dict | None = None) -> None:
    for html, ids in maps.items():
        visit = Visit(browser, url + html, html)
        try:
            for element_id in ids:
                check_map(visit.tab, element_id, html, bokeh_version(),
                          (expected_points or {}).get(element_id))
            assert not visit.problems, f"{html}: " + "; ".join(visit.problems)
        finally:
            visit.close()


# --- a small book of our own with two maps -------------------------------------------------

MINI_POINTS = {"galaxy-map": 300, "second-map": 40}
BOOK_MAP = "galaxy-map"  # drawn with map_html(bokehjs="book"): helpers.book.sphinx_maps loads BokehJS
# Two faults of the Jupyter Book 1.x stack that log errors on every page of a fresh visit:
# Sphinx 7.4 writes sphinx-thebe's inline config script twice (it compares the script's file
# name None with ''), so `const THEBE_JS_URL` is declared twice (a SyntaxError); and
# pydata-sphinx-theme logs "Got invalid theme mode" when html_context has no default_mode.
# The small book fixes both (this extension, default_mode: auto), so that it tests the map alone;
# the book's own _config.yml needs the same (test_committed_book_pages_render says so).


def write_minimal_book(root: Path) -> None:
    """A Jupyter Book with the repository's _config.yml and a page of two maps."""
    import nbformat
    from mapdata import COLOURINGS, random_points

    from helpers.book.interactive import galaxy_map, map_html, thumbnail_uris
    from helpers.book.plots import LABEL_COLORS

    root.mkdir(parents=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    (root / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: maps\n")
    (root / "intro.md").write_text("# A book with a map\n\nThe maps are on the next page.\n")
    rng = np.random.default_rng(5)
    outputs = []
    for element_id, n in MINI_POINTS.items():
        points, images = random_points(rng, n, image_size=64)
        layout = galaxy_map(points, COLOURINGS,
                            thumbnail_uris(images, size=48), palettes={"label": LABEL_COLORS},
                            title=f"{n} random galaxies")
        mode = "book" if element_id == BOOK_MAP else "inline"  # one of each on the page
        outputs.append(nbformat.v4.new_output("display_data", data={
            "text/html": map_html(layout, element_id=element_id, bokehjs=mode),
            "text/plain": "<IPython.core.display.HTML object>"}))
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    code = nbformat.v4.new_code_cell("HTML(map_html(layout))", execution_count=1)
    code.outputs = outputs
    nb.cells = [nbformat.v4.new_markdown_cell("# Two galaxy maps"), code]
    nbformat.write(nb, root / "maps.ipynb")


@pytest.fixture(scope="session")
def minimal_book(tmp_path_factory) -> Iterator[tuple[Path, str, Path]]:
    from helpers.book import build

    base = tmp_path_factory.mktemp("minibook")
    write_minimal_book(base / "source")
    index = build.build_book(base / "source", base / "_build")
    with serve(index.parent) as url:
        yield index.parent, url, base / "source"


# --- the tests -----------------------------------------------------------------------------

def bokehjs_scripts(html_file: Path) -> list[str]:
    """The BokehJS files a rendered page loads with <script src> (helpers.book.sphinx_maps adds them)."""
    return [src.split("?")[0] for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', html_file.read_text())
            if "/bokeh-" in src and src.split("?")[0].endswith(".min.js")]


def check_bokehjs_only_where_maps_are(html_dir: Path, pages, maps: dict) -> None:
    """Map pages load BokehJS from the book's own _static (and the files are there); others don't."""
    for page in pages:
        scripts = bokehjs_scripts(html_dir / page.html)
        if page.html in maps:
            assert [s.rsplit("/", 1)[1] for s in scripts] == ["bokeh.min.js", "bokeh-widgets.min.js"], \
                (page.html, scripts)
            for src in scripts:
                assert "://" not in src and (html_dir / page.html).parent.joinpath(src).resolve().is_file(), src
        else:
            assert not scripts, f"{page.html} loads BokehJS but has no map: {scripts}"


def test_map_renders_in_minimal_book(browser, minimal_book):
    """Two maps on one page work without the chapters: one made for the book (BokehJS served by
    helpers.book.sphinx_maps from _static), one self-contained (its inline BokehJS then skipped)."""
    html_dir, url, source = minimal_book
    pages = book_pages(source)
    failures = check_book(browser, url, pages)
    assert not failures, "problems in the small book:\n" + "\n".join(failures)
    maps = find_maps(html_dir, pages)
    assert maps == {"maps.html": list(MINI_POINTS)}, maps
    check_bokehjs_only_where_maps_are(html_dir, pages, maps)
    check_maps(browser, url, maps, MINI_POINTS)


def test_committed_book_pages_render_and_read_at_the_books_width(browser, committed_book):
    html_dir, url = committed_book
    pages = book_pages(ROOT)
    assert any(p.images for p in pages), "no chapter of _toc.yml has a figure to check"
    failures = check_book(browser, url, pages, html_dir)
    if any("THEBE_JS_URL" in f or "invalid theme mode" in f for f in failures):
        failures.append("(THEBE_JS_URL / invalid theme mode: faults of the Jupyter Book 1.x stack "
                        "that _config.yml works around with helpers.book.sphinx_fixes and html_context.default_mode)")
    assert not failures, "problems in the rendered book:\n" + "\n".join(failures)


def test_committed_book_has_a_working_interactive_map(browser, committed_book):
    html_dir, url = committed_book
    pages = book_pages(ROOT)
    maps = find_maps(html_dir, pages)
    assert maps, ("no page of the book has an interactive map (the output of "
                  "helpers.book.interactive.map_html); pages checked: "
                  + ", ".join(p.html for p in pages))
    check_bokehjs_only_where_maps_are(html_dir, pages, maps)
    check_maps(browser, url, maps)
