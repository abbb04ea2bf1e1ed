"""Make ``import torchvision`` work beside a CPU-only torch whose torchvision ops cannot load.

open_clip (its transforms) and transformers (its fast image processors) import torchvision. The
torchvision wheels on PyPI are CUDA builds: beside the CPU torch wheel condsim installs, their
compiled ops (``torchvision/_C``) fail to load for want of ``libtorch_cuda``. torchvision itself
is written to run without those ops (image transforms are pure torch), but its import registers
fake kernels for ``torchvision::nms`` and ``torchvision::qnms`` unconditionally, and that raises
``RuntimeError: operator torchvision::nms does not exist``. Declaring the two operator schemas
first lets the import finish; calling them then fails as torchvision's own "Couldn't load custom
C++ ops" would. Where the ops load (a matching torch/torchvision pair) nothing is declared.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

_OPS_WITH_UNGUARDED_FAKES = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
_declared_schemas: list[object] = []  # keeps the torch.library.Library alive, which keeps the schemas


@functools.cache
def ensure_torchvision_importable() -> None:
    """Declare torchvision's unguarded operator schemas when its compiled ops cannot load; runs once."""
    if "torchvision" in sys.modules:
        return
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    import torch

    package_dir = Path(spec.origin).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        library = package_dir / f"_C{suffix}"
        if not library.is_file():
            continue
        try:
            torch.ops.load_library(str(library))  # type: ignore[no-untyped-call]  # what torchvision's import does next; loads once
        except (ImportError, OSError):
            break
        return
    library_fragment = torch.library.Library("torchvision", "FRAGMENT")  # type: ignore[no-untyped-call]
    for schema in _OPS_WITH_UNGUARDED_FAKES:
        library_fragment.define(schema)  # type: ignore[no-untyped-call]
    _declared_schemas.append(library_fragment)
