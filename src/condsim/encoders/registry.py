"""One factory that turns a model name or a local checkpoint path into an `Encoder`.

The registry is data: `BACKENDS` lists, for each backend, the name prefix it owns, a detector that
recognises its local checkpoint layout, and its loader. `load_encoder` walks that table once:

==========================================  ======================================================
name                                        backend
==========================================  ======================================================
``None`` or ``"builtin"``                   the built-in model shipped in the package
``"condsim-scenes-v1@sha256-…"``            the built-in model, by the id a store recorded
``"openclip:ViT-B-32/openai"``              open_clip architecture + pretrained tag (hub download)
``"openclip:hf-hub:org/repo"``              open_clip model exported to the Hugging Face hub
``"openclip:ViT-B-32@/path/weights.pt"``    open_clip architecture + a local weights file
``"/path/dir"`` holding                     open_clip local checkpoint (the layout open_clip's hub
``open_clip_config.json`` + weights         export writes; see `condsim.encoders.openclip`)
``"hf:openai/clip-vit-base-patch32"``       transformers CLIP / SigLIP / SigLIP 2 (``@revision``
                                            may follow the hub id)
``"/path/dir"`` holding ``config.json``     transformers local checkpoint (``model_type`` clip,
                                            siglip or siglip2) saved with ``save_pretrained``
==========================================  ======================================================

Every failure (unknown name, missing path, a hub name that cannot be fetched offline, weights that
do not fit their config) is a `ModelLoadError` with a one-line message and a hint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from condsim.encoders.base import Encoder
from condsim.errors import ModelLoadError

BUILTIN_NAME = "builtin"
#: model ids the built-in encoder writes into stores start with this (see condsim.encoders.builtin)
BUILTIN_ID_PREFIX = "condsim-scenes-"


def _load_builtin_by_id(model_id: str, device: str) -> Encoder:
    """The built-in model named by the id a store recorded; another checkpoint's id is an error."""
    from condsim.encoders.builtin import load_builtin_encoder

    encoder = load_builtin_encoder(device=device)
    if encoder.model_id != model_id:
        raise ModelLoadError(
            f"{model_id!r} is another version of the built-in model than the one installed "
            f"({encoder.model_id!r})",
            hint="re-index the folder with this version: condsim index DIR --store STORE",
        )
    return encoder


@dataclass(frozen=True)
class Backend:
    """One row of the registry: how to recognise a name or a local path, and how to load it."""

    name: str
    #: names starting with this prefix go to this backend (the prefix is stripped)
    prefix: str
    #: True when a local path (file or directory) is a checkpoint of this backend
    detects: Callable[[Path], bool]
    #: (name without prefix, device) -> Encoder; the name may be a hub id or a local path
    load: Callable[[str, str], Encoder]
    #: one line for error messages
    example: str


def _detect_openclip(path: Path) -> bool:
    from condsim.encoders.openclip import is_openclip_checkpoint

    return is_openclip_checkpoint(path)


def _load_openclip(spec: str, device: str) -> Encoder:
    from condsim.encoders.openclip import load_openclip_encoder

    return load_openclip_encoder(spec, device=device)


def _detect_hf(path: Path) -> bool:
    from condsim.encoders.hf import is_hf_checkpoint

    return is_hf_checkpoint(path)


def _load_hf(spec: str, device: str) -> Encoder:
    from condsim.encoders.hf import load_hf_encoder

    return load_hf_encoder(spec, device=device)


BACKENDS: tuple[Backend, ...] = (
    Backend(
        name="openclip",
        prefix="openclip:",
        detects=_detect_openclip,
        load=_load_openclip,
        example="openclip:ViT-B-32/openai, or a folder with open_clip_config.json and weights",
    ),
    Backend(
        name="hf",
        prefix="hf:",
        detects=_detect_hf,
        load=_load_hf,
        example="hf:openai/clip-vit-base-patch32, or a folder saved with save_pretrained",
    ),
)


def load_encoder(name: str | os.PathLike[str] | None = None, *, device: str = "cpu") -> Encoder:
    """Load the encoder named by `name` (see the module table); no name gives the built-in model.

    `device` is a torch device string ("cpu", "cuda", "cuda:1", "mps").
    """
    device = _check_device(device)
    if name is None or (isinstance(name, str) and name.strip() in (BUILTIN_NAME, f"{BUILTIN_NAME}:")):
        from condsim.encoders.builtin import load_builtin_encoder

        return load_builtin_encoder(device=device)
    if isinstance(name, str) and name.strip().startswith(BUILTIN_ID_PREFIX):
        return _load_builtin_by_id(name.strip(), device)
    text = os.fspath(name).strip()
    if not text:
        raise ModelLoadError("empty model name", hint=_names_hint())
    for backend in BACKENDS:
        if text.startswith(backend.prefix):
            spec = text[len(backend.prefix) :].strip()
            if not spec:
                raise ModelLoadError(
                    f"{text!r}: nothing after {backend.prefix!r}", hint=f"e.g. {backend.example}"
                )
            return backend.load(spec, device)
    path = Path(text).expanduser()
    if path.exists():
        for backend in BACKENDS:
            if backend.detects(path):
                return backend.load(str(path), device)
        raise ModelLoadError(
            f"{text}: not a model checkpoint condsim can read",
            hint="expected a folder with open_clip_config.json + weights (open_clip) or config.json "
            "with model_type clip/siglip/siglip2 (transformers)",
        )
    if _looks_like_path(text):
        hub_like = not text.startswith(("/", ".", "~")) and text.count("/") == 1
        raise ModelLoadError(
            f"{text}: no such file or directory",
            hint=f"for a hub model write hf:{text} or openclip:hf-hub:{text}"
            if hub_like
            else "check the checkpoint path",
        )
    raise ModelLoadError(f"unknown model name {text!r}", hint=_names_hint())


def _names_hint() -> str:
    examples = "; ".join(backend.example for backend in BACKENDS)
    return f"leave the name out for the built-in model, or give one of: {examples}"


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.startswith((".", "~")) or Path(text).suffix != ""


def _check_device(device: str) -> str:
    import torch

    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as error:
        raise ModelLoadError(
            f"unknown device {device!r}", hint='use "cpu", "cuda", "cuda:N" or "mps"'
        ) from error


def fingerprint(files: Iterable[Path], *, extra: object = None, length: int = 16) -> str:
    """A content hash (sha256, hex, first `length` chars) of `files` and a JSON-able `extra`.

    Used for `Encoder.model_id` of local checkpoints: the id follows the bytes, not the path, so a
    copied or renamed checkpoint keeps its id and a retrained one gets a new one. File names are
    hashed too (sorted), so the set of files is part of the identity.
    """
    digest = hashlib.sha256()
    if extra is not None:
        digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    for file in sorted(files, key=lambda item: item.name):
        digest.update(file.name.encode() + b"\0")
        digest.update(_file_sha256(file).encode())
    return digest.hexdigest()[:length]


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def _file_sha256(file: Path) -> str:
    """sha256 of one file, cached per (resolved path, size, mtime) so reloading a big checkpoint is cheap."""
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _FILE_HASHES.get(key)
    if cached is None:
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        cached = _FILE_HASHES[key] = digest.hexdigest()
    return cached
