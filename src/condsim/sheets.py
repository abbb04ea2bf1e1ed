"""Contact sheets: a grid of thumbnails with captions, written as one PNG.

A sheet is how a person checks a conditional query at a glance: the query first (framed in blue),
then the results in rank order, each captioned with its score and the condition values it matches
(in the demo its true labels, framed green when it matches the query under the condition and red
when it does not; a legend under the title says what each frame colour means). Thumbnails are 256
px (`THUMB_SIZE`), large enough to judge colour, texture and count. `condsim cluster` writes one
sheet per cluster, members ordered by their distance to the cluster centre.

Thumbnails are decoded through `condsim.encoders.load_image` (EXIF orientation, transparency,
decompression-bomb guard); a file that cannot be read becomes a grey tile saying so, so one bad file
never loses a whole sheet. Captions are shown through `condsim._text.printable` (a file name with
control characters or undecodable bytes is drawn escaped). A sheet is written atomically
(`condsim._files.atomic_write`): a path that is a folder, not writable, or a full disk is one
`SheetWriteError` naming the path, and never leaves a partial or empty PNG behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from condsim._files import atomic_write
from condsim._text import printable
from condsim.encoders.images import load_image
from condsim.errors import ImageLoadError, InvalidInputError, SheetWriteError

RGB = tuple[int, int, int]

QUERY_BORDER: RGB = (40, 110, 230)
MATCH_BORDER: RGB = (30, 160, 60)
MISMATCH_BORDER: RGB = (210, 40, 40)
#: what each frame colour means, for the legend of a results sheet
FRAME_MEANINGS: dict[RGB, str] = {
    QUERY_BORDER: "query",
    MATCH_BORDER: "same value as the query",
    MISMATCH_BORDER: "another value than the query",
}
#: thumbnail side in pixels
THUMB_SIZE = 256

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


def placeholder_tile(label: str, size: int) -> Image.Image:
    """The tile drawn instead of an image that cannot be shown: grey, with why ("missing", "unreadable")."""
    cell = Image.new("RGB", (size, size), _BACKGROUND)
    cell.paste(_PLACEHOLDER, (0, 0, size, size))
    ImageDraw.Draw(cell).text((6, size // 2 - 6), label, fill=_TEXT, font=_font(12))
    return cell


def _thumbnail(source: str | os.PathLike[str] | Image.Image, size: int) -> Image.Image:
    """The image scaled to fit `size`×`size` (aspect kept, up or down), centred on the sheet background."""
    cell = Image.new("RGB", (size, size), _BACKGROUND)
    try:
        image = load_image(source)
    except ImageLoadError:
        # a file that is gone (moved, deleted, a dangling link) says so: "unreadable" sends users
        # looking for a damaged file that is not there
        gone = not isinstance(source, Image.Image) and not Path(source).exists()
        return placeholder_tile("missing" if gone else "unreadable", size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)  # large images shrink (fast, in place)
    image = ImageOps.contain(image, (size, size), Image.Resampling.LANCZOS)  # small ones grow to fit
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
    tiles: Sequence[Tile],
    *,
    title: str = "",
    columns: int = 6,
    thumb_size: int = THUMB_SIZE,
    legend: Sequence[tuple[RGB, str]] = (),
) -> Image.Image:
    """The sheet as a PIL image: `title` on top, then a `legend` line (a swatch per frame colour and
    what it means), then `tiles` row by row, `columns` per row."""
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
    legend_top = _PAD + title_height
    legend_height = line_height + _PAD if legend else 0
    title_height += legend_height
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
        heading = _fit(printable(title), title_font, sheet.width - 2 * _PAD)
        draw.text((_PAD, _PAD), heading, fill=_TEXT, font=title_font)
    _draw_legend(draw, legend, caption_font, (_PAD, legend_top), line_height, sheet.width - _PAD)
    for index, tile in enumerate(tiles):
        left = _PAD + (index % columns) * (cell_width + _PAD)
        top = _PAD + title_height + (index // columns) * (cell_height + _PAD)
        if tile.border is not None:
            draw.rectangle((left, top, left + cell_width - 1, top + cell_width - 1), fill=tile.border)
        sheet.paste(_thumbnail(tile.image, thumb_size), (left + _BORDER, top + _BORDER))
        for line_index, line in enumerate(tile.caption):
            draw.text(
                (left + _BORDER, top + cell_width + line_index * line_height),
                _fit(printable(line), caption_font, cell_width - _BORDER),
                fill=_TEXT,
                font=caption_font,
            )
    return sheet


def _draw_legend(
    draw: ImageDraw.ImageDraw,
    legend: Sequence[tuple[RGB, str]],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    origin: tuple[int, int],
    line_height: int,
    right: int,
) -> None:
    """One line of swatches, each followed by what its frame colour means."""
    left, top = origin
    swatch = max(line_height - 4, 6)
    for colour, meaning in legend:
        if left + swatch + font.getlength(meaning) > right:
            break
        draw.rectangle((left, top + 2, left + swatch, top + 2 + swatch), fill=colour)
        draw.text((left + swatch + 6, top), meaning, fill=_TEXT, font=font)
        left += swatch + 6 + round(font.getlength(meaning)) + 3 * _PAD


def _png_path(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(
            f"{printable(path)}: contact sheets are written as PNG", hint="name the file *.png"
        )
    return path


def write_png(image: Image.Image, out: str | os.PathLike[str]) -> Path:
    """Write `image` as PNG to `out` atomically (parent folders created); `SheetWriteError` naming the
    path when it cannot be written (a folder, /proc, no permission, a full disk): no partial file stays."""
    path = _png_path(out)
    if path.is_dir():
        raise SheetWriteError(
            f"cannot write the contact sheet {printable(path)}: it is a folder",
            hint="give a file name, e.g. --sheet results.png",
        )
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            handle.write(encoded.getbuffer())
    except OSError as error:
        raise SheetWriteError(
            f"cannot write the contact sheet {printable(path)}: {error.strerror or error}",
            hint="choose a writable place with free space for --sheet",
        ) from error
    return path


def save_sheet(
    tiles: Sequence[Tile],
    out: str | os.PathLike[str],
    *,
    title: str = "",
    columns: int = 6,
    thumb_size: int = THUMB_SIZE,
    legend: Sequence[tuple[RGB, str]] = (),
) -> Path:
    """Render the sheet and write it as PNG to `out` (see `write_png`). Returns the path."""
    path = _png_path(out)
    sheet = render_sheet(tiles, title=title, columns=columns, thumb_size=thumb_size, legend=legend)
    return write_png(sheet, path)


def result_tiles(
    results: Sequence[tuple[str, float]],
    captions: Sequence[Sequence[str]] | None = None,
    borders: Sequence[RGB | None] | None = None,
) -> list[Tile]:
    """One tile per ranked result: "#rank  score", the file name, then its caption lines and frame."""
    if captions is not None and len(captions) != len(results):
        raise InvalidInputError(f"{len(captions)} captions for {len(results)} results")
    if borders is not None and len(borders) != len(results):
        raise InvalidInputError(f"{len(borders)} borders for {len(results)} results")
    return [
        Tile(
            path,
            [f"#{rank}  {score:.3f}", Path(path).name, *(captions[rank - 1] if captions is not None else ())],
            borders[rank - 1] if borders is not None else None,
        )
        for rank, (path, score) in enumerate(results, start=1)
    ]


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
    thumb_size: int = THUMB_SIZE,
) -> Path:
    """Query + ranked results with their scores, titled by the condition, written to `out`.

    `columns` defaults to the query and up to 8 results on the first row.

    `results` are (path, score) in rank order; `captions[i]` adds lines under result i (e.g. the
    condition values it matches, or its true labels), `borders[i]` frames it (e.g. `MATCH_BORDER` /
    `MISMATCH_BORDER`). The legend names the meaning of every frame colour used (`FRAME_MEANINGS`).
    """
    query_name = str(getattr(query, "filename", "")) if isinstance(query, Image.Image) else Path(query).name
    tiles = [
        Tile(query, ["query", query_name, *query_caption], QUERY_BORDER),
        *result_tiles(results, captions, borders),
    ]
    used = {tile.border for tile in tiles}
    legend = [(colour, meaning) for colour, meaning in FRAME_MEANINGS.items() if colour in used]
    return save_sheet(
        tiles,
        out,
        title=f"similar by {condition}",
        columns=columns if columns is not None else min(len(tiles), 9),
        thumb_size=thumb_size,
        legend=legend,
    )


def cluster_sheet(
    paths: Sequence[str],
    out: str | os.PathLike[str],
    *,
    title: str,
    limit: int = 48,
    columns: int = 8,
    thumb_size: int = THUMB_SIZE,
) -> Path:
    """The first `limit` members of one cluster (callers order them, e.g. nearest to the centre first)."""
    shown = list(paths[:limit])
    more = len(paths) - len(shown)
    heading = f"{title} ({len(paths)} images{f', first {len(shown)} shown' if more > 0 else ''})"
    tiles = [Tile(path, [Path(path).name]) for path in shown]
    return save_sheet(tiles, out, title=heading, columns=columns, thumb_size=thumb_size)
