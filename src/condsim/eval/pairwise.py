"""What PC-CLIP finetuning should change and what it should keep, for any encoder, in one call.

* Difference accuracy (methods.md §4.3): on evaluation-seed images of each suite, a pair is correct
  when its true difference sentence points from the second image to the first (`text`), or along
  e(more) − e(less) (`contrast`); percent, chance 50 (`condsim.eval.protocols.difference_accuracy`
  with each suite's comparative sentences).
* Zero-shot accuracy per condition: each image gets the class whose prompt (the class name in the
  condition vocabulary's CLAY wording, "a photo of a red object") is nearest; percent. A finetuned
  text tower must keep it.

`pairwise_scores` returns both as ``{"difference": {suite: {attribute: {"text", "contrast"}}},
"zero_shot": {suite: {condition: accuracy}}}``: the before/after numbers of `condsim finetune`'s
model card, and what `condsim bench` reports under the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from condsim.conditions import get_condition
from condsim.data.datasets import generated_dataset
from condsim.encoders.base import Encoder
from condsim.eval import protocols
from condsim.eval.embed import EmbeddedDataset, embed_dataset
from condsim.eval.suites import SUITES
from condsim.eval.variants import builtin_texts

#: images per suite, and difference seeds of 100 images each (the bench's --quick sizes)
DEFAULT_IMAGES = 1000
DEFAULT_SEEDS = 2


def zero_shot_accuracy(dataset: EmbeddedDataset, condition: str, vocabulary: str, encoder: Encoder) -> float:
    """Percent of images whose nearest class prompt (vocabulary wording of the class name) is their class
    (`condsim.eval.protocols.zero_shot_accuracy`, the bench's ``zero_shot`` key)."""
    texts, _ = builtin_texts(condition, get_condition(vocabulary), dataset.classes[condition], encoder)
    return protocols.zero_shot_accuracy(dataset, condition, texts)


def pairwise_scores(
    encoder: Encoder,
    *,
    suites: Sequence[str] = tuple(SUITES),
    images: int = DEFAULT_IMAGES,
    seeds: int = DEFAULT_SEEDS,
    cache: bool = True,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Difference and zero-shot accuracy of `encoder` on each suite's evaluation-seed images."""
    difference: dict[str, dict[str, dict[str, float]]] = {}
    zero_shot: dict[str, dict[str, float]] = {}
    for name in suites:
        suite = SUITES[name]
        dataset = embed_dataset(
            generated_dataset(suite.dataset, n=images), encoder, cache=cache, show_progress=show_progress
        )
        for comparative in suite.comparatives:
            more, less = encoder.encode_texts([comparative.more, comparative.less])
            scores = protocols.difference_accuracy(dataset, comparative, more, less, seeds=seeds)
            difference.setdefault(name, {})[comparative.attribute] = {
                key: round(value, 2) for key, value in scores.items()
            }
        zero_shot[name] = {
            condition: round(zero_shot_accuracy(dataset, condition, vocabulary, encoder), 2)
            for condition, vocabulary in suite.conditions.items()
        }
    return {"difference": difference, "zero_shot": zero_shot}
