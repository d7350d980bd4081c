"""An interactive galaxy map (Bokeh) that works in a static HTML page: no server, no internet.

The map is a scatter of the 2-d embedding (t-SNE, UMAP, ...) in which every point is a galaxy.
A drop-down switches the colouring between several columns: categorical ones (the Galaxy Zoo
label, the clusters of each method), with a legend that follows the current colouring, and
numeric ones (e.g. a novelty score, named in ``numeric=``), drawn with a continuous colour map
(Viridis) and a colour bar from low to high. Hovering over a point shows the galaxy's image, its
ID, its label and its value in every colouring.

The map is also a selection tool: the lasso and box select tools of the toolbar select galaxies
(Shift adds to the selection, Ctrl intersects, both subtract), a panel below the plot says how
many are selected and shows their thumbnails and IDs (the first 60; ``selection_thumbnails=``),
and a button downloads the selected IDs as ``selected_galaxies.csv`` (a ``GalaxyID`` header,
then one ID per line in the order of the points). Everything runs in the browser (``CustomJS``),
so the map works in the rendered book.

In a notebook cell::

    from IPython.display import HTML
    from helpers.book.interactive import galaxy_map, map_html, thumbnail_uris
    from helpers.book.plots import LABEL_COLORS

    points = pd.DataFrame({"x": emb[:, 0], "y": emb[:, 1], "GalaxyID": ids, "label": labels,
                           "k-means k=8 (PCA-7)": km, "HDBSCAN (t-SNE)": hdb,
                           "novelty": scores})
    layout = galaxy_map(points, ["label", "k-means k=8 (PCA-7)", "HDBSCAN (t-SNE)", "novelty"],
                        thumbnail_uris(images, size=48), palettes={"label": LABEL_COLORS},
                        numeric=["novelty"], title="t-SNE of the ResNet34 features")
    HTML(map_html(layout))

:func:`map_html` is deterministic: the same inputs give the same bytes in any process, so the
output can be committed in a notebook. By default it writes BokehJS itself (inline, about
1.6 MB), so the fragment works anywhere; ``map_html(layout, bokehjs="book")`` leaves it out for a
page of the Jupyter Book, where the ``helpers.book.sphinx_maps`` extension (``_config.yml``) serves
BokehJS from the book's ``_static`` folder to the pages that hold a map, and to no others.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas and bokeh are imported when used: importing this module stays fast
    from collections.abc import Sequence

    import pandas as pd

__all__ = ["NOISE_COLOR", "MISSING", "SELECTION_CSV", "bokehjs_files", "galaxy_map", "map_html", "study_map", "thumbnail_uris"]

#: Colour of the noise cluster (HDBSCAN/DBSCAN's ``-1``, or a category named "noise").
NOISE_COLOR = "#c8c8c8"
#: Colour of a category that a caller's palette does not name.
UNKNOWN_COLOR = "#999999"
#: The category shown for a missing value (NaN/None).
MISSING = "n/a"
_NOISE = {"-1", "noise", MISSING}


def _is_noise(category: str) -> bool:
    return category.strip().lower() in _NOISE


_REQUIRED = ("x", "y", "GalaxyID")
_FORMATS = {"webp": "WEBP", "jpeg": "JPEG"}
#: Attribute that marks a map whose page must load BokehJS (read by helpers.book.sphinx_maps).
BOOK_MARKER = 'data-bokehjs="book"'
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def thumbnail_uris(images: np.ndarray, size: int = 48, quality: int = 80,
                   format: str = "webp") -> list[str]:  # noqa: A002 (Pillow's name)
    """``data:`` URIs of ``size`` x ``size`` thumbnails, one per image (deterministic bytes).

    ``images`` is a uint8 array (N, H, W, 3), e.g. the galaxy cutouts; each is resized with
    Pillow (Lanczos) and encoded as WebP (default: a 48 px galaxy is about 240 bytes, a quarter
    of a JPEG of the same look, whose headers alone take 600) or as a baseline ``"jpeg"``.

    >>> uris = thumbnail_uris(np.zeros((2, 64, 64, 3), np.uint8), size=16)
    >>> len(uris), uris[0][:23]
    (2, 'data:image/webp;base64,')
    """
    from PIL import Image

    from helpers.data.images import resize

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be an array of shape (N, H, W, 3), got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0-255), got dtype {images.dtype}")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer) \
            or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an integer from 1 to 95, got {quality!r}")
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {sorted(_FORMATS)}, got {format!r}")
    options = ({"quality": int(quality), "method": 6} if format == "webp" else
               {"quality": int(quality), "optimize": False, "progressive": False})
    uris = []
    for image in images:
        thumb = Image.fromarray(resize(image, int(size), "lanczos"), "RGB")
        buffer = io.BytesIO()
        thumb.save(buffer, format=_FORMATS[format], **options)
        uris.append(f"data:image/{format};base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return uris


def _as_categories(values: pd.Series) -> list[str]:
    """Category strings of a column: integral floats lose their '.0', missing values are 'n/a'."""
    import pandas as pd

    out = []
    for value in values.astype(object):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            out.append(MISSING)
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            out.append(str(int(value)))
        else:
            out.append(str(value))
    return out


def _category_order(column: pd.Series, categories: list[str],
                    palette: dict[str, str] | None) -> list[str]:
    """Legend order: the palette's order, else a categorical dtype's, else numbers numerically."""
    import pandas as pd

    present = list(dict.fromkeys(categories))
    if palette:
        preferred = [str(k) for k in palette]
    elif isinstance(column.dtype, pd.CategoricalDtype):
        preferred = _as_categories(column.cat.categories.to_series())
    else:
        preferred = []

    def key(cat: str) -> tuple:
        if _is_noise(cat):
            return (3, cat)
        if cat in preferred:
            return (0, preferred.index(cat))
        try:
            return (1, float(cat), cat)
        except ValueError:
            return (2, cat)

    return sorted(present, key=key)


def _auto_palette(n: int) -> list[str]:
    """``n`` distinct colours: Category10, then Category20(+b, c), without their greys."""
    from bokeh.palettes import Category10_10, Category20_20, Category20b_20, Category20c_20

    greys = {"#7f7f7f", "#c7c7c7"}
    if n <= 9:
        colours = [c for c in Category10_10 if c not in greys]
    else:
        colours = [c for c in Category20_20 if c not in greys]
        if n > len(colours):
            colours += list(Category20b_20) + list(Category20c_20)
    return [colours[i % len(colours)] for i in range(n)]


def _colours(order: list[str], palette: dict[str, str] | None) -> dict[str, str]:
    """Colour of every category: the caller's palette, else the automatic one; noise grey."""
    if palette:
        given = {str(k): v for k, v in palette.items()}
        return {c: given.get(c, NOISE_COLOR if _is_noise(c) else UNKNOWN_COLOR) for c in order}
    ordinary = [c for c in order if not _is_noise(c)]
    colours = dict(zip(ordinary, _auto_palette(len(ordinary)), strict=True))
    return {c: colours.get(c, NOISE_COLOR) for c in order}


