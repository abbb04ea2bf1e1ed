"""Question: how well does `condsim duplicates` find planted duplicates, transform by transform?

Rendered scenes (the built-in model's domain) are indexed with the built-in model; some of them are
planted again as seven versions that show the same picture: a byte copy, a symbolic link, a 3/4
resize, a JPEG re-encode (quality 85), pixels turned 90° with the EXIF tag that turns them back, a
CMYK JPEG and a WebP. `find_duplicates` then runs with its defaults, as `condsim duplicates` does.

Counted over pairs: a pair is found when both images sit in one group. Per transform, recall is the
share of (original, version) pairs found; precision is the share of found pairs holding a version of
that transform whose other image shows the same picture (its original or another of its versions).
The last row counts every found pair, distinct scenes included. Also checked: no group presents a
symbolic link as its first image while its target is in the group.

Run: python benchmarks/duplicates_quality.py [--quick]  (writes benchmarks/results/duplicates_quality.json)
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json
from condsim.collection import Collection, index_folder
from condsim.collection.duplicates import DEFAULT_THRESHOLD, find_duplicates
from condsim.data.scenes import render_scene, scene_spec_at
from condsim.encoders import load_encoder

SEED = 2026
EXIF_ORIENTATION = 0x0112


def _copy(original: Path, image: Image.Image, out: Path) -> None:
    shutil.copyfile(original, out)


def _link(original: Path, image: Image.Image, out: Path) -> None:
    out.symlink_to(original.name)


def _resize(original: Path, image: Image.Image, out: Path) -> None:
    image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS).save(out)


def _jpeg(original: Path, image: Image.Image, out: Path) -> None:
    image.save(out, quality=85)


def _exif_rotate(original: Path, image: Image.Image, out: Path) -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # "turn 90° clockwise to display": the stored pixels are turned back
    image.transpose(Image.Transpose.ROTATE_90).save(out, quality=95, exif=exif)


def _cmyk(original: Path, image: Image.Image, out: Path) -> None:
    image.convert("CMYK").save(out, quality=95)


def _webp(original: Path, image: Image.Image, out: Path) -> None:
    image.save(out, quality=90)


#: transform name -> (file suffix, writer of the version next to its original)
TRANSFORMS: dict[str, tuple[str, Callable[[Path, Image.Image, Path], None]]] = {
    "copy": ("_copy.png", _copy),
    "symlink": ("+link.png", _link),  # indexed before its target: the target must still lead
    "resize 3/4": ("_small.png", _resize),
    "JPEG q85": ("_q85.jpg", _jpeg),
    "EXIF rotate": ("_exif.jpg", _exif_rotate),
    "CMYK": ("_cmyk.jpg", _cmyk),
    "WebP": ("_w.webp", _webp),
}


def plant(images: Path, distinct: int, planted: int) -> dict[str, tuple[str, str]]:
    """Render `distinct` scenes into `images`, and every version of the first `planted`; returns
    file name -> (original's name, transform or "original")."""
    truth: dict[str, tuple[str, str]] = {}
    for index in range(distinct):
        original = images / f"s{index:04d}.png"
        render_scene(scene_spec_at(SEED, index), 128).save(original)
        truth[original.name] = (original.name, "original")
        if index >= planted:
            continue
        with Image.open(original) as opened:
            image = opened.convert("RGB")
        for transform, (suffix, write) in TRANSFORMS.items():
            version = images / f"{original.stem}{suffix}"
            write(original, image, version)
            truth[version.name] = (original.name, transform)
    return truth


def measure(distinct: int, planted: int) -> dict[str, Any]:
    """Plant, index with the built-in model, find duplicates; precision and recall per transform."""
    with tempfile.TemporaryDirectory(prefix="condsim-duplicates-") as folder:
        images = Path(folder) / "images"
        images.mkdir()
        truth = plant(images, distinct, planted)
        encoder = load_encoder(None)
        started = time.perf_counter()
        index_folder(images, Path(folder) / "store", encoder, show_progress=False)
        indexed_s = time.perf_counter() - started
        with Collection.open(Path(folder) / "store", encoder) as collection:
            started = time.perf_counter()
            groups = find_duplicates(collection)
            found_s = time.perf_counter() - started
        led_by_link = sum(
            Path(group.members[0].path).is_symlink()
            and any(not Path(member.path).is_symlink() for member in group.members)
            for group in groups
        )
    found = {
        frozenset((first.relpath, second.relpath))
        for group in groups
        for first, second in itertools.combinations(group.members, 2)
    }
    rows: list[dict[str, Any]] = []
    for transform in [*TRANSFORMS, "all pairs"]:
        expected = {
            frozenset((original, name))
            for name, (original, made_by) in truth.items()
            if made_by == transform or (transform == "all pairs" and made_by != "original")
        }
        involved = (
            found
            if transform == "all pairs"
            else {pair for pair in found if any(truth[name][1] == transform for name in pair)}
        )
        right = {pair for pair in involved if len({truth[name][0] for name in pair}) == 1}
        rows.append(
            {
                "transform": transform,
                "planted pairs": len(expected),
                "found": len(expected & found),
                "recall": len(expected & found) / len(expected),
                "precision": len(right) / len(involved) if involved else 1.0,
            }
        )
    return {
        "images": len(truth),
        "distinct scenes": distinct,
        "planted originals": planted,
        "threshold": DEFAULT_THRESHOLD,
        "groups": len(groups),
        "groups led by a symlink": led_by_link,
        "index_s": round(indexed_s, 2),
        "find_s": round(found_s, 3),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 scenes, 8 planted (a minute on one CPU)")
    arguments = parser.parse_args()
    distinct, planted = (60, 8) if arguments.quick else (400, 30)
    result = measure(distinct, planted)
    print_table(
        f"Planted duplicates: {result['images']} images, built-in model, threshold {result['threshold']}"
        f" ({result['groups']} groups, {result['groups led by a symlink']} led by a symlink)",
        result["rows"],
    )
    path = write_json("duplicates_quality", {"quick": arguments.quick, **result})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
