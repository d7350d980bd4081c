"""The galaxy map as a selection tool, in a real headless Chromium (helpers.book.interactive).

A standalone page (``map_html`` with inline BokehJS, a few hundred random galaxies) is served
from 127.0.0.1. The test picks the lasso (or box select) tool in the map's toolbar and draws
with the mouse; the points the page selected (the data source's ``selected.indices``) must be
exactly those whose centres lie inside the drawn region, which the test computes in Python
from the data and the plot's data-to-screen mapping (points within a pixel of the region's
edge, where rounding decides, are left out of the comparison). The panel must show that count
and the first thumbnails and IDs, and the download button must save a CSV of exactly the
selected IDs. No console errors.

Chromium comes from Debian (``make browser``); without it these tests fail, never skip.
Playwright's sync API allows one instance per thread, and test_book_browser's session-wide one
may be alive in the main thread: this module drives its own in a worker thread.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mapdata import random_points
from test_book_browser import (
    FIND_PLOT,
    LAUNCH_ARGS,
    READY,
    VIEWPORT,
    bokeh_version,
    chromium_executable,
    next_paint,
    serve,
    wait_until,
)

from helpers.book.interactive import SELECTION_CSV, galaxy_map, map_html, thumbnail_uris

N_POINTS = 300
CAP = 60  # thumbnails drawn in the panel
MAP_ID = "galaxy-map"
COLOURINGS = ["label", "HDBSCAN (t-SNE)", "novelty"]
EDGE_PX = 1.5  # points this close to the drawn region's edge are not compared

# The plot's data-to-screen mapping, the points' screen positions, the selection.
GEOMETRY = "args => {" + FIND_PLOT + """
  const f = plot.frame.bbox, m = plot.model, box = plot.canvas_view.el.getBoundingClientRect();
  return {frame: [f.left, f.top, f.right, f.bottom],
          x_range: [m.x_range.start, m.x_range.end], y_range: [m.y_range.start, m.y_range.end],
          canvas: [box.left, box.top], sx: Array.from(rv.glyph.sx), sy: Array.from(rv.glyph.sy)};
}"""
SELECTED = "args => {" + FIND_PLOT + " return Array.from(rv.model.data_source.selected.indices); }"
# true once the selection is not empty and differs from args[2] (the previous one, joined)
NEW_SELECTION = "args => {" + FIND_PLOT + """
  const now = Array.from(rv.model.data_source.selected.indices);
  return now.length > 0 && now.join() !== args[2];
}"""


# --- the page, the browser -----------------------------------------------------------------

def make_points() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    points, images = random_points(rng, N_POINTS, image_size=24)
    points["novelty"] = rng.gamma(2.0, 0.5, N_POINTS)
    return points, images


@pytest.fixture(scope="module")
def page_url(tmp_path_factory) -> Iterator[tuple[str, pd.DataFrame]]:
    points, images = make_points()
    layout = galaxy_map(points, COLOURINGS, thumbnail_uris(images, size=32), numeric=["novelty"],
                        title=f"{N_POINTS} random galaxies", selection_thumbnails=CAP)
    folder = tmp_path_factory.mktemp("selection")
    (folder / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>map</title>'
        '<link rel="icon" href="data:,"></head>\n<body>\n' + map_html(layout) + "</body></html>\n",
        encoding="utf-8")
    with serve(folder) as url:
        yield url + "index.html", points


@pytest.fixture(scope="module")
def in_browser() -> Iterator[Callable]:
    """``in_browser(scenario, *args)`` runs ``scenario(browser, *args)`` in Playwright's thread."""
    executable = chromium_executable()  # fails (not skips) without Chromium
    from playwright.sync_api import sync_playwright

    with ThreadPoolExecutor(1, thread_name_prefix="playwright") as worker:
        playwright = worker.submit(lambda: sync_playwright().start()).result()
        try:
            browser = worker.submit(playwright.chromium.launch, executable_path=executable,
                                    args=LAUNCH_ARGS).result()
            yield lambda scenario, *args: worker.submit(scenario, browser, *args).result()
            worker.submit(browser.close).result()
        finally:
            worker.submit(playwright.stop).result()