def _numeric_values(column: pd.Series, name: str) -> np.ndarray:
    """The values of a numeric colouring as floats (NaN where missing); a clear error otherwise."""
    import numbers

    import pandas as pd

    if pd.api.types.is_bool_dtype(column.dtype):
        raise ValueError(f"numeric colouring {name!r} holds booleans: give numbers (e.g. a "
                         "novelty score), or leave it out of numeric= to colour it by category")
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=float, na_value=np.nan)
    else:
        values = np.empty(len(column), dtype=float)
        for row, value in enumerate(column.astype(object)):
            if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
                values[row] = float(value)
            elif value is None or value is pd.NA or value is pd.NaT:
                values[row] = np.nan
            else:
                raise ValueError(f"numeric colouring {name!r} holds {value!r} (row {row}), which "
                                 "is not a number: a numeric colouring needs numbers or missing "
                                 "values only (or leave it out of numeric= to colour it by category)")
    if np.isinf(values).any():
        raise ValueError(f"numeric colouring {name!r} has {int(np.isinf(values).sum())} infinite "
                         "value(s): give finite numbers (or NaN for a missing one)")
    if np.isnan(values).all():
        raise ValueError(f"numeric colouring {name!r} has no values (all {len(values)} are "
                         "missing): there is nothing to colour by")
    return values


