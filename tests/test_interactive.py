"""The interactive galaxy map (helpers.book.interactive): thumbnails, the Bokeh layout, the HTML.

No browser here (tests/test_book_browser.py and tests/test_map_selection.py drive Chromium);
these check what can be checked in Python: image sizes, the embedded document (colourings,
numeric colourings, the selection tools and panel), determinism across processes, input errors.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from mapdata import random_points
from PIL import Image

from helpers.book.interactive import (
    MISSING,
    NOISE_COLOR,
    SELECTION_CSV,
    galaxy_map,
    map_html,
    thumbnail_uris,
)
from helpers.book.plots import LABEL_COLORS

COLOURINGS = ["label", "k-means k=8 (PCA-7)", "HDBSCAN (t-SNE)"]


def make_points(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    return random_points(np.random.default_rng(seed), n)


def decode(uri: str) -> Image.Image:
    prefix = "data:image/webp;base64,"
    assert uri.startswith(prefix), uri[:40]
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix):], validate=True)))


def embedded_item(fragment: str, element_id: str = "galaxy-map") -> dict:
    """The Bokeh json_item that map_html embeds (its <script type="application/json">)."""
    match = re.search(rf'<script type="application/json" id="{element_id}-item">(.*?)</script>',
                      fragment, re.S)
    assert match, f"no embedded document for #{element_id} in the fragment"
    return json.loads(match.group(1))


def models(node, name: str) -> list[dict]:
    """Every serialized Bokeh model of type ``name`` (with its attributes) in a json_item."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("name") == name:
            found.append(node)
        for value in node.values():
            found += models(value, name)
    elif isinstance(node, list):
        for value in node:
            found += models(value, name)
    return found


def by_id(item: dict) -> dict[str, dict]:
    """Every model defined in a json_item, by id (later mentions are bare {"id": ...} refs)."""
    return {m["id"]: m for m in models(item, "LegendItem")}


def entries(serialized_map: dict) -> dict:
    assert serialized_map["type"] == "map"
    return dict(serialized_map["entries"])


def callback_with(item: dict, arg: str) -> dict:
    """The one CustomJS whose arguments include ``arg``."""
    found = [m for m in models(item, "CustomJS") if arg in entries(m["attributes"]["args"])]
    assert len(found) == 1, f"{len(found)} CustomJS callbacks take {arg!r}"
    return found[0]


def source_data(item: dict) -> dict:
    [source] = models(item, "ColumnDataSource")
    return entries(source["attributes"]["data"])


# --- thumbnails ----------------------------------------------------------------------------

def test_thumbnails_decode_to_the_requested_size_and_keep_the_colours():
    images = np.zeros((3, 64, 64, 3), np.uint8)
    images[0, ..., 0] = 255  # red
    images[1, ..., 2] = 255  # blue
    images[2] = 128  # grey
    for size in (48, 20):
        uris = thumbnail_uris(images, size=size)
        assert len(uris) == 3
        for uri, colour in zip(uris, [(255, 0, 0), (0, 0, 255), (128, 128, 128)], strict=True):
            thumb = decode(uri)
            assert thumb.format == "WEBP" and thumb.size == (size, size) and thumb.mode == "RGB"
            mean = np.asarray(thumb, float).reshape(-1, 3).mean(axis=0)
            assert np.abs(mean - colour).max() < 12, (size, colour, mean)


def test_jpeg_thumbnails_on_request_and_webp_is_smaller():
    _, images = make_points(6)
    jpeg, webp = thumbnail_uris(images, format="jpeg"), thumbnail_uris(images)
    assert all(u.startswith("data:image/jpeg;base64,") for u in jpeg)
    thumb = Image.open(io.BytesIO(base64.b64decode(jpeg[0].split(",", 1)[1])))
    assert thumb.format == "JPEG" and thumb.size == (48, 48)
    assert sum(map(len, webp)) < sum(map(len, jpeg))


def test_thumbnails_are_deterministic_and_quality_changes_the_bytes():
    _, images = make_points(4)
    assert thumbnail_uris(images) == thumbnail_uris(images.copy())
    small, large = thumbnail_uris(images, quality=30), thumbnail_uris(images, quality=95)
    assert all(len(s) < len(b) for s, b in zip(small, large, strict=True))


