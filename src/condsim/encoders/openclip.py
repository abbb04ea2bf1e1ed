"""open_clip backend: any open_clip CLIP model, from a pretrained tag, the hub, or a local checkpoint.

Names (after the ``openclip:`` prefix, see `condsim.encoders.registry`):

* ``ARCH/TAG``, e.g. ``ViT-B-32/openai`` -- an architecture from ``open_clip.list_models()`` with a
  pretrained tag from ``open_clip.list_pretrained_tags_by_model(ARCH)``; the weights are downloaded
  by open_clip (cached), so this needs network the first time.
* ``hf-hub:org/repo`` -- an open_clip model exported to the Hugging Face hub.
* ``ARCH@/path/to/weights.{pt,bin,pth,safetensors}`` -- a built-in architecture with local weights.
* ``/path/to/folder`` -- the local layout open_clip's own hub export writes (``push_to_hf_hub``):

  - ``open_clip_config.json``: ``{"model_cfg": {embed_dim, vision_cfg, text_cfg, ...},
    "preprocess_cfg": {image_size, mean, std, interpolation, resize_mode, ...}}``;
  - one weights file, preferably ``open_clip_model.safetensors`` (also accepted, in this order:
    ``open_clip_pytorch_model.safetensors``, ``open_clip_pytorch_model.bin``,
    ``open_clip_pytorch_model.pth``, ``model.safetensors``, ``pytorch_model.bin``,
    ``pytorch_model.pth``, ``model.pth``, or a single other ``*.safetensors/.bin/.pth/.pt`` file).

  A path to the weights file itself, next to its ``open_clip_config.json``, also works and picks
  that file when the folder holds several.

Images go through open_clip's own inference transform and texts through its own tokenizer, so an
embedding here equals ``model.encode_image`` / ``model.encode_text`` of the checkpoint, normalised.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from condsim.encoders.base import Encoder
from condsim.encoders.registry import fingerprint
from condsim.encoders.torchvision_compat import ensure_torchvision_importable
from condsim.errors import ModelLoadError

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

CONFIG_NAME = "open_clip_config.json"
#: weight file names in the order open_clip's `local-dir:` loader prefers them
WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
_HUB_PREFIX = "hf-hub:"
_OFFLINE_HINT = "no network? download the checkpoint on another machine and pass its local path"


class OpenClipEncoder(Encoder):
    """An open_clip model with its inference transform and tokenizer (see the module docstring)."""

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        *,
        model_id: str,
        device: str = "cpu",
    ) -> None:
        import torch

        self._model = model.eval()
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._device = torch.device(device)
        self.model_id = model_id
        with torch.inference_mode():
            probe = self._model.encode_text(self._tokenizer([""]).to(self._device))  # type: ignore[operator]
        self.dim = int(probe.shape[-1])
        size = getattr(getattr(self._model, "visual", None), "image_size", None)
        sides = size if isinstance(size, tuple | list) else (size,)
        self.input_size = max(int(side) for side in sides) if all(isinstance(v, int) for v in sides) else None

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            pixels = torch.stack([self._preprocess(image) for image in images]).to(self._device)
            features = self._model.encode_image(pixels)  # type: ignore[operator]
        return np.asarray(features.float().cpu().numpy(), dtype=np.float32)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tokens = self._tokenizer(texts).to(self._device)
            features = self._model.encode_text(tokens)  # type: ignore[operator]
        return np.asarray(features.float().cpu().numpy(), dtype=np.float32)


def is_openclip_checkpoint(path: Path) -> bool:
    """True for a folder holding ``open_clip_config.json``, or a weights file next to one."""
    if path.is_dir():
        return (path / CONFIG_NAME).is_file()
    return path.is_file() and path.suffix in WEIGHT_SUFFIXES and (path.parent / CONFIG_NAME).is_file()


def load_openclip_encoder(spec: str, *, device: str = "cpu") -> OpenClipEncoder:
    """Load an open_clip encoder from a name after the ``openclip:`` prefix (see the module docstring)."""
    if spec.startswith(_HUB_PREFIX):
        return _load_from_hub(spec[len(_HUB_PREFIX) :], device)
    arch, at, weights = spec.partition("@")
    if at and "/" not in arch and "\\" not in arch:
        return _load_arch_with_file(arch.strip(), Path(weights.strip()).expanduser(), device)
    path = Path(spec).expanduser()
    if path.exists():
        if not is_openclip_checkpoint(path):
            raise ModelLoadError(
                f"{spec}: no {CONFIG_NAME} here",
                hint=f"put the model config in {CONFIG_NAME} next to the weights, or name the "
                "architecture: openclip:ARCH@/path/to/weights",
            )
        return _load_local(path, device)
    if "/" in spec and not spec.startswith(("/", ".", "~")):
        arch, _, tag = spec.rpartition("/")
        return _load_pretrained_tag(arch, tag, device)
    if spec in _known_architectures():
        raise ModelLoadError(
            f"openclip:{spec} names an architecture but no weights",
            hint=f"add a pretrained tag, e.g. openclip:{spec}/{_first_tag(spec)}, "
            f"or a weights file: openclip:{spec}@PATH",
        )
    if spec.startswith(("/", ".", "~")):
        raise ModelLoadError(f"{spec}: no such file or directory", hint="check the checkpoint path")
    raise ModelLoadError(f"unknown open_clip model {spec!r}", hint=_arch_hint(spec))


def _open_clip() -> Any:
    ensure_torchvision_importable()
    try:
        import open_clip
    except ImportError as error:  # pragma: no cover - a dependency of condsim
        raise ModelLoadError("open_clip is not installed", hint="pip install open_clip_torch") from error
    return open_clip


def _known_architectures() -> list[str]:
    return list(_open_clip().list_models())


def _first_tag(arch: str) -> str:
    tags = _open_clip().list_pretrained_tags_by_model(arch)
    return str(tags[0]) if tags else "TAG"


def _arch_hint(arch: str) -> str:
    close = difflib.get_close_matches(arch, _known_architectures(), n=3)
    if close:
        return "did you mean " + ", ".join(close) + "? (open_clip.list_models() lists all)"
    return "see open_clip.list_models() for architectures, or pass a local checkpoint folder"


def _check_arch(arch: str) -> None:
    if arch not in _known_architectures():
        raise ModelLoadError(f"unknown open_clip architecture {arch!r}", hint=_arch_hint(arch))


def _load_pretrained_tag(arch: str, tag: str, device: str) -> OpenClipEncoder:
    open_clip = _open_clip()
    _check_arch(arch)
    tags = list(open_clip.list_pretrained_tags_by_model(arch))
    if tag not in tags:
        raise ModelLoadError(
            f"open_clip {arch} has no pretrained tag {tag!r}",
            hint="known tags: " + (", ".join(tags) if tags else "none; pass a local weights file"),
        )
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=tag, device=device)
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as error:
        raise ModelLoadError(
            f"could not fetch open_clip {arch}/{tag}: {_first_line(error)}", hint=_OFFLINE_HINT
        ) from error
    return OpenClipEncoder(model, preprocess, tokenizer, model_id=f"openclip:{arch}/{tag}", device=device)


def _load_from_hub(repo: str, device: str) -> OpenClipEncoder:
    open_clip = _open_clip()
    name = _HUB_PREFIX + repo
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as error:
        raise ModelLoadError(
            f"could not fetch open_clip model {name}: {_first_line(error)}", hint=_OFFLINE_HINT
        ) from error
    return OpenClipEncoder(model, preprocess, tokenizer, model_id=f"openclip:{name}", device=device)


def _load_arch_with_file(arch: str, weights: Path, device: str) -> OpenClipEncoder:
    open_clip = _open_clip()
    _check_arch(arch)
    if not weights.is_file():
        raise ModelLoadError(f"{weights}: no such weights file", hint="check the checkpoint path")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=str(weights), device=device, pretrained_text=False
        )
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as error:
        raise ModelLoadError(
            f"could not load {weights} as open_clip {arch}: {_first_line(error)}",
            hint="check that the weights were trained with this architecture",
        ) from error
    model_id = f"openclip:{arch}@sha256-{fingerprint([weights])}"
    return OpenClipEncoder(model, preprocess, tokenizer, model_id=model_id, device=device)


def _load_local(path: Path, device: str) -> OpenClipEncoder:
    open_clip = _open_clip()
    folder = path if path.is_dir() else path.parent
    weights = path if path.is_file() else _find_weights(folder)
    config = _read_config(folder / CONFIG_NAME)
    name = f"local-dir:{folder}"
    try:
        # the config and preprocessing come from the folder; the weights are loaded explicitly so
        # that the file hashed into model_id is the file in the model (and none missing is an error)
        with _quiet_random_init_warning():
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, load_weights=False, pretrained_text=False, device=device
            )
        open_clip.load_checkpoint(model, str(weights), device=device)
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as error:
        raise ModelLoadError(
            f"could not load open_clip checkpoint {weights}: {_first_line(error)}",
            hint=f"check that {weights.name} was saved from the model described by {CONFIG_NAME}",
        ) from error
    model_id = f"openclip:local@sha256-{fingerprint([weights], extra=config)}"
    return OpenClipEncoder(model, preprocess, tokenizer, model_id=model_id, device=device)


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "initialized randomly" not in message and "no CLIP weights found" not in message


@contextlib.contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """Hide open_clip's "initialized randomly" warning while the weights are loaded right after."""
    root = logging.getLogger()
    quiet = _DropRandomInitWarning()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _find_weights(folder: Path) -> Path:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(
        file for file in folder.iterdir() if file.is_file() and file.suffix in WEIGHT_SUFFIXES
    )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelLoadError(
            f"{folder}: {CONFIG_NAME} but no weights file",
            hint=f"save the state dict as {WEIGHT_NAMES[0]} in that folder",
        )
    raise ModelLoadError(
        f"{folder}: several weights files ({', '.join(file.name for file in candidates)})",
        hint="pass the path of the one to use",
    )


def _read_config(config_path: Path) -> dict[str, Any]:
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{config_path}: unreadable config ({error})") from error
    if not isinstance(config, dict) or not isinstance(config.get("model_cfg"), dict):
        raise ModelLoadError(
            f"{config_path}: no 'model_cfg' section",
            hint='write {"model_cfg": {"embed_dim": ..., "vision_cfg": ..., "text_cfg": ...}, '
            '"preprocess_cfg": {...}} as open_clip\'s hub export does',
        )
    return config


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