def _numeric_colours(values: np.ndarray, palette: list[str]) -> tuple[list[str], float, float]:
    """Colours of ``values`` as BokehJS's ``LinearColorMapper`` gives them; its low and high.

    The arithmetic is BokehJS's (``value_to_index``), so the points match the colour bar.
    Missing values get :data:`NOISE_COLOR`.
    """
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if high == low:  # a constant column: the middle of the colour map
        low, high = low - 0.5, high + 0.5
    n = len(palette)
    norm_factor, normed_interval = 1.0 / (high - low), 1.0 / n
    with np.errstate(invalid="ignore"):
        index = np.floor(((values - low) * norm_factor) / normed_interval)
    index = np.where(values == high, n - 1, index)
    colours = [NOISE_COLOR if np.isnan(v) else palette[int(min(max(i, 0), n - 1))]
               for v, i in zip(values, index, strict=True)]
    return colours, low, high


def _format_number(value: float) -> str:
    return MISSING if np.isnan(value) else format(float(value), ".4g")


def _check_points(points: pd.DataFrame, colourings: list[str], thumbnails: list[str] | None,
                  palettes: dict[str, Any] | None, numeric: Sequence[str] = (),
                  selection_thumbnails: int = 60) -> None:
    import pandas as pd

    if not isinstance(points, pd.DataFrame):
        raise ValueError(f"points must be a pandas DataFrame, got {type(points).__name__}")
    if isinstance(colourings, str) or not colourings:
        raise ValueError("colourings must be a non-empty list of column names, e.g. ['label']")
    duplicated = sorted({c for c in colourings if list(colourings).count(c) > 1})
    if duplicated:
        raise ValueError(f"colourings names {duplicated} more than once")
    missing = [c for c in (*_REQUIRED, *colourings) if c not in points.columns]
    if missing:
        raise ValueError(f"points has no column {missing[0]!r} (missing: {missing}); "
                         f"its columns are {list(points.columns)}")
    if len(points) == 0:
        raise ValueError("points is empty: there is nothing to map")
    for axis in ("x", "y"):
        values = pd.to_numeric(points[axis], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise ValueError(f"column {axis!r} has {bad} value(s) that are not finite numbers")
    if thumbnails is not None:
        if isinstance(thumbnails, str) or len(thumbnails) != len(points):
            count = 1 if isinstance(thumbnails, str) else len(thumbnails)
            raise ValueError(f"thumbnails has {count} entries but points has {len(points)} rows: "
                             "give one thumbnail per point, in the same order")
        bad = [i for i, t in enumerate(thumbnails)
               if not (isinstance(t, str) and t.startswith("data:image/"))]
        if bad:
            raise ValueError(f"thumbnails[{bad[0]}] is not a 'data:image/...' URI "
                             "(make them with thumbnail_uris)")
    stray = sorted(set(palettes or {}) - set(colourings))
    if stray:
        raise ValueError(f"palettes names {stray}, which are not among the colourings {colourings}")
    if isinstance(numeric, str):
        raise ValueError(f"numeric must be a list of column names, e.g. [{numeric!r}], not a string")
    stray = sorted(set(numeric) - set(colourings))
    if stray:
        raise ValueError(f"numeric names {stray}, which are not among the colourings {colourings}: "
                         "add them to colourings too")
    for name, palette in (palettes or {}).items():
        if name in numeric:
            if isinstance(palette, str | dict) or len(palette) < 2 \
                    or not all(isinstance(c, str) for c in palette):
                raise ValueError(f"palettes[{name!r}] is for a numeric colouring: give a list of "
                                 "at least 2 colours from low to high (e.g. "
                                 "bokeh.palettes.Magma256)")
        elif not isinstance(palette, dict):
            raise ValueError(f"palettes[{name!r}] must be a dict category -> colour, got "
                             f"{type(palette).__name__} (a list of colours is for a numeric "
                             "colouring: name the column in numeric=)")
    for name in numeric:
        _numeric_values(points[name], name)
    if isinstance(selection_thumbnails, bool) or not isinstance(selection_thumbnails,
                                                                int | np.integer) \
            or selection_thumbnails < 0:
        raise ValueError("selection_thumbnails must be a number of thumbnails (0 or more), got "
                         f"{selection_thumbnails!r}")


_SWITCH_JS = """
const i = names.indexOf(this.value);
if (i < 0) { return; }
source.data["color"] = source.data["color_" + i];
source.change.emit();
legend.items = items[i];
legend.title = names[i];
legend.visible = bar_of[i] < 0;
for (let j = 0; j < bars.length; j++) { bars[j].visible = bar_of[i] === j; }
"""

# The selection panel: the count, then the thumbnails and IDs of the first `cap` galaxies, in
# the order of the points (the selection tools report indices in no promised order).
_SELECTION_JS = """
const idx = Array.from(source.selected.indices).sort((a, b) => a - b);
const n = idx.length;
const gid = source.data["gid"], img = source.data["img"];
const esc = (s) => String(s).replace(/[&<>"']/g,
    (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
button.disabled = n === 0;
button.label = n === 0 ? empty_label : "Download the " + n + " selected " +
    (n === 1 ? "ID" : "IDs") + " (CSV)";
if (n === 0) { panel.text = empty_html; return; }
const shown = idx.slice(0, cap);
let out = '<div class="gm-selection" data-count="' + n + '" style="' + box_style + '">' +
    '<div class="gm-selection-head"><b><span class="gm-count">' + n + '</span> ' +
    (n === 1 ? "galaxy" : "galaxies") + " selected</b>";
if (shown.length < n) {
    out += ' <span class="gm-shown">(the first ' + shown.length + " shown)</span>";
}
out += '</div><div class="gm-thumbs" style="' + grid_style + '">';
for (const i of shown) {
    const id = esc(gid[i]);
    out += '<figure class="gm-sel" data-gid="' + id + '" style="' + item_style + '">';
    if (img) {
        out += '<img src="' + esc(img[i]) + '" width="48" height="48" alt="galaxy ' + id +
            '" style="width:48px;height:48px;border:1px solid #ccc">';
    }
    out += '<figcaption>' + id + "</figcaption></figure>";
}
panel.text = out + "</div></div>";
"""

# The download: a CSV of the selected IDs (a GalaxyID header, one ID per line, in the order of
# the points), made in the browser and saved through a temporary <a download>.
_DOWNLOAD_JS = """
const idx = Array.from(source.selected.indices).sort((a, b) => a - b);
if (idx.length === 0) { panel.text = empty_html; return; }
const gid = source.data["gid"];
const field = (v) => /[",\\r\\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"'
                                              : String(v);
const lines = ["GalaxyID"].concat(idx.map((i) => field(gid[i])));
const blob = new Blob([lines.join("\\n") + "\\n"], {type: "text/csv"});
const url = URL.createObjectURL(blob);
const a = document.createElement("a");
a.href = url;
a.download = filename;
a.style.display = "none";
document.body.appendChild(a);
a.click();
a.remove();
setTimeout(() => URL.revokeObjectURL(url), 10000);
"""

#: The name of the downloaded CSV of the selected galaxies' IDs.
SELECTION_CSV = "selected_galaxies.csv"
_EMPTY_LABEL = "Download the selected IDs (CSV)"
_BOX_STYLE = "font-size:12px;line-height:1.35"
_EMPTY_HTML = (f'<div class="gm-selection" data-count="0" style="{_BOX_STYLE}">'
               '<span class="gm-count" style="display:none">0</span>'
               "<i>No galaxy selected.</i> Choose the lasso or the box select tool in the toolbar "
               "above the plot and draw around some points (Shift adds to the selection); their "
               "images and IDs appear here, and the button above downloads the IDs.</div>")


def galaxy_map(points: pd.DataFrame, colourings: list[str], thumbnails: list[str] | None = None,
               *, palettes: dict[str, Any] | None = None, title: str = "",
               width: int = 700, height: int = 600, numeric: Sequence[str] = (),
               selection: bool = True, selection_thumbnails: int = 60):
    """A Bokeh layout: a scatter of ``points`` whose colouring a drop-down switches (no server).

    ``points`` has columns ``x``, ``y``, ``GalaxyID`` and every column named in ``colourings``.
    A colouring is categorical (cluster numbers, labels), unless ``numeric`` names it: then its
    values are numbers (NaN where missing, drawn grey), coloured low to high with Viridis (or
    the list of colours in ``palettes[column]``) and explained by a colour bar. ``thumbnails``
    (from :func:`thumbnail_uris`, one per row) appear in the hover tooltip and the selection
    panel. ``palettes[column]`` maps category -> colour for a categorical colouring; other
    columns get a Category10/20 palette in sorted order, with the noise cluster (``-1``/
    ``noise``) grey.

    With ``selection`` (the default) the toolbar has the lasso and box select tools, and below
    the plot come a button that downloads the selected IDs as ``selected_galaxies.csv`` and a
    panel with the number of selected galaxies and the thumbnails and IDs of the first
    ``selection_thumbnails`` of them; ``selection=False`` gives the map alone.

    >>> import pandas as pd
    >>> pts = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 2.0], "GalaxyID": [7, 8, 9],
    ...                     "label": ["disk: spiral", "uncertain", "disk: spiral"],
    ...                     "HDBSCAN": [0, -1, 0], "novelty": [0.1, 0.9, 0.4]})
    >>> layout = galaxy_map(pts, ["label", "HDBSCAN", "novelty"], numeric=["novelty"])
    >>> [type(child).__name__ for child in layout.children]
    ['Select', 'figure', 'Button', 'Div']
    >>> [type(child).__name__ for child in galaxy_map(pts, ["label"], selection=False).children]
    ['Select', 'figure']
    """
    from bokeh.layouts import column
    from bokeh.models import (
        BoxSelectTool,
        Button,
        ColorBar,
        ColumnDataSource,
        CustomJS,
        Div,
        HoverTool,
        LassoSelectTool,
        Legend,
        LegendItem,
        LinearColorMapper,
        Scatter,
        Select,
    )
    from bokeh.palettes import Viridis256
    from bokeh.plotting import figure

    colourings = list(colourings) if not isinstance(colourings, str) else colourings
    numeric = list(numeric) if not isinstance(numeric, str) else numeric
    _check_points(points, colourings, thumbnails, palettes, numeric, selection_thumbnails)
    palettes = palettes or {}

    data: dict[str, Any] = {
        "x": points["x"].to_numpy(dtype=float),
        "y": points["y"].to_numpy(dtype=float),
        "gid": _as_categories(points["GalaxyID"]),
    }
    if thumbnails is not None:
        data["img"] = list(thumbnails)
    orders, first_rows, mappers = [], [], []
    for i, name in enumerate(colourings):
        if name in numeric:
            values = _numeric_values(points[name], name)
            palette = list(palettes.get(name, Viridis256))
            colours, low, high = _numeric_colours(values, palette)
            data[f"cat_{i}"] = [_format_number(v) for v in values]
            data[f"color_{i}"] = colours
            orders.append([])
            first_rows.append({})
            mappers.append(LinearColorMapper(palette=palette, low=low, high=high,
                                             nan_color=NOISE_COLOR))
            continue
        categories = _as_categories(points[name])
        order = _category_order(points[name], categories, palettes.get(name))
        colours = _colours(order, palettes.get(name))
        data[f"cat_{i}"] = categories
        data[f"color_{i}"] = [colours[c] for c in categories]
        orders.append(order)
        first_rows.append({c: categories.index(c) for c in order})
        mappers.append(None)
    label_column = None
    if "label" in colourings:
        label_column = f"cat_{colourings.index('label')}"
    elif "label" in points.columns:
        data["label"] = _as_categories(points["label"])
        label_column = "label"
    data["color"] = list(data["color_0"])
    source = ColumnDataSource(data)

    plot = figure(width=int(width), height=int(height), title=title or None,
                  tools="pan,wheel_zoom,box_zoom,reset,save", toolbar_location="above",
                  match_aspect=False, x_axis_label="x", y_axis_label="y")
    plot.grid.grid_line_alpha = 0.4
    renderer = plot.scatter("x", "y", source=source, size=7, fill_color="color",
                            line_color="color", fill_alpha=0.8, line_alpha=0.9)
    renderer.hover_glyph = Scatter(x="x", y="y", size=11, fill_color="color", fill_alpha=1.0,
                                   line_color="black", line_width=1.5)
    if selection:
        renderer.selection_glyph = Scatter(x="x", y="y", size=8, fill_color="color",
                                           fill_alpha=0.95, line_color="black", line_width=1.0)
        renderer.nonselection_glyph = Scatter(x="x", y="y", size=7, fill_color="color",
                                              line_color="color", fill_alpha=0.15,
                                              line_alpha=0.2)
        plot.add_tools(BoxSelectTool(renderers=[renderer], continuous=False),
                       LassoSelectTool(renderers=[renderer], continuous=False))

    rows = ['<div class="gm-tooltip" style="display:flex;gap:8px;align-items:flex-start;'
            'max-width:340px;font-size:12px;line-height:1.35">']
    if thumbnails is not None:
        rows.append('<img class="gm-thumb" src="@img" width="96" height="96" alt="galaxy @gid" '
                    'style="width:96px;height:96px;flex:none;border:1px solid #ccc">')
    rows.append('<div><div><b>GalaxyID</b> <span class="gm-gid">@gid</span></div>')
    if label_column is not None:
        rows.append(f"<div><b>label</b> @{{{label_column}}}</div>")
    for i, name in enumerate(colourings):
        if name != "label":
            rows.append(f"<div><b>{html.escape(name)}</b> @{{cat_{i}}}</div>")
    rows.append("</div></div>")
    plot.add_tools(HoverTool(renderers=[renderer], tooltips="".join(rows),
                             point_policy="snap_to_data"))

    items = [[LegendItem(label=("noise (-1)" if c == "-1" else c), renderers=[renderer],
                         index=first[c]) for c in order]
             for order, first in zip(orders, first_rows, strict=True)]
    rows_fit = max(1, (int(height) - 120) // 18)
    legend = Legend(items=items[0], title=colourings[0], location="top_left",
                    label_text_font_size="8pt", title_text_font_size="9pt", glyph_height=14,
                    glyph_width=14, label_height=14, spacing=2, padding=6, nrows=rows_fit,
                    visible=mappers[0] is None)
    plot.add_layout(legend, "right")
    bars, bar_of = [], []
    for i, mapper in enumerate(mappers):
        if mapper is None:
            bar_of.append(-1)
            continue
        bar_of.append(len(bars))
        bar = ColorBar(color_mapper=mapper, title=f"{colourings[i]} (low to high)",
                       visible=i == 0, width=14, label_standoff=6, padding=6,
                       title_text_font_size="9pt", title_text_font_style="bold",
                       major_label_text_font_size="8pt")
        plot.add_layout(bar, "right")
        bars.append(bar)

    select = Select(title="Colour by", value=colourings[0], options=colourings, width=300)
    select.js_on_change("value", CustomJS(
        args={"source": source, "legend": legend, "items": items, "names": colourings,
              "bars": bars, "bar_of": bar_of},
        code=_SWITCH_JS))
    if not selection:
        return column(select, plot)

    button = Button(label=_EMPTY_LABEL, disabled=True, button_type="primary", width=300)
    panel = Div(text=_EMPTY_HTML, width=int(width), disable_math=True)
    styles = {"box_style": _BOX_STYLE,
              "grid_style": "display:flex;flex-wrap:wrap;gap:6px;margin-top:6px;"
                            "max-height:320px;overflow-y:auto",
              "item_style": "margin:0;width:72px;text-align:center;font-size:10px;"
                            "overflow-wrap:anywhere"}
    source.selected.js_on_change("indices", CustomJS(
        args={"source": source, "panel": panel, "button": button,
              "cap": int(selection_thumbnails), "empty_html": _EMPTY_HTML,
              "empty_label": _EMPTY_LABEL, **styles},
        code=_SELECTION_JS))
    button.js_on_click(CustomJS(
        args={"source": source, "panel": panel, "empty_html": _EMPTY_HTML,
              "filename": SELECTION_CSV},
        code=_DOWNLOAD_JS))
    return column(select, plot, button, panel)


def study_map(galaxies: pd.DataFrame, xy: np.ndarray, clusterings: dict[str, np.ndarray],
              shown: Sequence[str], *, novelty: np.ndarray | None = None, map_points: int | None = None,
              thumbnail_size: int = 48, seed: int = 42, title: str = "", width: int = 650):
    """The study's interactive map (chapter 5): every galaxy of ``galaxies`` at ``xy`` (a seeded
    sample of ``map_points`` when given), coloured by its label, by the mock's truth where there
    is one, by each clustering of ``shown``, and by ``novelty`` (a number per galaxy), with its
    picture on hover and the selection tools."""
    import pandas as pd

    from helpers.book.plots import LABEL_COLORS
    from helpers.data.imagecache import load_image_array

    rows = np.arange(len(galaxies))
    if map_points is not None and map_points < len(galaxies):
        rows = np.sort(np.random.default_rng(seed).choice(len(galaxies), map_points, replace=False))
    chosen = galaxies.iloc[rows]
    points = pd.DataFrame({"x": xy[rows, 0], "y": xy[rows, 1], "GalaxyID": chosen["GalaxyID"].to_numpy(),
                           "label": chosen["label"].fillna("no votes").to_numpy()})
    colourings = ["label"]
    if "true_label" in galaxies:
        points["true morphology"] = chosen["true_label"].fillna("unknown").to_numpy()
        colourings.append("true morphology")
    for name in dict.fromkeys(shown):
        points[name] = clusterings[name][rows].astype(str)
        colourings.append(name)
    numeric = []
    if novelty is not None:
        points["novelty"] = np.asarray(novelty, dtype=float)[rows]
        colourings.append("novelty")
        numeric.append("novelty")
    images = load_image_array(chosen["image_path"], size=64, crop=212)
    palettes = {name: LABEL_COLORS for name in colourings if name in ("label", "true morphology")}
    return galaxy_map(points, colourings, thumbnail_uris(images, size=thumbnail_size), palettes=palettes,
                      title=title or f"map of {len(points)} galaxies", width=width, numeric=numeric)


def _renumber_ids(item: dict, prefix: str) -> dict:
    """Give every model a stable id (``<prefix>-1``, ``-2``, ...) in order of appearance.

    Bokeh numbers models with a process-wide counter, so the same plot made after others gets
    other ids; renumbering makes the output depend on the inputs only.
    """
    mapping: dict[str, str] = {}

    def new(old: str) -> str:
        if old not in mapping:
            mapping[old] = f"{prefix}-{len(mapping) + 1}"
        return mapping[old]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "id" and isinstance(value, str):
                    out[key] = new(value)
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list | tuple):  # map entries are (key, value) tuples
            return [walk(v) for v in node]
        return node

    doc = walk(item["doc"])
    return {"target_id": item["target_id"], "root_id": new(item["root_id"]), "doc": doc,
            "version": item["version"]}


def _script_json(obj: Any) -> str:
    """JSON that is safe inside a <script> element (no '<', '>' or '&' characters)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _bundle_script(js: str, guard: str) -> str:
    """A <script> that runs a BokehJS bundle unless ``guard`` says it is already loaded."""
    if "</script" in js.lower():  # would end the <script> element early
        raise RuntimeError("the BokehJS bundle contains '</script': cannot inline it")
    # the function keeps the bundle's strict mode and lets an already loaded BokehJS skip it
    return (f"<script>(function(){{\"use strict\";if({guard}){{return;}}\n{js}\n}})"
            ".call(window);</script>")


def bokehjs_files() -> list[tuple[str, Path]]:
    """BokehJS (core, widgets) of the installed bokeh: ``(name in the book's _static, path)``.

    >>> [name for name, _ in bokehjs_files()][0].startswith("bokeh-")
    True
    """
    import bokeh
    from bokeh.util.paths import bokehjs_path

    folder = Path(bokehjs_path()) / "js"
    return [(f"bokeh-{bokeh.__version__}/{name}", folder / name)
            for name in ("bokeh.min.js", "bokeh-widgets.min.js")]


def map_html(layout, *, element_id: str = "galaxy-map", bokehjs: str = "inline") -> str:
    """A deterministic HTML fragment showing ``layout``.

    Show it in a notebook with ``IPython.display.HTML(map_html(layout))``; the rendered book
    passes it through. The plot's document is embedded as JSON with ids that depend only on
    the inputs and ``element_id``. ``bokehjs``: ``"inline"`` writes BokehJS (core and widgets,
    from the installed bokeh, no CDN; skipped when the page already has this version loaded),
    so the fragment works on its own; ``"book"`` leaves it out (1.6 MB less) and marks the map
    so that the ``helpers.book.sphinx_maps`` Sphinx extension loads BokehJS on that book page.

    >>> import pandas as pd
    >>> pts = pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "GalaxyID": [7, 8],
    ...                     "label": ["disk: spiral", "uncertain"]})
    >>> fragment = map_html(galaxy_map(pts, ["label"]), element_id="demo-map")
    >>> fragment.count('<div id="demo-map"'), fragment == map_html(galaxy_map(pts, ["label"]),
    ...                                                             element_id="demo-map")
    (1, True)
    >>> len(map_html(galaxy_map(pts, ["label"]), bokehjs="book")) < len(fragment) // 50
    True
    """
    import bokeh
    from bokeh.embed import json_item
    from bokeh.resources import Resources

    if not isinstance(element_id, str) or not _ID.fullmatch(element_id):
        raise ValueError(f"element_id must be a letter followed by letters, digits, '-' or '_' "
                         f"(an HTML id), got {element_id!r}")
    if bokehjs not in ("inline", "book"):
        raise ValueError(f"bokehjs must be 'inline' (self-contained) or 'book' (loaded by the "
                         f"helpers.book.sphinx_maps extension), got {bokehjs!r}")
    item = _renumber_ids(json_item(layout, element_id), element_id)
    version = bokeh.__version__
    bokeh_js = f'(window.Bokeh&&window.Bokeh["{version}"])'
    if bokehjs == "inline":
        core, widgets = Resources(mode="inline", components=["bokeh", "bokeh-widgets"]).js_raw[:2]
        parts = [f"<!-- galaxy map: Bokeh {version}, BokehJS inline (no network needed) -->",
                 _bundle_script(core, bokeh_js),
                 _bundle_script(widgets, f"!{bokeh_js}||{bokeh_js}.Widgets"),
                 f'<div id="{element_id}" class="galaxy-map" style="min-height:40px"></div>']
    else:
        parts = [f"<!-- galaxy map: Bokeh {version}, BokehJS from the book (helpers.book.sphinx_maps) -->",
                 f'<div id="{element_id}" class="galaxy-map" {BOOK_MARKER} '
                 'style="min-height:40px"></div>']
    parts += [
        f'<script type="application/json" id="{element_id}-item">{_script_json(item)}</script>',
        "<script>(function(){"
        f'var s=document.currentScript,id="{element_id}";'
        "var data=s&&s.previousElementSibling,el=data&&data.previousElementSibling;"
        'if(!el||el.id!==id){el=document.getElementById(id);'
        'data=document.getElementById(id+"-item");}'
        f'var bk=window.Bokeh&&(window.Bokeh["{version}"]||window.Bokeh);'
        'if(!bk){console.warn("galaxy map: BokehJS did not load");'
        'el.textContent="The interactive map needs BokehJS, which this page did not load.";return;}'
        "if(el.childElementCount){return;}"  # already embedded (the output shown twice)
        "bk.embed.embed_item(JSON.parse(data.textContent),el);"
        "})();</script>",
    ]
    return "\n".join(parts) + "\n"
