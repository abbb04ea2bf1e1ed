"""The charts of `condsim bench`, drawn with PIL (no plotting dependency): grouped bars for the
retrieval / multi-condition / clustering tables and line panels for the sensitivity sweeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

_PALETTE = [
    (90, 90, 90), (214, 39, 40), (255, 127, 14), (188, 189, 34), (44, 160, 44), (23, 190, 207),
    (31, 119, 180), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
]  # fmt: skip


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def bar_chart(
    title: str,
    groups: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    y_max: float = 100.0,
    y_label: str = "%",
) -> Path:
    """Grouped bar chart: one group per key of `groups`, one coloured bar per series inside it."""
    series = list(dict.fromkeys(s for values in groups.values() for s in values))
    colors = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(series)}
    bar, gap, left, top, bottom = 14, 26, 60, 50, 40
    legend_width = 170
    plot_height = 300
    width = left + len(groups) * (len(series) * bar + gap) + gap + legend_width
    height = top + plot_height + bottom
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 14), title, fill="black", font=_font(16))
    axis_bottom = top + plot_height
    for tick in range(0, 101, 20):
        y = axis_bottom - tick / 100 * plot_height
        draw.line([(left, y), (width - legend_width, y)], fill=(225, 225, 225))
        draw.text((8, y - 7), f"{tick / 100 * y_max:g}{y_label}", fill="black", font=_font(11))
    x = left + gap
    for group, values in groups.items():
        for name in series:
            value = values.get(name)
            if value is not None:
                clipped = max(0.0, min(float(value), y_max))
                y = axis_bottom - clipped / y_max * plot_height
                draw.rectangle([x, y, x + bar - 2, axis_bottom], fill=colors[name])
            x += bar
        draw.text(
            (x - len(series) * bar / 2, axis_bottom + 8), group, fill="black", font=_font(12), anchor="ma"
        )
        x += gap
    draw.line([(left, axis_bottom), (width - legend_width, axis_bottom)], fill="black")
    legend_x = width - legend_width + 10
    for index, name in enumerate(series):
        y = top + index * 18
        draw.rectangle([legend_x, y, legend_x + 12, y + 12], fill=colors[name])
        draw.text((legend_x + 18, y - 1), name, fill="black", font=_font(12))
    path = Path(path)
    image.save(path)
    return path


_PANEL_WIDTH, _PANEL_HEIGHT, _MARGIN, _PANEL_TOP = 260, 220, 46, 50


def _draw_panel(
    draw: ImageDraw.ImageDraw,
    left: int,
    title: str,
    series: Mapping[str, Mapping[str, float]],
    colors: Mapping[str, tuple[int, int, int]],
    marks: Sequence[str],
) -> None:
    """One line chart of `line_panels` with its left edge at `left`."""
    labels = list(dict.fromkeys(x for points in series.values() for x in points))
    values = [y for points in series.values() for y in points.values()]
    if not labels or not values:
        return
    pad = max(1.0, (max(values) - min(values)) * 0.1)
    low, high = min(values) - pad, max(values) + pad
    top, bottom = _PANEL_TOP, _PANEL_TOP + _PANEL_HEIGHT
    step = _PANEL_WIDTH / len(labels)

    def position(label: str, value: float) -> tuple[float, float]:
        return left + step * (labels.index(label) + 0.5), bottom - (value - low) / (
            high - low
        ) * _PANEL_HEIGHT

    draw.rectangle([left, top, left + _PANEL_WIDTH, bottom], outline=(180, 180, 180))
    draw.text((left, top - 16), title, fill="black", font=_font(12))
    for tick in range(5):
        value = low + (high - low) * tick / 4
        draw.text(
            (left - 40, position(labels[0], value)[1] - 6), f"{value:.1f}", fill="black", font=_font(10)
        )
    for label in labels:
        draw.text((position(label, low)[0], bottom + 6), label, fill="black", font=_font(11), anchor="ma")
    for name, points in series.items():
        coordinates = [position(label, points[label]) for label in labels if label in points]
        if len(coordinates) > 1:
            draw.line(coordinates, fill=colors[name], width=2)
        for x, y in coordinates:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colors[name])
    for label in marks:
        for points in series.values():
            if label in points:
                x, y = position(label, points[label])
                draw.ellipse([x - 7, y - 7, x + 7, y + 7], outline="black", width=2)


def line_panels(
    title: str,
    panels: Mapping[str, Mapping[str, Mapping[str, float]]],
    path: str | Path,
    *,
    marks: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Small line charts side by side: ``panels[panel][series][x] = y`` (x labels in order, y in %).

    Each panel gets its own y range (the swing is what matters); ``marks[panel]`` lists x labels to
    ring (e.g. the value chosen on validation).
    """
    width = max(_MARGIN + len(panels) * (_PANEL_WIDTH + _MARGIN), 400)
    height = _PANEL_TOP + _PANEL_HEIGHT + 70
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((_MARGIN, 12), title, fill="black", font=_font(16))
    names = list(dict.fromkeys(name for panel in panels.values() for name in panel))
    colors = {name: _PALETTE[(index * 3 + 1) % len(_PALETTE)] for index, name in enumerate(names)}
    for index, (panel, series) in enumerate(panels.items()):
        left = _MARGIN + index * (_PANEL_WIDTH + _MARGIN)
        _draw_panel(draw, left, panel, series, colors, (marks or {}).get(panel, ()))
    for index, name in enumerate(names):
        x = _MARGIN + index * 170
        draw.rectangle([x, height - 26, x + 12, height - 14], fill=colors[name])
        draw.text((x + 18, height - 27), name, fill="black", font=_font(12))
    path = Path(path)
    image.save(path)
    return path
