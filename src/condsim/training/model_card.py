"""The built-in model's model card: MODEL_CARD.md written from what a training run left on disk.

Everything in the card is read back from the exported `config.json`, `loss_curve.csv`,
`model.safetensors` and the zero-shot results, so the card cannot drift from the model it
describes.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np

from condsim.training.zero_shot import CHANCE, EVAL_CARD_SEED, EVAL_FLAT_SEED, EVAL_SCENE_SEED

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
  `condsim.data.seeds.check_not_training_seed`.

## Training
- Objective: symmetric InfoNCE between image embeddings and frozen MiniLM caption embeddings with
  a learnable temperature; identical caption strings in a batch count as positives. No
  condition-specific loss.
- {steps:,} steps, batch {batch_size}, AdamW lr {learning_rate} (warm-up {warmup_steps}, cosine),
  weight decay {weight_decay}, random shifts of up to {max_shift} px, seed {seed}.
- Wall-clock training time on {where} (excluding pool rendering): {minutes:.1f} min.
- Reproduce: `condsim train-model OUT_DIR` (resumable; code in `condsim.training`).

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
- Two of condsim's rendered benchmarks (`clevr4` and `cards` in `condsim bench`) are *in-domain*
  for this model: their images come from the same renderers as its training images (other seeds),
  and its captions were templated from the same class names. Numbers measured on them describe this
  domain, not photos. The `objects` suite comes from a renderer it never saw (its colour names are in
  the captions, its object categories are not), and the flat drawings (zero-shot table above; the
  `flat` suite) are simple shapes it never saw in any form.
- Which attributes *plain* image similarity follows is measured, not assumed from how often the
  captions mention them: `condsim bench --suite clevr4` reports plain retrieval mAP per condition
  (the repository's `docs/results`).
- {weakest}
- The zero-shot accuracies above average three prompt templates per class (`ZERO_SHOT_PROMPTS`);
  `condsim bench` reports its own zero-shot accuracies with one prompt per class name, so the two
  need not agree.
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
        where=_where_trained(training),
        curve_rows=curve_rows,
        n_eval=int(zero_shot.get("n_images_per_family", 0)),
        eval_scene_seed=EVAL_SCENE_SEED,
        eval_card_seed=EVAL_CARD_SEED,
        eval_flat_seed=EVAL_FLAT_SEED,
        accuracy_rows=accuracy_rows,
        weakest=_weakest_tasks(zero_shot, config["input_size"]),
    )
    path = model_dir / "MODEL_CARD.md"
    path.write_text(text)
    return path


def _where_trained(training: dict[str, object]) -> str:
    """The device of the run; configs from before condsim recorded it came from the CPU-only recipe."""
    if "device" not in training:
        return "2 shared CPU cores"
    device = str(training["device"])
    threads = training.get("threads")
    if device != "cpu":
        return device
    return f"the CPU, {threads} thread{'' if threads == 1 else 's'}"


def _weakest_tasks(zero_shot: dict[str, float], input_size: int) -> str:
    """The limitation line naming the zero-shot tasks that recover less than half of the way from
    chance to perfect, read from this model's numbers (a template sentence would go stale with every
    retraining)."""
    lifts = {
        name: (zero_shot[name] - CHANCE[name]) / (1.0 - CHANCE[name]) for name in CHANCE if name in zero_shot
    }
    if not lifts:
        return "No zero-shot accuracy was measured for this model."
    weak = sorted((name for name in lifts if lifts[name] < 0.5), key=lambda name: lifts[name])
    if not weak:
        return "Every zero-shot task above is more than halfway from chance to perfect."
    named = ", ".join(
        f"{name} ({zero_shot[name] * 100:.1f} %, chance {CHANCE[name] * 100:.1f} %)" for name in weak
    )
    sentence = (
        f"Less than halfway from chance to perfect zero-shot: {named}. Expect conditional search on "
        f"{'this attribute' if len(weak) == 1 else 'these attributes'} to be weak too"
    )
    # the reason is known for texture only: the rendered textures are a few pixels wide at the input size
    if any(name.endswith("/texture") for name in weak):
        sentence += f" (the rendered textures are a few pixels wide at the {input_size} px input)"
    sentence += "."
    return textwrap.fill(sentence, width=98, subsequent_indent="  ")


def _tensor_shapes(path: Path) -> list[tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return [
            tuple(handle.get_slice(name).get_shape())
            for name in handle.keys()  # noqa: SIM118
            if "running_" not in name and "num_batches" not in name
        ]
