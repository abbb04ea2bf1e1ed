"""transformers backend: CLIP, SigLIP and SigLIP 2 models from the Hugging Face hub or a local folder.

Names (after the ``hf:`` prefix, see `condsim.encoders.registry`): a hub id such as
``openai/clip-vit-base-patch32`` (optionally ``@revision``: a branch, tag or commit), or a local
folder written by ``model.save_pretrained`` + ``tokenizer.save_pretrained`` +
``image_processor.save_pretrained`` (or ``processor.save_pretrained``) with ``config.json``
``model_type`` one of `FAMILIES`.

Embeddings are the projected features of ``get_image_features`` / ``get_text_features`` (in
transformers 5 these return a ``BaseModelOutputWithPooling`` whose ``pooler_output`` is the
projection; in 4.x a tensor; both are accepted). Text is tokenised as each family was trained:
CLIP pads to the longest text in the batch and passes the attention mask; SigLIP pads to
``max_position_embeddings`` ("max_length" padding) and passes no attention mask (the model was
trained without one); SigLIP 2 pads to ``max_position_embeddings`` and passes the mask, as its
processor does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from condsim.encoders.base import Encoder
from condsim.encoders.registry import fingerprint
from condsim.encoders.torchvision_compat import ensure_torchvision_importable
from condsim.errors import ModelLoadError


@dataclass(frozen=True)
class Family:
    """How one transformers model family is loaded and fed."""

    #: class name in `transformers`
    model_class: str
    #: tokenizer padding: "longest" (pad to the batch) or "max_length" (pad to max_position_embeddings)
    padding: str
    #: whether the text tower receives the tokenizer's attention mask
    text_attention_mask: bool


FAMILIES: dict[str, Family] = {
    "clip": Family("CLIPModel", padding="longest", text_attention_mask=True),
    "siglip": Family("SiglipModel", padding="max_length", text_attention_mask=False),
    "siglip2": Family("Siglip2Model", padding="max_length", text_attention_mask=True),
}
#: files whose bytes define a local checkpoint's identity (weights, config, tokenizer, preprocessing)
_IDENTITY_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")
_OFFLINE_HINT = (
    "no network? download the model on another machine (save_pretrained) and pass its local folder"
)


class HFEncoder(Encoder):
    """A transformers CLIP/SigLIP model with its image processor and tokenizer."""

    def __init__(
        self,
        model: Any,
        image_processor: Any,
        tokenizer: Any,
        family: Family,
        *,
        model_id: str,
        device: str = "cpu",
    ) -> None:
        import torch

        self._model = model.eval()
        self._image_processor = image_processor
        self._tokenizer = tokenizer
        self._family = family
        self._device = torch.device(device)
        self._max_length = int(model.config.text_config.max_position_embeddings)
        self.model_id = model_id
        self.dim = int(self._embed_texts([""]).shape[-1])
        size = getattr(getattr(model.config, "vision_config", None), "image_size", None)
        self.input_size = int(size) if isinstance(size, int) else None

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        import torch

        # channels_last: PIL images are HWC; without it a 1x1 or 3-pixel-high image is misread as CHW
        inputs = self._image_processor(images=images, return_tensors="pt", input_data_format="channels_last")
        with torch.inference_mode():
            output = self._model.get_image_features(
                **{key: value.to(self._device) for key, value in inputs.items()}
            )
        return _features(output)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = self._tokenizer(
            texts,
            padding=self._family.padding,
            truncation=True,
            max_length=self._max_length,
            return_tensors="pt",
        )
        inputs = {"input_ids": tokens["input_ids"].to(self._device)}
        if self._family.text_attention_mask and "attention_mask" in tokens:
            inputs["attention_mask"] = tokens["attention_mask"].to(self._device)
        with torch.inference_mode():
            output = self._model.get_text_features(**inputs)
        return _features(output)


def _features(output: Any) -> np.ndarray:
    """The projected embedding from a get_*_features result (a tensor in 4.x, a model output in 5.x)."""
    import torch

    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return np.asarray(tensor.float().cpu().numpy(), dtype=np.float32)


def is_hf_checkpoint(path: Path) -> bool:
    """True for a folder whose config.json names a transformers model type (supported or not)."""
    return path.is_dir() and "model_type" in _read_json(path / "config.json")


def load_hf_encoder(spec: str, *, device: str = "cpu") -> HFEncoder:
    """Load a CLIP/SigLIP encoder from a hub id (``org/name[@revision]``) or a local folder."""
    ensure_torchvision_importable()  # transformers' fast image processors import torchvision
    path = Path(spec).expanduser()
    if path.exists():
        return _load_local(path, device)
    if spec.startswith(("/", ".", "~")) or spec.count("/") > 1:
        raise ModelLoadError(f"{spec}: no such directory", hint="check the checkpoint path")
    repo, _, revision = spec.partition("@")
    return _load_from_hub(repo.strip(), revision.strip() or None, device)


def _load_local(folder: Path, device: str) -> HFEncoder:
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: a transformers checkpoint is a folder, not a file")
    config = _read_json(folder / "config.json")
    if not config:
        raise ModelLoadError(f"{folder}: no readable config.json", hint="save the model with save_pretrained")
    family = _family(str(config.get("model_type", "")), str(folder))
    model, image_processor, tokenizer = _from_pretrained(str(folder), None, family, device, hub=False)
    identity_files = [
        file for file in folder.iterdir() if file.is_file() and file.suffix in _IDENTITY_SUFFIXES
    ]
    model_id = f"hf:{config['model_type']}@sha256-{fingerprint(identity_files)}"
    return HFEncoder(model, image_processor, tokenizer, family, model_id=model_id, device=device)


def _load_from_hub(repo: str, revision: str | None, device: str) -> HFEncoder:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(repo, revision=revision)
    except Exception as error:
        raise ModelLoadError(
            f"could not fetch hf:{repo}: {_first_line(error)}", hint=_OFFLINE_HINT
        ) from error
    family = _family(str(config.model_type), f"hf:{repo}")
    model, image_processor, tokenizer = _from_pretrained(repo, revision, family, device, hub=True)
    commit = getattr(model.config, "_commit_hash", None) or getattr(config, "_commit_hash", None)
    model_id = f"hf:{repo}@{commit or revision or 'main'}"
    return HFEncoder(model, image_processor, tokenizer, family, model_id=model_id, device=device)


def _family(model_type: str, source: str) -> Family:
    family = FAMILIES.get(model_type)
    if family is None:
        raise ModelLoadError(
            f"{source}: model_type {model_type!r} is not supported",
            hint="condsim's transformers backend reads " + ", ".join(sorted(FAMILIES)) + " models",
        )
    return family


def _from_pretrained(
    source: str, revision: str | None, family: Family, device: str, *, hub: bool
) -> tuple[Any, Any, Any]:
    import torch
    import transformers

    model_class = getattr(transformers, family.model_class)
    try:
        model = model_class.from_pretrained(source, revision=revision, dtype=torch.float32).to(device)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, revision=revision)
        image_processor = transformers.AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            source, revision=revision
        )
    except Exception as error:
        raise ModelLoadError(
            f"could not load {source}: {_first_line(error)}",
            hint=_OFFLINE_HINT
            if hub
            else "the folder needs the model, tokenizer and image processor (save_pretrained of each)",
        ) from error
    return model, image_processor, tokenizer


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
