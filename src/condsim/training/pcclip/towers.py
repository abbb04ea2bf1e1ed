"""The trainable text tower of each encoder backend, and how a finetuned one is written to disk.

PC-CLIP trains only the text side (methods.md §4.1: Adam sees `model.transformer`, CLIP's text
transformer); image embeddings come from the frozen image tower. Per backend:

* built-in model: its text tower is MiniLM (all-MiniLM-L6-v2); the upper `layers` transformer
  layers are trained (MiniLM's pooled output *is* the joint space: no projection sits after it).
  Written as the base folder's image tower + ``text_tower.safetensors`` (the trained tensors only)
  + a ``config.json`` naming it, which `condsim.encoders.builtin` loads.
* open_clip: the text transformer (``model.transformer``; ``model.text`` for custom-text models),
  written in open_clip's own local layout (``open_clip_config.json`` + ``open_clip_model.safetensors``).
* transformers CLIP / SigLIP: ``model.text_model``, written with ``save_pretrained``.

Each tower keeps a copy of the trained tensors as they were before training, for the weight average.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from condsim.encoders.base import Encoder
from condsim.encoders.builtin import BuiltinEncoder
from condsim.encoders.hf import HFEncoder
from condsim.encoders.openclip import CONFIG_NAME, OpenClipEncoder
from condsim.errors import ModelLoadError

#: model_id stem of a finetuned built-in model (the encoder appends the weights' digest)
FINETUNED_BUILTIN_ID = "condsim-pcclip-v1"
TEXT_TOWER_FILE = "text_tower.safetensors"
OPENCLIP_WEIGHTS = "open_clip_model.safetensors"


class UntrainableTextTowerError(ModelLoadError):
    """The base model has no text tower condsim knows how to finetune."""


class TextTower(ABC):
    """A private, trainable copy of one encoder's text side."""

    #: the backend's name, for the model card
    kind: str

    def __init__(self, module: torch.nn.Module, trainable: dict[str, torch.nn.Parameter]) -> None:
        if not trainable:
            raise UntrainableTextTowerError(
                f"the {self.kind} model exposes no text-tower parameters to train",
                hint="finetune the built-in model, an open_clip CLIP or a transformers CLIP/SigLIP",
            )
        self.module: Any = module  # a SentenceTransformer, open_clip CLIP or transformers model
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        for parameter in trainable.values():
            parameter.requires_grad_(True)
        self.trainable = trainable
        #: the trained tensors before training (the other side of the weight average)
        self.base_state = {name: tensor.detach().clone() for name, tensor in trainable.items()}

    @abstractmethod
    def embed(self, texts: list[str]) -> torch.Tensor:
        """(n, d) text embeddings with gradients (not necessarily unit rows)."""

    @abstractmethod
    def export(self, out_dir: Path, weights: dict[str, torch.Tensor], card: dict[str, Any]) -> None:
        """Write a folder `condsim.encoders.load_encoder(out_dir)` loads, with `weights` as the trained
        tensors; `card` (JSON-able) goes into its config."""

    def set_training(self, training: bool) -> None:
        self.module.train(training)

    def trained_state(self) -> dict[str, torch.Tensor]:
        return {name: tensor.detach().clone() for name, tensor in self.trainable.items()}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy `state` (from a checkpoint) into the trained tensors; a mismatch is a ModelLoadError."""
        if set(state) != set(self.trainable):
            raise ModelLoadError(
                "the checkpoint's text-tower tensors are not this model's",
                hint="finetune into a new --out folder, or delete its finetune_state.pt",
            )
        with torch.no_grad():
            for name, parameter in self.trainable.items():
                parameter.copy_(state[name])


class BuiltinTextTower(TextTower):
    """MiniLM of the built-in model, its upper `layers` transformer layers trained."""

    kind = "builtin"

    def __init__(self, encoder: BuiltinEncoder, layers: int = 2) -> None:
        self.encoder = encoder
        model = copy.deepcopy(encoder.text_model)  # the encoders' shared MiniLM stays untouched
        named = dict(model.named_parameters())
        depth = [
            int(match.group(1)) for name in named if (match := re.search(r"encoder\.layer\.(\d+)\.", name))
        ]
        top = max(depth, default=-1)
        chosen = {
            name: parameter
            for name, parameter in named.items()
            if (match := re.search(r"encoder\.layer\.(\d+)\.", name)) and int(match.group(1)) > top - layers
        }
        super().__init__(model, chosen)
        self.layers = layers

    def embed(self, texts: list[str]) -> torch.Tensor:
        model = self.module
        prepare = getattr(model, "preprocess", None) or model.tokenize
        features = {
            key: value.to(self.encoder.device) if isinstance(value, torch.Tensor) else value
            for key, value in prepare(texts).items()
        }
        embeddings: torch.Tensor = model(features)["sentence_embedding"]
        return embeddings

    def export(self, out_dir: Path, weights: dict[str, torch.Tensor], card: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        source = self.encoder.model_dir
        shutil.copyfile(source / "model.safetensors", out_dir / "model.safetensors")
        config = json.loads((source / "config.json").read_text())
        config.pop("weights_digest", None)
        # a finetuned base keeps its own trained tensors unless this run trained them again
        previous = dict(self.encoder.text_overrides)
        previous.update(weights)
        save_file({name: tensor.contiguous().cpu() for name, tensor in previous.items()},
                  str(out_dir / TEXT_TOWER_FILE))  # fmt: skip
        config.update(
            model_id=FINETUNED_BUILTIN_ID,
            text_model="sentence-transformers/all-MiniLM-L6-v2, upper layers finetuned with PC-CLIP",
            text_tower={"weights": TEXT_TOWER_FILE, "parameters": sorted(previous)},
            finetune=card,
        )
        (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")


class OpenClipTextTower(TextTower):
    """An open_clip model's text transformer (`transformer`, or `text` for custom-text models)."""

    kind = "openclip"

    def __init__(self, encoder: OpenClipEncoder, export_config: dict[str, Any]) -> None:
        self.encoder = encoder
        self.export_config = export_config
        model = copy.deepcopy(encoder._model)
        tower = getattr(model, "transformer", None) if hasattr(model, "token_embedding") else None
        tower = tower if isinstance(tower, torch.nn.Module) else getattr(model, "text", None)
        if not isinstance(tower, torch.nn.Module):
            raise UntrainableTextTowerError(
                f"{encoder.model_id}: no text transformer (model.transformer or model.text) to finetune",
                hint="PC-CLIP finetunes CLIP-style models with a text transformer",
            )
        prefix = next(name for name, module in model.named_modules() if module is tower)
        chosen = {f"{prefix}.{name}": parameter for name, parameter in tower.named_parameters()}
        super().__init__(model, chosen)

    def embed(self, texts: list[str]) -> torch.Tensor:
        tokens = self.encoder._tokenizer(texts).to(self.encoder._device)
        embeddings: torch.Tensor = self.module.encode_text(tokens)
        return embeddings

    def export(self, out_dir: Path, weights: dict[str, torch.Tensor], card: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        state = {name: tensor.detach().clone() for name, tensor in self.module.state_dict().items()}
        state.update(weights)
        save_file({name: tensor.contiguous().cpu() for name, tensor in state.items()},
                  str(out_dir / OPENCLIP_WEIGHTS))  # fmt: skip
        config = dict(self.export_config, pcclip_finetune=card)
        (out_dir / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")


class HFTextTower(TextTower):
    """A transformers CLIP/SigLIP model's `text_model`."""

    kind = "hf"

    def __init__(self, encoder: HFEncoder) -> None:
        self.encoder = encoder
        model = copy.deepcopy(encoder._model)
        tower = getattr(model, "text_model", None)
        if not isinstance(tower, torch.nn.Module):
            raise UntrainableTextTowerError(
                f"{encoder.model_id}: no text_model to finetune", hint="use a CLIP or SigLIP checkpoint"
            )
        chosen = {f"text_model.{name}": parameter for name, parameter in tower.named_parameters()}
        super().__init__(model, chosen)

    def embed(self, texts: list[str]) -> torch.Tensor:
        encoder = self.encoder
        tokens = encoder._tokenizer(
            texts, padding=encoder._family.padding, truncation=True, max_length=encoder._max_length,
            return_tensors="pt",
        )  # fmt: skip
        inputs = {"input_ids": tokens["input_ids"].to(encoder._device)}
        if encoder._family.text_attention_mask and "attention_mask" in tokens:
            inputs["attention_mask"] = tokens["attention_mask"].to(encoder._device)
        output = self.module.get_text_features(**inputs)
        embeddings: torch.Tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
        return embeddings

    def export(self, out_dir: Path, weights: dict[str, torch.Tensor], card: dict[str, Any]) -> None:
        model = copy.deepcopy(self.module)
        with torch.no_grad():
            named = dict(model.named_parameters())
            for name, tensor in weights.items():
                named[name].copy_(tensor)
        model.config.pcclip_finetune = card
        model.save_pretrained(str(out_dir), safe_serialization=True)
        self.encoder._tokenizer.save_pretrained(str(out_dir))
        self.encoder._image_processor.save_pretrained(str(out_dir))


def text_tower_for(encoder: Encoder, *, base_name: str | None, builtin_layers: int = 2) -> TextTower:
    """The trainable text tower of `encoder` (loaded from `base_name`, needed to re-export open_clip)."""
    if isinstance(encoder, BuiltinEncoder):
        return BuiltinTextTower(encoder, layers=builtin_layers)
    if isinstance(encoder, OpenClipEncoder):
        return OpenClipTextTower(encoder, openclip_export_config(encoder, base_name))
    if isinstance(encoder, HFEncoder):
        return HFTextTower(encoder)
    raise UntrainableTextTowerError(
        f"{encoder.model_id}: condsim cannot train the text tower of a {type(encoder).__name__}",
        hint="finetune the built-in model, an open_clip CLIP or a transformers CLIP/SigLIP",
    )


def openclip_export_config(encoder: OpenClipEncoder, base_name: str | None) -> dict[str, Any]:
    """The ``open_clip_config.json`` of the base: read from its folder, or built from its architecture."""
    spec = (base_name or "").strip().removeprefix("openclip:")
    path = Path(spec).expanduser() if spec else None
    if path is not None and path.exists():
        folder = path if path.is_dir() else path.parent
        document: dict[str, Any] = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        return document
    arch = re.split(r"[@/]", spec, maxsplit=1)[0] if spec and not spec.startswith("hf-hub:") else ""
    import open_clip

    model_cfg = open_clip.get_model_config(arch) if arch else None
    if model_cfg is None:
        raise UntrainableTextTowerError(
            f"cannot tell the open_clip architecture of {base_name or encoder.model_id!r} to save it again",
            hint="pass the base as openclip:ARCH/TAG, openclip:ARCH@WEIGHTS or a local checkpoint folder",
        )
    visual = getattr(encoder._model, "visual", None)
    preprocess = dict(getattr(visual, "preprocess_cfg", {}) or {})
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess}
