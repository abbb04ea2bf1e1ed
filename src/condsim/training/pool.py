"""The training pool of the built-in model: rendered images and their embedded captions, cached.

Scenes and playing cards are rendered from `TRAINING_SEEDS` only (`condsim.data.seeds`), stored at
the model's input size as one uint8 array, and captioned (`condsim.training.captions`); every
distinct caption is embedded once with the frozen MiniLM, the same text side the encoder uses.
Rendering runs in worker processes, each image and caption from its own seeded stream, so the pool
is the same for any number of workers. Pool and caption embeddings are cached on disk under a key
of the settings (`PoolSettings.key`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from condsim._files import atomic_write
from condsim._progress import track
from condsim.data.cards import card_spec_at, render_card
from condsim.data.scenes import render_scene, scene_spec_at
from condsim.data.seeds import TRAINING_CARD_SEED, TRAINING_SCENE_SEED
from condsim.encoders.builtin import embed_captions, images_to_uint8, load_text_model
from condsim.training.captions import card_caption, scene_caption

#: bump when the renderer or caption writer changes, so stale caches are not reused
POOL_FORMAT = 1


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
        with atomic_write(cache_path) as handle:
            np.savez(handle, captions=np.asarray(list(known)), embeddings=np.stack(list(known.values())))
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
    with atomic_write(path) as handle:
        np.savez(
            handle,
            images=images,
            caption_ids=caption_ids,
            captions=np.asarray(distinct),
            caption_embeddings=embeddings.astype(np.float16),
        )
    return images, caption_ids, distinct, embeddings.astype(np.float16)