@pytest.mark.parametrize(("images", "kwargs", "message"), [
    (np.zeros((2, 8, 8, 3), np.float32), {}, "uint8"),
    (np.zeros((2, 8, 8), np.uint8), {}, r"\(N, H, W, 3\)"),
    (np.zeros((2, 8, 8, 4), np.uint8), {}, r"\(N, H, W, 3\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), {"size": 0}, "size"),
    (np.zeros((2, 8, 8, 3), np.uint8), {"quality": 101}, "quality"),
    (np.zeros((2, 8, 8, 3), np.uint8), {"format": "gif"}, "format must be one of"),
])
def test_thumbnails_reject_bad_input(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        thumbnail_uris(images, **kwargs)


# --- the map -------------------------------------------------------------------------------

def test_every_colouring_is_in_the_embedded_document():
    points, images = make_points(60)
    fragment = map_html(galaxy_map(points, COLOURINGS, thumbnail_uris(images, size=24),
                                   palettes={"label": LABEL_COLORS}, title="a test map"))
    item = embedded_item(fragment)

    [select] = models(item, "Select")
    assert select["attributes"]["options"] == COLOURINGS
    assert select["attributes"]["value"] == "label"

    [source] = models(item, "ColumnDataSource")
    data = entries(source["attributes"]["data"])
    for i, name in enumerate(COLOURINGS):
        categories = [str(v) for v in points[name]]
        assert data[f"cat_{i}"] == categories, name
        assert len(data[f"color_{i}"]) == len(points), name
    assert data["color"] == data["color_0"]  # the first colouring is shown at first
    assert data["gid"] == [str(g) for g in points["GalaxyID"]]
    assert len(data["img"]) == len(points) and data["img"][0].startswith("data:image/webp;base64,")

    # the caller's palette for "label"; the noise cluster grey; other clusters distinct colours
    assert data["color_0"] == [LABEL_COLORS[lab] for lab in points["label"]]
    hdb = dict(zip(data["cat_2"], data["color_2"], strict=True))
    assert hdb["-1"] == NOISE_COLOR
    clusters = sorted({c for c in hdb if c != "-1"}, key=int)
    assert len({hdb[c] for c in clusters}) == len(clusters)
    assert NOISE_COLOR not in {hdb[c] for c in clusters}

    # the legend of each colouring lists its categories (sorted, noise last), the callback
    # switches legends and colours by name
    args = entries(callback_with(item, "names")["attributes"]["args"])
    assert args["names"] == COLOURINGS
    assert len(args["items"]) == len(COLOURINGS)
    legend_items = by_id(item)

    def legend(i: int) -> list[str]:
        return [legend_items[ref["id"]]["attributes"]["label"]["value"] for ref in args["items"][i]]

    [shown] = models(item, "Legend")
    assert [ref["id"] for ref in shown["attributes"]["items"]] == \
        [ref["id"] for ref in args["items"][0]]
    assert legend(2) == clusters + ["noise (-1)"]
    assert legend(1) == sorted({str(v) for v in points["k-means k=8 (PCA-7)"]}, key=int)
    label_legend = legend(0)
    assert label_legend == [lab for lab in LABEL_COLORS if lab in set(points["label"])]

    # the tooltip: the image at 96 px, the ID, the label and every colouring
    [hover] = models(item, "HoverTool")
    tooltip = hover["attributes"]["tooltips"]
    assert '<img class="gm-thumb" src="@img" width="96" height="96"' in tooltip
    assert "@gid" in tooltip and "@{cat_0}" in tooltip
    for i, name in enumerate(COLOURINGS[1:], start=1):
        assert f"<b>{name}</b> @{{cat_{i}}}" in tooltip
    assert [m["attributes"]["text"] for m in models(item, "Title")] == ["a test map"]


def test_map_html_is_self_contained():
    points, _ = make_points(10)
    fragment = map_html(galaxy_map(points, ["label"]), element_id="map-1")
    assert '<div id="map-1" class="galaxy-map"' in fragment
    assert "embed.embed_item(JSON.parse(" in fragment
    # BokehJS core and widgets inline, nothing fetched: no src= or <link>, no CDN
    assert re.search(r"<script[^>]*\bsrc=", fragment) is None
    assert "<link" not in fragment and "cdn.bokeh.org" not in fragment
    assert "/* BEGIN bokeh.min.js */" in fragment and "/* BEGIN bokeh-widgets.min.js */" in fragment
    # the bundles are skipped when this BokehJS version is already on the page
    assert fragment.count('window.Bokeh["3.') >= 3
    # every model id derives from the element id (two maps on one page do not collide)
    ids = set(re.findall(r'"id":"([^"]+)"', fragment))
    assert ids and all(i.startswith("map-1-") for i in ids), sorted(ids)[:5]


def test_book_maps_leave_bokehjs_to_the_sphinx_extension():
    from helpers.book.interactive import BOOK_MARKER, bokehjs_files

    points, _ = make_points(10)
    layout = galaxy_map(points, ["label"])
    inline = map_html(layout, element_id="map-1")
    book = map_html(layout, element_id="map-1", bokehjs="book")
    assert BOOK_MARKER in book and BOOK_MARKER not in inline
    assert "/* BEGIN bokeh.min.js */" not in book and len(book) < len(inline) - 1_000_000
    assert embedded_item(book, "map-1") == embedded_item(inline, "map-1")  # the same map
    assert re.search(r"<script[^>]*\bsrc=", book) is None  # the page loads BokehJS, not the map
    files = bokehjs_files()
    assert [name.rsplit("/", 1)[1] for name, _ in files] == ["bokeh.min.js", "bokeh-widgets.min.js"]
    assert all(path.stat().st_size > 100_000 for _, path in files)
    with pytest.raises(ValueError, match="bokehjs must be 'inline'"):
        map_html(layout, bokehjs="cdn")


def test_a_second_colouring_changes_nothing_in_the_first():
    points, _ = make_points(30)
    one = entries(models(embedded_item(map_html(galaxy_map(points, ["label"]))),
                         "ColumnDataSource")[0]["attributes"]["data"])
    two = entries(models(embedded_item(map_html(galaxy_map(points, ["label", "HDBSCAN (t-SNE)"]))),
                         "ColumnDataSource")[0]["attributes"]["data"])
    assert one["color_0"] == two["color_0"] and one["cat_0"] == two["cat_0"]
    assert "cat_1" in two and "cat_1" not in one


DETERMINISM_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    import numpy as np, pandas as pd
    from bokeh.plotting import figure
    from helpers.book.interactive import galaxy_map, map_html, thumbnail_uris
    from helpers.book.plots import LABEL_COLORS
    for _ in range(int(sys.argv[1])):  # other plots first: Bokeh's id counter moves on
        figure().line([1, 2], [3, 4])
    rng = np.random.default_rng(7)
    n = 200
    points = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                           "GalaxyID": np.arange(100000, 100000 + n),
                           "label": rng.choice(sorted(LABEL_COLORS), n),
                           "HDBSCAN (t-SNE)": rng.integers(-1, 5, n),
                           "novelty": rng.random(n)})
    thumbs = thumbnail_uris(rng.integers(0, 256, (n, 40, 40, 3), dtype=np.uint8))
    html = map_html(galaxy_map(points, ["label", "HDBSCAN (t-SNE)", "novelty"], thumbs,
                               palettes={"label": LABEL_COLORS}, numeric=["novelty"],
                               title="t-SNE"))
    print(len(html), hashlib.sha256(html.encode()).hexdigest())