class Tab:
    """The map page in a fresh tab, recording console errors and uncaught exceptions."""

    def __init__(self, browser, url: str):
        self.problems: list[str] = []
        self.page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console error: {m.text}"))
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.args = [MAP_ID, bokeh_version()]
        try:
            response = self.page.goto(url, wait_until="load")
            assert response is not None and response.status == 200, "the page did not load"
            assert wait_until(self.page, READY, self.args, 20_000), \
                f"the map did not render ({'; '.join(self.problems) or 'no console error'})"
        except BaseException:
            self.page.close()
            raise

    def geometry(self) -> dict:
        return self.page.evaluate(GEOMETRY, self.args)

    def selected(self) -> list[int]:
        return self.page.evaluate(SELECTED, self.args)

    def tool(self, title: str):
        return self.page.locator(f'#{MAP_ID} [title="{title}"]')

    def choose(self, title: str) -> None:
        button = self.tool(title)
        assert button.count() == 1, f"no {title!r} tool in the map's toolbar"
        button.click()
        assert "bk-active" in button.get_attribute("class"), f"{title!r} did not become active"


# --- geometry in Python --------------------------------------------------------------------

def to_screen(geo: dict, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bokeh's linear mapping from data to canvas pixels (the frame spans the ranges)."""
    left, top, right, bottom = geo["frame"]
    (x0, x1), (y0, y1) = geo["x_range"], geo["y_range"]
    return (left + (np.asarray(x) - x0) / (x1 - x0) * (right - left),
            bottom - (np.asarray(y) - y0) / (y1 - y0) * (bottom - top))


def inside_polygon(px: float, py: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd rule (ray casting), as BokehJS's hit test does."""
    inside, j = False, len(poly) - 1
    for i in range(len(poly)):
        (xi, yi), (xj, yj) = poly[i], poly[j]
        if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def edge_distance(px: float, py: float, poly: list[tuple[float, float]]) -> float:
    """Distance from a point to the nearest edge of a closed polygon."""
    best = np.inf
    for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True):
        dx, dy = bx - ax, by - ay
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        best = min(best, float(np.hypot(px - (ax + t * dx), py - (ay + t * dy))))
    return best


def expected_selection(points: pd.DataFrame, geo: dict,
                       poly: list[tuple[float, float]]) -> tuple[set[int], set[int]]:
    """(the points clearly inside the region, those too near its edge to call)."""
    sx, sy = to_screen(geo, points["x"].to_numpy(float), points["y"].to_numpy(float))
    inside, unsure = set(), set()
    for i, (px, py) in enumerate(zip(sx, sy, strict=True)):
        if edge_distance(px, py, poly) <= EDGE_PX:
            unsure.add(i)
        elif inside_polygon(px, py, poly):
            inside.add(i)
    return inside, unsure


def draw(tab: Tab, geo: dict, data_poly: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drag the mouse along a polygon given in data coordinates (closing it); return the
    polygon the mouse drew, in canvas pixels."""
    sx, sy = to_screen(geo, [p[0] for p in data_poly], [p[1] for p in data_poly])
    cx, cy = geo["canvas"]
    page_pts = [(round(cx + x), round(cy + y)) for x, y in zip(sx, sy, strict=True)]
    mouse = tab.page.mouse
    mouse.move(*page_pts[0])
    mouse.down()
    for x, y in page_pts[1:] + page_pts[:1]:
        mouse.move(x, y, steps=8)
    mouse.up()
    return [(x - cx, y - cy) for x, y in page_pts]


# --- what the page shows after a selection -------------------------------------------------

def check_selection(tab: Tab, points: pd.DataFrame, poly: list[tuple[float, float]],
                    what: str, previous: list[int] = ()) -> list[int]:
    """The page selected exactly the points inside ``poly``; panel and CSV agree. Returns them."""
    from playwright.sync_api import expect

    page = tab.page
    assert wait_until(page, NEW_SELECTION, [*tab.args, ",".join(map(str, previous))], 5_000), \
        f"the {what} selected nothing (new)"
    selected = tab.selected()
    chosen = set(selected)
    assert len(chosen) == len(selected), f"the {what} selected some points twice"
    inside, unsure = expected_selection(points, tab.geometry(), poly)
    assert len(unsure) <= 8, f"{len(unsure)} points lie on the edge of the {what}: pick another"
    assert 0 < len(inside) and len(inside | unsure) < len(points) - 10, \
        f"the {what} should catch some of the points, not all: {len(inside)} inside"
    assert chosen - unsure == inside, (
        f"the {what} selected {len(chosen)} points; missing {sorted(inside - chosen)[:10]}, "
        f"outside {sorted(chosen - inside - unsure)[:10]}")

    # the panel: the full count, the first CAP thumbnails and IDs in the order of the points
    order = sorted(chosen)
    gids = [str(points["GalaxyID"].iloc[i]) for i in order]
    n = len(order)
    # (the panel follows in a CustomJS callback, which BokehJS may run a moment later)
    expect(page.locator(f"#{MAP_ID} .gm-selection")).to_have_attribute("data-count", str(n))
    count = page.locator(f"#{MAP_ID} .gm-count")
    assert count.count() == 1 and count.inner_text() == str(n), \
        f"the panel says {count.all_inner_texts()} galaxies selected, not {n}"
    head = page.locator(f"#{MAP_ID} .gm-selection-head").inner_text()
    assert f"{n} {'galaxy' if n == 1 else 'galaxies'} selected" in head, head
    if n > CAP:
        assert f"the first {CAP} shown" in head, head
    items = page.locator(f"#{MAP_ID} .gm-sel")
    assert items.count() == min(n, CAP), f"{items.count()} thumbnails for {n} selected"
    assert items.evaluate_all("els => els.map(e => e.dataset.gid)") == gids[:CAP]
    assert page.locator(f"#{MAP_ID} .gm-sel figcaption").all_inner_texts() == gids[:CAP]
    images = page.locator(f"#{MAP_ID} .gm-sel img").evaluate_all(
        "els => els.map(e => e.complete && e.naturalWidth > 0 && e.src.startsWith('data:image/'))")
    assert len(images) == min(n, CAP) and all(images), "a thumbnail in the panel did not load"

    # the download: a CSV of exactly the selected IDs, in the order of the points
    button = page.get_by_role("button", name="(CSV)")
    expect(button).to_be_enabled()
    expect(button).to_contain_text(f"{n} selected")
    with page.expect_download(timeout=10_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == SELECTION_CSV
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["GalaxyID"], text[:80]
    assert [r[0] for r in rows[1:]] == gids and all(len(r) == 1 for r in rows[1:]), text[:200]
    assert text == "GalaxyID\n" + "".join(g + "\n" for g in gids)
    return order


def lasso_scenario(browser, url: str, points: pd.DataFrame) -> list[int]:
    tab = Tab(browser, url)
    page = tab.page
    try:
        # before any selection: the panel says so, the download button is disabled
        assert page.locator(f"#{MAP_ID} .gm-selection").get_attribute("data-count") == "0"
        assert "No galaxy selected" in page.locator(f"#{MAP_ID} .gm-selection").inner_text()
        assert page.get_by_role("button", name="(CSV)").is_disabled()
        assert "bk-active" in tab.tool("Pan").get_attribute("class"), "pan is not the default drag"

        geo = tab.geometry()
        sx, sy = to_screen(geo, points["x"].to_numpy(float), points["y"].to_numpy(float))
        assert np.abs(sx - geo["sx"]).max() < 0.01 and np.abs(sy - geo["sy"]).max() < 0.01, \
            "the data-to-screen mapping of the test is not Bokeh's"

        # a concave hexagon (the dent at (0.4, 0.2) tests the even-odd rule)
        tab.choose("Lasso Select")
        lasso = [(-1.6, -1.1), (0.0, -1.9), (1.7, -0.6), (0.4, 0.2), (1.3, 1.5), (-1.3, 1.3)]
        poly = draw(tab, geo, lasso)
        selected = check_selection(tab, points, poly, "lasso")
        assert len(selected) > CAP, "the lasso should catch more points than the panel draws"
        assert tab.geometry()["x_range"] == geo["x_range"], "the lasso moved the plot"

        # the hover still works: over a selected point, the tooltip shows an ID
        cx, cy = geo["canvas"]
        i = selected[len(selected) // 2]
        page.mouse.move(cx + sx[i], cy + sy[i])
        next_paint(page)
        tooltip = page.locator(".gm-tooltip:visible").first
        tooltip.wait_for(state="visible", timeout=5_000)
        gid = tooltip.locator(".gm-gid").inner_text().strip()
        assert gid in set(points["GalaxyID"].astype(str)), gid
        assert not tab.problems, "; ".join(tab.problems)
        return selected
    finally:
        page.close()


def box_scenario(browser, url: str, points: pd.DataFrame) -> tuple[list[int], dict]:
    tab = Tab(browser, url)
    page = tab.page
    try:
        geo = tab.geometry()
        tab.choose("Box Select")
        x0, y0, x1, y1 = -0.4, -0.5, 0.9, 0.7
        draw_from, draw_to = to_screen(geo, [x0, x1], [y0, y1])
        cx, cy = geo["canvas"]
        corners = [(round(cx + draw_from[0]), round(cy + draw_to[0])),
                   (round(cx + draw_from[1]), round(cy + draw_to[1]))]
        page.mouse.move(*corners[0])
        page.mouse.down()
        page.mouse.move(*corners[1], steps=10)
        page.mouse.up()
        (ax, ay), (bx, by) = ((x - cx, y - cy) for x, y in corners)
        box = [(ax, ay), (bx, ay), (bx, by), (ax, by)]
        selected = check_selection(tab, points, box, "box")

        # a second box replaces the selection; the download follows it
        page.mouse.move(corners[0][0], corners[0][1])
        page.mouse.down()
        page.mouse.move((corners[0][0] + corners[1][0]) // 2,
                        (corners[0][1] + corners[1][1]) // 2, steps=6)
        page.mouse.up()
        (mx, my) = ((corners[0][0] + corners[1][0]) // 2 - cx,
                    (corners[0][1] + corners[1][1]) // 2 - cy)
        smaller = check_selection(tab, points, [(ax, ay), (mx, ay), (mx, my), (ax, my)],
                                  "smaller box", previous=selected)
        assert set(smaller) < set(selected)

        # the novelty colouring: a colour bar instead of the legend, the points in Viridis
        page.locator(f"#{MAP_ID} select").select_option("novelty")
        state = page.evaluate("args => {" + FIND_PLOT + """
            const side = plot.model.right;
            const bar = side.find(m => m.type === "ColorBar"), leg = side.find(m => m.type === "Legend");
            const src = rv.model.data_source;
            return {bar: bar && bar.visible, bar_title: bar && bar.title, legend: leg.visible,
                    same: src.data.color.join() === src.data.color_2.join()};
        }""", tab.args)
        assert state == {"bar": True, "bar_title": "novelty (low to high)", "legend": False,
                         "same": True}, state
        assert tab.selected() == smaller, "changing the colouring changed the selection"
        assert not tab.problems, "; ".join(tab.problems)
        return smaller, state
    finally:
        page.close()


def test_lasso_selects_the_points_inside_and_downloads_their_ids(in_browser, page_url):
    url, points = page_url
    selected = in_browser(lasso_scenario, url, points)  # the scenario checks each step
    assert CAP < len(selected) < len(points)


def test_box_selection_and_novelty_colouring(in_browser, page_url):
    url, points = page_url
    smaller, colouring = in_browser(box_scenario, url, points)  # the scenario checks each step
    assert 0 < len(smaller) < len(points) and colouring["bar_title"] == "novelty (low to high)"
