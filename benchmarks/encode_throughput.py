"""Question: how many images and texts per second do the encoders embed on CPU, by batch size?

Measured side by side in one process, end to end through the public `Encoder` API
(`encode_images` includes decoding/copying the PIL input and each backend's own preprocessing;
`encode_texts` includes tokenisation), for batch sizes 1, 32 and 256:

* the built-in model (`load_encoder()`), skipped with the reason when its checkpoint is missing;
* a tiny randomly initialised open_clip ViT (image 64 px, width 64, 2 layers; text width 64,
  2 layers) built here, saved in open_clip's local layout and loaded through `load_encoder(path)`,
  so the numbers show the backend's overhead on a model whose compute is negligible.

Ratios: each row's throughput against the same model at batch size 1. The thread count is whatever
torch uses on this machine (set OMP_NUM_THREADS to pin it); it is written into the JSON.
Run: python benchmarks/encode_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import print_table, write_json
from condsim.encoders import Encoder, load_encoder
from condsim.errors import ModelLoadError

BATCH_SIZES = (1, 32, 256)
TINY_OPENCLIP_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
CAPTION_PARTS = (
    ("a photo of", "an image showing", "a rendering of", "a picture with"),
    ("one", "two", "three", "seven"),
    ("red", "crimson", "teal", "yellow", "purple"),
    ("spheres", "cubes", "cones", "stars", "tori"),
    ("on a grey floor", "with checkered texture", "in soft light", ""),
)


def make_images(count: int, rng: np.random.Generator) -> list[Image.Image]:
    """`count` 128x128 RGB images: a noisy background with one flat-coloured rectangle."""
    images = []
    for _ in range(count):
        pixels = rng.integers(0, 60, (128, 128, 3), dtype=np.uint8)
        top, left = rng.integers(0, 64, size=2)
        pixels[top : top + 48, left : left + 48] = rng.integers(0, 256, 3, dtype=np.uint8)
        images.append(Image.fromarray(pixels))
    return images


def make_texts(count: int, rng: np.random.Generator) -> list[str]:
    """`count` alt-text-like captions of different lengths."""
    return [" ".join(str(rng.choice(part)) for part in CAPTION_PARTS).strip() for _ in range(count)]


def build_tiny_openclip(folder: Path) -> Path:
    """Save a randomly initialised tiny open_clip CLIP in the open_clip_config.json + safetensors layout."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_OPENCLIP_CFG)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_OPENCLIP_CFG}))
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


def items_per_second(run: Callable[[], object], count: int, repeats: int) -> float:
    """Median throughput of `repeats` timed runs, after one untimed warm-up run."""
    run()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return count / statistics.median(timings)


def measure(
    label: str,
    encoder: Encoder,
    images: list[Image.Image],
    texts: list[str],
    counts: dict[int, int],
    repeats: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for batch_size in BATCH_SIZES:
        count = counts[batch_size]
        image_rate = items_per_second(
            partial(encoder.encode_images, images[:count], batch_size=batch_size), count, repeats
        )
        text_rate = items_per_second(
            partial(encoder.encode_texts, texts[:count], batch_size=batch_size), count, repeats
        )
        rows.append(
            {
                "model": label,
                "model_id": encoder.model_id,
                "batch": batch_size,
                "items": count,
                "images/s": image_rate,
                "texts/s": text_rate,
            }
        )
    for row in rows:
        row["images/s vs batch 1"] = row["images/s"] / rows[0]["images/s"]
        row["texts/s vs batch 1"] = row["texts/s"] / rows[0]["texts/s"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer items and one timed repeat")
    args = parser.parse_args()
    counts = {1: 16, 32: 64, 256: 256} if args.quick else {1: 64, 32: 256, 256: 1024}
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(0)
    total = max(counts.values())
    images, texts = make_images(total, rng), make_texts(total, rng)

    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    try:
        builtin = load_encoder()
    except ModelLoadError as error:
        skipped["builtin"] = f"{error} ({error.hint})" if error.hint else str(error)
        print(f"built-in model missing, row skipped: {skipped['builtin']}")
    else:
        rows += measure("builtin", builtin, images, texts, counts, repeats)

    with tempfile.TemporaryDirectory() as folder:
        tiny = load_encoder(str(build_tiny_openclip(Path(folder))))
        rows += measure("tiny open_clip", tiny, images, texts, counts, repeats)

    print_table(f"Encoder throughput on CPU ({torch.get_num_threads()} torch threads)", rows)
    path = write_json(
        "encode_throughput",
        {
            "quick": args.quick,
            "torch_threads": torch.get_num_threads(),
            "repeats": repeats,
            "image_size": [128, 128],
            "tiny_openclip_config": TINY_OPENCLIP_CFG,
            "skipped": skipped,
            "rows": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
