"""torchvision must import beside condsim's CPU torch, in a fresh process, once condsim prepared it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json

    import numpy as np
    from PIL import Image

    from condsim.encoders import ensure_torchvision_importable

    ensure_torchvision_importable()
    ensure_torchvision_importable()  # idempotent
    import open_clip
    from transformers import CLIPImageProcessor

    image = Image.fromarray(np.full((40, 60, 3), 200, dtype=np.uint8))
    pixels = open_clip.image_transform(32, is_train=False)(image)
    processed = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)(image, return_tensors="pt")
    print(json.dumps([list(pixels.shape), list(processed["pixel_values"].shape)]))
    """
)


def test_open_clip_and_transformers_image_processing_import_in_a_fresh_process() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    open_clip_shape, transformers_shape = json.loads(completed.stdout.strip().splitlines()[-1])
    assert open_clip_shape == [3, 32, 32]
    assert transformers_shape == [1, 3, 32, 32]
