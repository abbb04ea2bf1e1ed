"""Plain helpers of the service tests (fixtures live in conftest.py): the fake model the stores are
indexed with, the token the protected service uses, and the shape of a rendered scene store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: the suite's fake model (tests/conftest.py), 64-d so CLAY keeps its k = 50 components
MODEL = "fake:service@64"
TOKEN = "s3cret-token-for-tests"


@dataclass(frozen=True)
class SceneStore:
    """Rendered scenes in `folder`, indexed into `store`, with each file's true labels."""

    folder: Path
    store: Path
    #: file name -> its true labels (color, shape, texture, count)
    labels: dict[str, dict[str, str]]
