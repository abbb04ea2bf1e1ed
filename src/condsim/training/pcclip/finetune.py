"""`finetune`: PC-CLIP finetuning of a model's text tower, from base model to a loadable folder.

1. Load the base (the built-in model by default) and embed the finetuning images once with its
   frozen image tower (`condsim.training.pcclip.data`).
2. Draw image pairs and their difference sentences (`pairs`: templates; `llm_pairs`: an LLM).
3. Train the text tower (`loop`: symmetric InfoNCE at temperature 1, Adam, exponential decay).
4. Average the trained tensors with the base's (`average`; weight_alpha 0.75, our choice, see
   `OUR_WEIGHT_ALPHA`) and write a folder that ``load_encoder(out_dir)`` / ``--model out_dir`` loads
   (`towers`), with MODEL_CARD.md.

Measuring before/after numbers is the evaluation code's job (``condsim.eval``, which training may
not import): pass it as `evaluate`, a function of an encoder returning nested scores; the command
line passes `condsim.eval.pairwise.pairwise_scores`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from condsim.encoders import load_encoder
from condsim.encoders.base import Encoder
from condsim.encoders.devices import resolve_device
from condsim.errors import InvalidInputError
from condsim.training.pcclip.average import WEIGHT_ALPHA, average_weights
from condsim.training.pcclip.data import labelled_images, rendered_images
from condsim.training.pcclip.loop import LoopSettings, train_text_tower
from condsim.training.pcclip.model_card import write_model_card
from condsim.training.pcclip.pairs import DifferencePairs, FinetuneImages, template_pairs
from condsim.training.pcclip.towers import text_tower_for

Evaluate = Callable[[Encoder], Mapping[str, Any]]
#: what the default (rendered) data never shows: CLAY-Object-like drawings and their size attribute
DEFAULT_HELD_OUT = "objects/size (the objects drawings are not rendered for finetuning)"


@dataclass(frozen=True)
class FinetuneSettings:
    """Everything that shapes a run besides the base and the data source (see `DEFAULT`, `QUICK`)."""

    loop: LoopSettings
    n_pairs: int = 20_000
    n_scenes: int = 3_000
    n_cards: int = 1_500
    weight_alpha: float = WEIGHT_ALPHA
    builtin_layers: int = 2
    comparative_share: float = 0.5
    hold_out: tuple[str, ...] = ()
    llm_pairs: int = 300


#: our `weight_alpha` (PC-CLIP evaluates 0.5, `average.WEIGHT_ALPHA`): on the default run (built-in
#: model, evaluation seeds) α = 0.5 stops clevr4 count difference accuracy at 88.3 %, α = 0.75 reaches
#: 92.3 % with colour / shape zero-shot at -0.3 / +2.0 points from the base, α = 1 loses 1.5 on colour
OUR_WEIGHT_ALPHA = 0.75

DEFAULT = FinetuneSettings(loop=LoopSettings(steps=300), weight_alpha=OUR_WEIGHT_ALPHA)
#: --quick: 200 steps (80 lost 2.8 points of shape zero-shot accuracy: too short a run leaves the
#: tower mid-way) with PC-CLIP's α = 0.5, since this shorter run's tower moved less far towards
#: retention than the default's (α = 0.75 here: shape -2.3); measured: count difference 82.6 %,
#: colour / shape zero-shot -0.5 / -0.7 points, about 3.5 CPU minutes of training on one thread
QUICK = FinetuneSettings(
    loop=LoopSettings(steps=200), n_pairs=8_000, n_scenes=1_500, n_cards=600, weight_alpha=WEIGHT_ALPHA
)


@dataclass
class FinetuneReport:
    """What a run did and measured (`before` / `after` are None without an `evaluate` function)."""

    out_dir: Path
    base_model_id: str
    model_id: str
    steps: int
    finished: bool
    train_seconds: float
    total_seconds: float
    final_loss: float
    n_images: int
    n_pairs: int
    data: str
    held_out: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    losses: list[tuple[int, float, float]] = field(default_factory=list)


def finetune(
    base: str | os.PathLike[str] | Encoder | None,
    out_dir: str | os.PathLike[str],
    *,
    data: str | None = None,
    steps: int | None = None,
    quick: bool = False,
    device: str = "auto",
    llm: bool = False,
    resume: bool = True,
    evaluate: Evaluate | None = None,
    settings: FinetuneSettings | None = None,
    show_progress: bool = True,
    max_steps_this_run: int | None = None,
) -> FinetuneReport:
    """Finetune the text tower of `base` (a model name or path for `load_encoder`, an encoder, or None
    for the built-in model) on difference pairs and write the result to `out_dir`.

    `data` is None (rendered scenes and cards, training seeds) or ``KIND:PATH`` (``clevr4:DIR``,
    ``folders:DIR``, ``csv:FILE``); `llm` writes the sentences with the configured LLM instead of
    templates. Rerunning into the same `out_dir` resumes an interrupted run. `max_steps_this_run`
    stops early (checkpointed, nothing exported) for time-boxed sessions. `settings` (all
    hyper-parameters) takes precedence over `quick`; `steps` over both.
    """
    started = time.monotonic()
    chosen = settings or (QUICK if quick else DEFAULT)
    if steps is not None:
        chosen = replace(chosen, loop=replace(chosen.loop, steps=steps))
    device = resolve_device(device)
    out = Path(out_dir).expanduser()
    encoder = base if isinstance(base, Encoder) else load_encoder(base, device=device)
    base_name = None if isinstance(base, Encoder) or base is None else os.fspath(base)
    if (
        base_name is not None
        and Path(base_name).expanduser().exists()
        and out.resolve() == Path(base_name).expanduser().resolve()
    ):
        raise InvalidInputError(f"--out {out} is the base model's folder", hint="write to a new folder")
    tower = text_tower_for(encoder, base_name=base_name, builtin_layers=chosen.builtin_layers)
    for parameter in tower.module.parameters():
        parameter.data = parameter.data.to(device)
    out.mkdir(parents=True, exist_ok=True)

    datasets = (
        rendered_images(encoder, chosen.n_scenes, chosen.n_cards, show_progress=show_progress)
        if data is None
        else labelled_images(data, encoder, show_progress=show_progress)
    )
    pairs, embeddings = _pairs(datasets, chosen, llm=llm)
    before = dict(evaluate(encoder)) if evaluate is not None else None
    identity = {"base": encoder.model_id, "data": data or "rendered", "llm": llm,
                "settings": json.loads(json.dumps(asdict(chosen)))}  # fmt: skip
    result = train_text_tower(
        tower, pairs, embeddings, chosen.loop, out, identity=identity, resume=resume,
        show_progress=show_progress, max_steps_this_run=max_steps_this_run,
    )  # fmt: skip
    held_out = ", ".join([*chosen.hold_out, *([DEFAULT_HELD_OUT] if data is None else [])]) or "nothing"
    report = FinetuneReport(
        out_dir=out, base_model_id=encoder.model_id, model_id="", steps=result.steps_done,
        finished=result.steps_done >= chosen.loop.steps, train_seconds=result.seconds,
        total_seconds=0.0, final_loss=result.final_loss, n_images=int(embeddings.shape[0]),
        n_pairs=len(pairs), data=data or "rendered scenes and cards (training seeds)", held_out=held_out,
        before=before, losses=result.losses,
    )  # fmt: skip
    if not report.finished:
        report.total_seconds = time.monotonic() - started
        return report
    averaged = average_weights(tower.base_state, tower.trained_state(), chosen.weight_alpha)
    facts = {
        "model_id": "(see config)", "base": encoder.model_id, "trained": f"{len(averaged)} tensors, "
        f"{sum(t.numel() for t in averaged.values()):,} weights", "data": report.data,
        "held_out": held_out, "pairs": len(pairs), "texts": len(pairs.texts), "steps": result.steps_done,
        "batch_size": chosen.loop.batch_size, "learning_rate": chosen.loop.learning_rate,
        "decay": chosen.loop.decay, "epoch_steps": max(chosen.loop.steps // chosen.loop.epochs, 1),
        "loss": chosen.loop.loss, "final_loss": result.final_loss, "weight_alpha": chosen.weight_alpha,
        "minutes": result.seconds / 60, "device": device, "threads": torch.get_num_threads(),
    }  # fmt: skip
    card = {key: facts[key] for key in ("base", "data", "held_out", "steps", "weight_alpha", "loss")}
    tower.export(out, averaged, card)
    finetuned = load_encoder(out, device=device)
    report.model_id = facts["model_id"] = finetuned.model_id
    report.after = dict(evaluate(finetuned)) if evaluate is not None else None
    write_model_card(out, facts, result.losses, report.before, report.after)
    report.total_seconds = time.monotonic() - started
    return report


def _pairs(
    datasets: Sequence[FinetuneImages], settings: FinetuneSettings, *, llm: bool
) -> tuple[DifferencePairs, np.ndarray]:
    """Pairs drawn within each dataset (a scene is never paired with a card), merged into one pool."""
    share = max(settings.n_pairs // len(datasets), 1)
    parts: list[DifferencePairs] = []
    for index, images in enumerate(datasets):
        if llm:
            from condsim.training.pcclip.llm_pairs import llm_pairs

            parts.append(llm_pairs(images, settings.llm_pairs, seed=index, hold_out=settings.hold_out))
        else:
            parts.append(template_pairs(images, share, seed=index, hold_out=settings.hold_out,
                                        comparative_share=settings.comparative_share))  # fmt: skip
    offsets = np.cumsum([0] + [len(images) for images in datasets])
    texts: dict[str, int] = {}
    text_ids = [
        np.asarray([texts.setdefault(part.texts[int(t)], len(texts)) for t in part.text_ids], dtype=np.int64)
        for part in parts
    ]
    merged = DifferencePairs(
        first=np.concatenate([part.first + offsets[i] for i, part in enumerate(parts)]),
        second=np.concatenate([part.second + offsets[i] for i, part in enumerate(parts)]),
        text_ids=np.concatenate(text_ids),
        texts=tuple(texts),
        conditions=tuple(c for part in parts for c in part.conditions),
    )
    return merged, np.concatenate([images.embeddings for images in datasets]).astype(np.float32)
