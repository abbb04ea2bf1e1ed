"""One factory that turns a model name or a local checkpoint path into an `Encoder`.

The registry is data: `BACKENDS` lists, for each backend, the name prefix it owns, a detector that
recognises its local checkpoint layout, and its loader. `load_encoder` walks that table once.
`register_backend` adds a row (the built-in open_clip and transformers backends register through it,
and so can a plugin or a test's fake model, as simonw's `llm` registers its plugins);
`unregister_backend` removes one. The built-in model is not a row: it is what no name means.

==========================================  ======================================================
name                                        backend
==========================================  ======================================================
``None`` or ``"builtin"``                   the built-in model shipped in the package
``"condsim-scenes-v1@sha256-…"``            the built-in model, by the id a store recorded
``"/path/dir"`` holding                     a built-in model written by ``condsim train-model``
``model.safetensors`` + ``config.json``     or ``condsim finetune`` (see `condsim.encoders.builtin`)
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

from condsim._files import file_sha256
from condsim.encoders.base import Encoder
from condsim.encoders.devices import resolve_device
from condsim.errors import InvalidInputError, ModelLoadError

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


def _never(path: Path) -> bool:
    """The detector of a backend that has no local checkpoint layout of its own."""
    return False


@dataclass(frozen=True)
class Backend:
    """One row of the registry: how to recognise a name or a local path, and how to load it."""

    name: str
    #: names starting with this prefix go to this backend (the prefix is stripped)
    prefix: str
    #: (name without prefix, device) -> Encoder; the name may be a hub id or a local path
    load: Callable[[str, str], Encoder]
    #: one line for error messages
    example: str
    #: True when a local path (file or directory) is a checkpoint of this backend
    detects: Callable[[Path], bool] = _never


#: the registered backends, in the order `load_encoder` tries their prefixes and detectors
BACKENDS: list[Backend] = []


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add `backend` to the registry, so `load_encoder` accepts its prefix and its checkpoint folders.

    A name or prefix that another backend already owns is refused unless `replace` is true, in which
    case that backend's row is swapped for this one in place (its position, hence its priority, kept).
    """
    if not backend.prefix.endswith(":") or len(backend.prefix) < 2:
        raise InvalidInputError(
            f"backend prefix {backend.prefix!r} must be a word followed by ':'", hint='e.g. prefix="mine:"'
        )
    if backend.prefix == f"{BUILTIN_NAME}:" or backend.prefix.startswith(BUILTIN_ID_PREFIX):
        raise InvalidInputError(
            f"the prefix {backend.prefix!r} names the built-in model",
            hint='pick another, e.g. prefix="mine:"',
        )
    clashes = [
        index
        for index, known in enumerate(BACKENDS)
        if known.name == backend.name or known.prefix == backend.prefix
    ]
    if clashes and not replace:
        known = BACKENDS[clashes[0]]
        raise InvalidInputError(
            f"backend {known.name!r} already owns the name {backend.name!r} or the prefix {backend.prefix!r}",
            hint="pick another name and prefix, or pass replace=True to swap it out",
        )
    if clashes:
        BACKENDS[clashes[0]] = backend
        for index in reversed(clashes[1:]):
            del BACKENDS[index]
    else:
        BACKENDS.append(backend)
    return backend


def unregister_backend(name: str) -> Backend:
    """Remove the backend called `name` from the registry and return it."""
    for index, known in enumerate(BACKENDS):
        if known.name == name:
            return BACKENDS.pop(index)
    raise InvalidInputError(
        f"no backend called {name!r} is registered",
        hint=f"registered: {', '.join(known.name for known in BACKENDS) or 'none'}",
    )


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


register_backend(
    Backend(
        name="openclip",
        prefix="openclip:",
        load=_load_openclip,
        example="openclip:ViT-B-32/openai, or a folder with open_clip_config.json and weights",
        detects=_detect_openclip,
    )
)
register_backend(
    Backend(
        name="hf",
        prefix="hf:",
        load=_load_hf,
        example="hf:openai/clip-vit-base-patch32, or a folder saved with save_pretrained",
        detects=_detect_hf,
    )
)


def load_encoder(name: str | os.PathLike[str] | None = None, *, device: str = "cpu") -> Encoder:
    """Load the encoder named by `name` (see the module table); no name gives the built-in model.

    `device` is "auto" (CUDA, then MPS, else the CPU), "cpu", "cuda", "cuda:N" or "mps"; a device this
    machine lacks is a `ModelLoadError` (`condsim.encoders.devices`).
    """
    device = resolve_device(device)
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
        from condsim.encoders.builtin import is_builtin_checkpoint, load_builtin_encoder

        if is_builtin_checkpoint(path):  # written by `condsim train-model` or `condsim finetune`
            return load_builtin_encoder(device=device, model_dir=path)
        for backend in BACKENDS:
            if backend.detects(path):
                return backend.load(str(path), device)
        raise ModelLoadError(
            f"{text}: not a model checkpoint condsim can read",
            hint="expected a folder written by condsim train-model or finetune, a folder with "
            "open_clip_config.json + weights (open_clip) or config.json with model_type "
            "clip/siglip/siglip2 (transformers)",
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
        cached = _FILE_HASHES[key] = file_sha256(file)
    return cached
