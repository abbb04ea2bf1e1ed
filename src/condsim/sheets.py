"""Contact sheets: a grid of thumbnails with captions, written as one PNG.

A sheet is how a person checks a conditional query at a glance: the query first (framed in blue),
then the results in rank order, each captioned with its score (and, in the demo, its true labels,
framed green when it matches the query under the condition and red when it does not). `condsim
cluster` writes one sheet per cluster, members ordered by their distance to the cluster centre.

Thumbnails are decoded through `condsim.encoders.load_image` (EXIF orientation, transparency,
decompression-bomb guard); a file that cannot be read becomes a grey tile saying so, so one bad file
never loses a whole sheet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from condsim.encoders.images import load_image
from condsim.errors import ImageLoadError, InvalidInputError

RGB = tuple[int, int, int]

QUERY_BORDER: RGB = (40, 110, 230)
MATCH_BORDER: RGB = (30, 160, 60)
MISMATCH_BORDER: RGB = (210, 40, 40)

_BACKGROUND: RGB = (250, 250, 248)
_TEXT: RGB = (30, 30, 30)
_PLACEHOLDER: RGB = (200, 200, 200)
_PAD = 8
_BORDER = 4
_LINE_HEIGHT_RATIO = 1.25


@dataclass(frozen=True)
class Tile:
    """One cell of a sheet: an image (path or PIL image), caption lines under it, an optional frame."""

    image: str | os.PathLike[str] | Image.Image
    caption: Sequence[str] = ()
    border: RGB | None = None


def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(pixels, 6))


def _thumbnail(source: str | os.PathLike[str] | Image.Image, size: int) -> Image.Image:
    """The image scaled to fit `size`×`size` (aspect kept), centred on the sheet background."""
    cell = Image.new("RGB", (size, size), _BACKGROUND)
    try:
        image = load_image(source)
    except ImageLoadError:
        cell.paste(_PLACEHOLDER, (0, 0, size, size))
        ImageDraw.Draw(cell).text((6, size // 2 - 6), "unreadable", fill=_TEXT, font=_font(12))
        return cell
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    cell.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return cell


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """`text` cut with an ellipsis so it fits in `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def render_sheet(
    tiles: Sequence[Tile], *, title: str = "", columns: int = 6, thumb_size: int = 128
) -> Image.Image:
    """The sheet as a PIL image: `title` on top, then `tiles` row by row, `columns` per row."""
    if not tiles:
        raise InvalidInputError("a contact sheet needs at least one image", hint="pass some results")
    if columns < 1 or thumb_size < 16:
        raise InvalidInputError(
            f"columns={columns} must be >= 1 and thumb_size={thumb_size} >= 16", hint="e.g. columns=6"
        )
    caption_font = _font(max(thumb_size // 11, 9))
    title_font = _font(max(thumb_size // 8, 12))
    caption_lines = max(len(tile.caption) for tile in tiles)
    line_height = round(caption_font.size * _LINE_HEIGHT_RATIO) if hasattr(caption_font, "size") else 12
    title_height = round(title_font.size * 1.6) + _PAD if title and hasattr(title_font, "size") else 0
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    cell_width = thumb_size + 2 * _BORDER
    cell_height = thumb_size + 2 * _BORDER + caption_lines * line_height
    sheet = Image.new(
        "RGB",
        (_PAD + columns * (cell_width + _PAD), _PAD + title_height + rows * (cell_height + _PAD)),
        _BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((_PAD, _PAD), _fit(title, title_font, sheet.width - 2 * _PAD), fill=_TEXT, font=title_font)
    for index, tile in enumerate(tiles):
        left = _PAD + (index % columns) * (cell_width + _PAD)
        top = _PAD + title_height + (index // columns) * (cell_height + _PAD)
        if tile.border is not None:
            draw.rectangle((left, top, left + cell_width - 1, top + cell_width - 1), fill=tile.border)
        sheet.paste(_thumbnail(tile.image, thumb_size), (left + _BORDER, top + _BORDER))
        for line_index, line in enumerate(tile.caption):
            draw.text(
                (left + _BORDER, top + cell_width + line_index * line_height),
                _fit(line, caption_font, cell_width - _BORDER),
                fill=_TEXT,
                font=caption_font,
            )
    return sheet


def save_sheet(
    tiles: Sequence[Tile],
    out: str | os.PathLike[str],
    *,
    title: str = "",
    columns: int = 6,
    thumb_size: int = 128,
) -> Path:
    """Render the sheet and write it as PNG to `out` (parent folders created). Returns the path."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"{path}: contact sheets are written as PNG", hint="name the file *.png")
    sheet = render_sheet(tiles, title=title, columns=columns, thumb_size=thumb_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")
    return path


def results_sheet(
    query: str | os.PathLike[str] | Image.Image,
    results: Sequence[tuple[str, float]],
    out: str | os.PathLike[str],
    *,
    condition: str,
    captions: Sequence[Sequence[str]] | None = None,
    borders: Sequence[RGB | None] | None = None,
    query_caption: Sequence[str] = (),
    columns: int | None = None,
    thumb_size: int = 128,
) -> Path:
    """Query + ranked results with their scores, titled by the condition, written to `out`.

    `columns` defaults to the query and up to 8 results on the first row.

    `results` are (path, score) in rank order; `captions[i]` adds lines under result i (e.g. its true
    labels), `borders[i]` frames it (e.g. `MATCH_BORDER` / `MISMATCH_BORDER`).
    """
    if captions is not None and len(captions) != len(results):
        raise InvalidInputError(f"{len(captions)} captions for {len(results)} results")
    if borders is not None and len(borders) != len(results):
        raise InvalidInputError(f"{len(borders)} borders for {len(results)} results")
    query_name = str(getattr(query, "filename", "")) if isinstance(query, Image.Image) else Path(query).name
    tiles = [Tile(query, ["query", query_name, *query_caption], QUERY_BORDER)]
    for rank, (path, score) in enumerate(results, start=1):
        extra = list(captions[rank - 1]) if captions is not None else []
        border = borders[rank - 1] if borders is not None else None
        tiles.append(Tile(path, [f"#{rank}  {score:.3f}", Path(path).name, *extra], border))
    return save_sheet(
        tiles,
        out,
        title=f"similar by {condition}",
        columns=columns if columns is not None else min(len(tiles), 9),
        thumb_size=thumb_size,
    )


def cluster_sheet(
    paths: Sequence[str],
    out: str | os.PathLike[str],
    *,
    title: str,
    limit: int = 48,
    columns: int = 8,
    thumb_size: int = 96,
) -> Path:
    """The first `limit` members of one cluster (callers order them, e.g. nearest to the centre first)."""
    shown = list(paths[:limit])
    more = len(paths) - len(shown)
    heading = f"{title} ({len(paths)} images{f', first {len(shown)} shown' if more > 0 else ''})"
    tiles = [Tile(path, [Path(path).name]) for path in shown]
    return save_sheet(tiles, out, title=heading, columns=columns, thumb_size=thumb_size)
