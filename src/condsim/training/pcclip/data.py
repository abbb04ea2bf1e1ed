"""Where the finetuning images come from, embedded once with the frozen image tower.

* Default: the built-in renderer (Clevr-4-like scenes and playing cards) drawn from the built-in
  model's *training* seeds. Evaluation seeds are refused (`check_finetune_seed`), so every number
  measured on the benchmarks' seeds stays a held-out number. The CLAY-Object-like drawings are not
  rendered at all: their `size` attribute is the held-out attribute of the default finetuning.
* ``KIND:PATH``: the user's labelled images through the same loaders as ``condsim bench --data``:
  ``clevr4:DIR`` (its ``train`` split), ``folders:DIR`` and ``csv:FILE``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from condsim.data import cards, scenes
from condsim.data.datasets import DEFAULT_SEEDS
from condsim.data.loaders import LabelledImages, load_clevr4, load_csv, load_image_folders
from condsim.data.seeds import TRAINING_CARD_SEED, TRAINING_SCENE_SEED
from condsim.data.taxonomy import CARD_RANKS, CARD_SUITS, COLORS, COUNTS, SHAPES, TEXTURES
from condsim.encoders.base import Encoder
from condsim.errors import CondsimError, InvalidInputError
from condsim.training.pcclip.pairs import FinetuneImages, ordinal_values
from condsim.training.zero_shot import EVAL_CARD_SEED, EVAL_FLAT_SEED, EVAL_SCENE_SEED

#: seeds that render evaluation images anywhere in condsim (benchmarks, zero-shot checks)
EVALUATION_SEEDS: frozenset[int] = frozenset(
    {*DEFAULT_SEEDS.values(), EVAL_SCENE_SEED, EVAL_CARD_SEED, EVAL_FLAT_SEED}
)
DATA_KINDS = ("clevr4", "folders", "csv")


class EvaluationSeedError(CondsimError):
    """Finetuning data was asked for a seed that renders evaluation images."""


def check_finetune_seed(seed: int) -> None:
    """Raise `EvaluationSeedError` if `seed` renders images some benchmark evaluates on."""
    if int(seed) in EVALUATION_SEEDS:
        raise EvaluationSeedError(
            f"seed {seed} renders evaluation images; finetuning on it would leak the test set",
            hint=f"finetune on the training seeds ({TRAINING_SCENE_SEED}, {TRAINING_CARD_SEED}) or another "
            "seed outside " + ", ".join(str(value) for value in sorted(EVALUATION_SEEDS)),
        )


def rendered_images(
    encoder: Encoder,
    n_scenes: int,
    n_cards: int,
    *,
    scene_seed: int = TRAINING_SCENE_SEED,
    card_seed: int = TRAINING_CARD_SEED,
    size: int = 128,
    show_progress: bool = False,
) -> list[FinetuneImages]:
    """Scenes and cards rendered from training seeds, embedded with `encoder`'s image tower."""
    check_finetune_seed(scene_seed)
    check_finetune_seed(card_seed)
    if n_scenes < 2 or n_cards < 2:
        raise InvalidInputError(f"need at least 2 scenes and 2 cards, got {n_scenes} and {n_cards}")
    scene_images, scene_labels = scenes.generate_scenes(n_scenes, scene_seed, size)
    card_images, card_labels = cards.generate_cards(n_cards, card_seed, size)
    scene_embeddings = encoder.encode_images(scene_images, batch_size=128, show_progress=show_progress)
    card_embeddings = encoder.encode_images(card_images, batch_size=128, show_progress=show_progress)
    count_names = tuple(str(count) for count in COUNTS)
    scene_classes = {"color": COLORS, "shape": SHAPES, "texture": TEXTURES, "count": count_names}
    counts = np.asarray([float(label["count"]) for label in scene_labels])
    ranks = np.asarray([float(CARD_RANKS.index(str(label["rank"])) + 1) for label in card_labels])
    return [
        FinetuneImages(
            name=f"scenes(seed {scene_seed})",
            embeddings=scene_embeddings,
            labels=_codes(scene_labels, scene_classes),
            classes=scene_classes,
            ordinal={"count": counts},
        ),
        FinetuneImages(
            name=f"cards(seed {card_seed})",
            embeddings=card_embeddings,
            labels={
                "number": np.asarray([CARD_RANKS.index(str(label["rank"])) for label in card_labels]),
                "suit": np.asarray([CARD_SUITS.index(str(label["suit"])) for label in card_labels]),
            },
            classes={"number": CARD_RANKS, "suit": CARD_SUITS},
            ordinal={"number": ranks},
        ),
    ]


def _codes(
    label_dicts: list[dict[str, str | int]], classes: dict[str, tuple[str, ...]]
) -> dict[str, np.ndarray]:
    return {
        condition: np.asarray([names.index(str(label[condition])) for label in label_dicts], dtype=np.int64)
        for condition, names in classes.items()
    }


def load_labelled(spec: str) -> LabelledImages:
    """The user's labelled images named by ``KIND:PATH`` (``clevr4:DIR`` reads its train split)."""
    kind, separator, location = spec.partition(":")
    if not separator or kind not in DATA_KINDS or not location:
        raise InvalidInputError(
            f"--data {spec!r}: expected KIND:PATH with KIND one of {', '.join(DATA_KINDS)}",
            hint="e.g. clevr4:~/clevr_4_10k_v1, folders:DIR, csv:FILE",
        )
    path = Path(location).expanduser()
    if kind == "clevr4":
        return load_clevr4(path, split="train")
    return load_image_folders(path) if kind == "folders" else load_csv(path)


def labelled_images(spec: str, encoder: Encoder, *, show_progress: bool = False) -> list[FinetuneImages]:
    """``KIND:PATH`` images embedded with `encoder`'s image tower, ordinal values where known."""
    labelled = load_labelled(spec)
    embeddings = encoder.encode_images(labelled.images, batch_size=64, show_progress=show_progress)
    ordinal = {
        condition: values[labelled.labels[condition]]
        for condition, values in ordinal_values(labelled.classes).items()
    }
    ordinal.update(
        {
            name: np.asarray(values, dtype=np.float64)
            for name, values in labelled.attributes.items()
            if name in labelled.labels
        }
    )
    return [
        FinetuneImages(
            name=labelled.name,
            embeddings=embeddings,
            labels={condition: np.asarray(codes) for condition, codes in labelled.labels.items()},
            classes=dict(labelled.classes),
            ordinal=ordinal,
        )
    ]
