"""What a results.json was made with: the source commit and the library versions (`meta`)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

from condsim.encoders.base import Encoder

#: the distribution behind each encoder backend module, reported as the "encoder library"
_ENCODER_LIBRARIES = {
    "condsim.encoders.openclip": "open_clip_torch",
    "condsim.encoders.hf": "transformers",
    "condsim.encoders.builtin": "sentence-transformers",
}


def library_versions(encoder: Encoder) -> dict[str, str]:
    """python, numpy, torch, condsim and the encoder's own library, as installed ("not installed"
    when a distribution is absent; an encoder of another module is named by its module)."""
    library = _ENCODER_LIBRARIES.get(type(encoder).__module__)
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "condsim", *([library] if library else [])):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    if library is None:
        versions["encoder"] = type(encoder).__module__
    return versions


def source_commit() -> str:
    """`git rev-parse HEAD` of the checkout condsim runs from, with "-dirty" when tracked files have
    uncommitted changes; "unknown" outside a git checkout (an installed wheel)."""
    folder = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return f"{head}-dirty" if status.strip() else head