""")


def test_map_html_is_byte_identical_in_fresh_processes():
    runs = [subprocess.Popen([sys.executable, "-c", DETERMINISM_SCRIPT, str(extra)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for extra in (0, 3)]
    results = []
    for proc in runs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(out.split())
    (size_a, hash_a), (size_b, hash_b) = results
    assert int(size_a) > 1_000_000  # BokehJS itself is inline
    assert (size_a, hash_a) == (size_b, hash_b)


# --- the selection tools and panel --------------------------------------------------------

def test_selection_tools_panel_and_download_are_in_the_embedded_document():
    points, images = make_points(80)
    item = embedded_item(map_html(galaxy_map(points, COLOURINGS, thumbnail_uris(images, size=24),
                                             selection_thumbnails=25)))
    [plot] = models(item, "Figure")
    [renderer] = models(item, "GlyphRenderer")
    # the old tools are kept; lasso and box select act on the points, and only on a mouse-up
    tools = {m["name"] for m in models(item, "Toolbar")[0]["attributes"]["tools"]
             if m.get("type") == "object"}
    assert {"PanTool", "WheelZoomTool", "BoxZoomTool", "ResetTool", "SaveTool", "HoverTool",
            "LassoSelectTool", "BoxSelectTool"} <= tools, tools
    for name in ("LassoSelectTool", "BoxSelectTool"):
        [tool] = models(item, name)
        assert [r["id"] for r in tool["attributes"]["renderers"]] == [renderer["id"]], name
        assert tool["attributes"].get("continuous", False) is False, name
    assert plot["attributes"]["toolbar"]["attributes"].get("active_drag", "auto") == "auto"
    assert {"selection_glyph", "nonselection_glyph"} <= set(renderer["attributes"])

    # the panel (a Div) and the button (disabled until something is selected)
    [button] = models(item, "Button")
    assert button["attributes"]["disabled"] is True
    assert "(CSV)" in button["attributes"]["label"]
    [panel] = models(item, "Div")
    assert 'data-count="0"' in panel["attributes"]["text"]
    assert "No galaxy selected" in panel["attributes"]["text"]

    # the panel follows source.selected.indices; the button downloads the CSV
    [selection] = models(item, "Selection")
    [(event, [on_select])] = entries(selection["attributes"]["js_property_callbacks"]).items()
    assert event == "change:indices"
    shown = callback_with(item, "cap")
    assert on_select["id"] == shown["id"]
    args = entries(shown["attributes"]["args"])
    assert args["cap"] == 25 and args["panel"]["id"] == panel["id"]
    assert args["button"]["id"] == button["id"]
    code = shown["attributes"]["code"]
    assert ".sort((a, b) => a - b)" in code and "idx.slice(0, cap)" in code and "esc(" in code
    [(event, [on_click])] = entries(button["attributes"]["js_event_callbacks"]).items()
    assert event == "button_click"
    download = callback_with(item, "filename")
    assert on_click["id"] == download["id"]
    assert entries(download["attributes"]["args"])["filename"] == SELECTION_CSV == \
        "selected_galaxies.csv"
    code = download["attributes"]["code"]
    assert all(part in code for part in ('["GalaxyID"]', "new Blob(", "createObjectURL",
                                         'createElement("a")', "a.download = filename",
                                         "a.click()"))


def test_selection_can_be_left_out():
    points, _ = make_points(20)
    layout = galaxy_map(points, ["label"], selection=False)
    assert [type(c).__name__ for c in layout.children] == ["Select", "figure"]
    item = embedded_item(map_html(layout))
    assert not models(item, "LassoSelectTool") and not models(item, "BoxSelectTool")
    assert not models(item, "Button") and not models(item, "Div")


# --- numeric colourings --------------------------------------------------------------------

def test_a_numeric_colouring_gets_a_continuous_colour_map_and_a_colour_bar():
    from bokeh.palettes import Viridis256

    points, _ = make_points(60)
    novelty = np.linspace(0.0, 3.0, 60)
    novelty[5] = np.nan  # a missing score: grey, "n/a"
    points["novelty"] = novelty
    colourings = ["label", "novelty", "HDBSCAN (t-SNE)"]
    item = embedded_item(map_html(galaxy_map(points, colourings, numeric=["novelty"])))
    data = source_data(item)

    # in the drop-down with the categorical colourings; those are as before
    [select] = models(item, "Select")
    assert select["attributes"]["options"] == colourings
    alone = source_data(embedded_item(map_html(galaxy_map(points, ["label"]))))
    assert data["color"] == data["color_0"] == alone["color_0"]
    assert data["cat_2"] == [str(v) for v in points["HDBSCAN (t-SNE)"]]
    # low to high along Viridis, as BokehJS's LinearColorMapper maps them
    colours = data["color_1"]
    assert colours[0] == Viridis256[0] and colours[-1] == Viridis256[-1]
    assert colours[5] == NOISE_COLOR and data["cat_1"][5] == MISSING
    index = [Viridis256.index(c) for i, c in enumerate(colours) if i != 5]
    assert index == sorted(index) and len(set(index)) > 40
    assert colours[30] == Viridis256[int(np.floor(novelty[30] / 3.0 * 256))]
    assert data["cat_1"][30] == format(novelty[30], ".4g")
    # the colour bar: hidden until novelty is chosen, low and high the data's range
    [bar] = models(item, "ColorBar")
    [mapper] = models(item, "LinearColorMapper")
    assert bar["attributes"]["visible"] is False
    assert bar["attributes"]["title"] == "novelty (low to high)"
    assert bar["attributes"]["color_mapper"]["id"] == mapper["id"]
    assert (mapper["attributes"]["low"], mapper["attributes"]["high"]) == (0.0, 3.0)
    assert mapper["attributes"]["palette"] == list(Viridis256)
    # the switch: no legend items for novelty, its colour bar shown instead of the legend
    args = entries(callback_with(item, "names")["attributes"]["args"])
    assert args["items"][1] == [] and len(args["items"][0]) > 0
    assert args["bar_of"] == [-1, 0, -1] and [b["id"] for b in args["bars"]] == [bar["id"]]
    [hover] = models(item, "HoverTool")
    assert "<b>novelty</b> @{cat_1}" in hover["attributes"]["tooltips"]


def test_a_numeric_colouring_first_shows_its_colour_bar_and_takes_a_palette():
    from bokeh.palettes import Magma256

    points, _ = make_points(30)
    points["novelty"] = np.arange(30)  # integers are numbers too
    item = embedded_item(map_html(galaxy_map(points, ["novelty", "label"], numeric=["novelty"],
                                             palettes={"novelty": Magma256})))
    [bar] = models(item, "ColorBar")
    [legend] = models(item, "Legend")
    assert bar["attributes"].get("visible", True) is True
    assert legend["attributes"]["visible"] is False and legend["attributes"].get("items", []) == []
    data = source_data(item)
    assert data["color"][0] == Magma256[0] and data["color"][-1] == Magma256[-1]
    assert data["cat_0"][:3] == ["0", "1", "2"]
    constant = galaxy_map(points.assign(novelty=0.5), ["novelty"], numeric=["novelty"])  # fine
    colours = source_data(embedded_item(map_html(constant)))["color_0"]
    assert len(set(colours)) == 1


@pytest.mark.parametrize(("values", "message"), [
    (lambda n: np.full(n, np.nan), "no values"),
    (lambda n: [None] * n, "no values"),
    (lambda n: [0.5] * (n - 1) + ["high"], r"holds 'high' \(row 4\), which is not a number"),
    (lambda n: ["0.5"] * n, "is not a number"),
    (lambda n: [0.1, np.inf] + [0.2] * (n - 2), "infinite"),
    (lambda n: np.arange(n) % 2, "booleans"),
])
def test_a_bad_numeric_colouring_is_refused(values, message):
    points, _ = make_points(5)
    column = values(len(points))
    points["novelty"] = (column.astype(bool) if message == "booleans" else column) \
        if isinstance(column, np.ndarray) else pd.Series(column, dtype=object)
    with pytest.raises(ValueError, match=message):
        galaxy_map(points, ["label", "novelty"], numeric=["novelty"])
    galaxy_map(points, ["label", "novelty"])  # as categories it is fine


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"numeric": ["score"]}, r"numeric names \['score'\], which are not among the colourings"),
    ({"numeric": "novelty"}, "numeric must be a list"),
    ({"numeric": ["novelty"], "palettes": {"novelty": {"a": "#000000"}}}, "list of at least 2"),
    ({"numeric": ["novelty"], "palettes": {"novelty": ["#000000"]}}, "list of at least 2"),
    ({"palettes": {"label": ["#000000", "#ffffff"]}}, r"palettes\['label'\] must be a dict"),
    ({"selection_thumbnails": -1}, "selection_thumbnails"),
    ({"selection_thumbnails": 2.5}, "selection_thumbnails"),
])
def test_bad_numeric_or_selection_arguments(kwargs, message):
    points, _ = make_points(5)
    points["novelty"] = np.linspace(0, 1, 5)
    points["score"] = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match=message):
        galaxy_map(points, ["label", "novelty"], **kwargs)


# --- bad input -----------------------------------------------------------------------------

def test_missing_column_is_named():
    points, _ = make_points(5)
    with pytest.raises(ValueError, match="'UMAP clusters'"):
        galaxy_map(points, ["label", "UMAP clusters"])
    with pytest.raises(ValueError, match="'GalaxyID'"):
        galaxy_map(points.drop(columns="GalaxyID"), ["label"])


def test_wrong_number_of_thumbnails_is_explained():
    points, images = make_points(5)
    with pytest.raises(ValueError, match="thumbnails has 4 entries but points has 5 rows"):
        galaxy_map(points, ["label"], thumbnail_uris(images[:4]))
    with pytest.raises(ValueError, match="not a 'data:image/...' URI"):
        galaxy_map(points, ["label"], ["x.png"] * 5)


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: (p.iloc[:0], ["label"], {}), "empty"),
    (lambda p: (p.assign(x=np.nan), ["label"], {}), "'x' has 5 value"),
    (lambda p: (p, [], {}), "non-empty list"),
    (lambda p: (p, "label", {}), "non-empty list"),
    (lambda p: (p, ["label", "label"], {}), "more than once"),
    (lambda p: (p, ["label"], {"palettes": {"kmeans": {}}}), "'kmeans'"),
])
def test_other_bad_input(change, message):
    points, _ = make_points(5)
    frame, colourings, kwargs = change(points)
    with pytest.raises(ValueError, match=message):
        galaxy_map(frame, colourings, **kwargs)


def test_bad_element_id():
    points, _ = make_points(5)
    layout = galaxy_map(points, ["label"])
    for bad in ("1map", "my map", 'x"><script>', ""):
        with pytest.raises(ValueError, match="element_id"):
            map_html(layout, element_id=bad)
