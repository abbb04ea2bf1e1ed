"""The benchmarks `condsim bench` runs: the rendered suites, the held-out domain and the user's data.

A `Suite` names a dataset, the built-in vocabulary that prompts each labelled condition, CRL's
published list for it (if any), the multi-condition pairs and the comparative attributes.

* ``clevr4``, ``cards``, ``objects``: the rendered stand-ins of the papers' benchmarks
  (`condsim.data.datasets`). They are *in-domain* for the built-in model: its training images come
  from the same renderers (other seeds) and its captions name the same classes.
* ``flat``: the held-out domain: flat PIL drawings (`condsim.data.flat`) that the built-in model never
  saw in any form, labelled by colour and shape, with the same methods.
* ``--data KIND:PATH`` (`user_data_suite`): the user's own labelled images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from condsim.conditions import get_condition
from condsim.data.flat import draw_flat_shapes
from condsim.data.loaders import LabelledImages, encode_labels, load_clevr4, load_csv, load_image_folders
from condsim.data.seeds import check_not_training_seed
from condsim.errors import InvalidInputError, UnknownConditionError
from condsim.eval.protocols import Comparative


@dataclass(frozen=True)
class Suite:
    """One benchmark: its dataset, the vocabulary behind each labelled condition, and what else to run.

    ``crl_lists`` maps a condition to its (dataset, criterion) entry in CRL's published text lists.
    """

    dataset: str
    conditions: dict[str, str]
    crl_lists: dict[str, tuple[str, str]] = field(default_factory=dict)
    multi: tuple[tuple[str, ...], ...] = ()
    comparatives: tuple[Comparative, ...] = ()


SUITES: dict[str, Suite] = {
    "clevr4": Suite(
        dataset="clevr4",
        conditions={"color": "color", "shape": "shape", "texture": "texture", "count": "count"},
        crl_lists={c: ("clevr4", c) for c in ("color", "shape", "texture", "count")},
        multi=(("color", "shape"), ("shape", "count")),
        comparatives=(
            Comparative(
                "count",
                more="The first image has more objects than the second.",
                less="The first image has fewer objects than the second.",
            ),
        ),
    ),
    "cards": Suite(
        dataset="cards",
        conditions={"number": "card rank", "suit": "suit"},
        crl_lists={"number": ("cards", "number"), "suit": ("cards", "suits")},
        multi=(("number", "suit"),),
        comparatives=(
            Comparative(
                "number",
                more="The first card has a higher number than the second.",
                less="The first card has a lower number than the second.",
            ),
        ),
    ),
    "objects": Suite(
        dataset="objects",
        # the built-in "category" vocabulary names both levels (animal, vehicle, ... and cat, bus, ...)
        conditions={"category": "category", "subcategory": "category", "color": "color"},
        multi=(("color", "category"), ("color", "subcategory")),
        comparatives=(
            Comparative(
                "size",
                more="The first object is larger than the second.",
                less="The first object is smaller than the second.",
            ),
        ),
    ),
}
#: the held-out domain (never seen by the built-in model), run with ``--suite all`` after `SUITES`
HELD_OUT = "flat"
HELD_OUT_SUITE = Suite(
    dataset=HELD_OUT, conditions={"color": "color", "shape": "shape"}, multi=(("color", "shape"),)
)
#: the flat drawings' evaluation seed (not a training seed, not the model card's zero-shot seed)
HELD_OUT_SEED = 20_240_004


def held_out_images(n: int, size: int = 128, seed: int = HELD_OUT_SEED) -> LabelledImages:
    """`n` flat drawings labelled by colour and shape (the held-out-domain suite)."""
    check_not_training_seed(seed)
    images, labels = draw_flat_shapes(n, seed, size)
    label_arrays, classes = {}, {}
    for condition in ("color", "shape"):
        label_arrays[condition], classes[condition] = encode_labels([label[condition] for label in labels])
    return LabelledImages(
        name=HELD_OUT,
        images=images,
        labels=label_arrays,
        classes=classes,
        cache_key=f"{HELD_OUT}-n{n}-seed{seed}-px{size}",
    )


def resolve_suites(suite: str) -> list[str]:
    """'all' or one suite name -> the suite names to run (``all`` includes the held-out domain)."""
    if suite == "all":
        return [*SUITES, HELD_OUT]
    if suite not in SUITES and suite != HELD_OUT:
        raise UnknownConditionError(
            f"unknown suite {suite!r}", hint=f"choose one of {', '.join([*SUITES, HELD_OUT])} or all"
        )
    return [suite]


def suite_of(name: str) -> Suite:
    """The `Suite` of a name from `resolve_suites`."""
    return HELD_OUT_SUITE if name == HELD_OUT else SUITES[name]


DATA_KINDS = ("clevr4", "folders", "csv")


def user_data_suite(spec: str) -> tuple[str, Suite, LabelledImages]:
    """A benchmark on the user's own labelled images: ``KIND:PATH`` with KIND one of `DATA_KINDS`.

    ``clevr4:DIR`` reads the official Clevr-4 layout and runs the clevr4 suite (multi-condition
    pairs and the count comparison included); ``folders:DIR`` (one sub-folder per condition, one
    sub-sub-folder per class) and ``csv:FILE`` (a path column and one column per condition) run
    retrieval, clustering and few-shot for every labelled condition. Each condition is prompted with
    the built-in vocabulary of its name (colour, shape, action, mood, ...).
    """
    kind, separator, location = spec.partition(":")
    if not separator or kind not in DATA_KINDS or not location:
        raise InvalidInputError(
            f"--data {spec!r}: expected KIND:PATH", hint="e.g. clevr4:~/clevr_4_10k_v1, folders:DIR, csv:FILE"
        )
    path = Path(location).expanduser()
    if kind == "clevr4":
        images = load_clevr4(path)
        return images.name, SUITES["clevr4"], images
    images = load_image_folders(path) if kind == "folders" else load_csv(path)
    conditions = {}
    for condition in images.conditions:
        try:
            conditions[condition] = get_condition(condition).key
        except UnknownConditionError as error:
            raise UnknownConditionError(
                f"--data {spec}: condition {condition!r} has no built-in vocabulary to prompt it with",
                hint="name that column or folder after a built-in condition or one of its aliases "
                "(`condsim conditions` lists them); bench prompts built-in vocabularies only",
            ) from error
    return images.name, Suite(dataset=images.name, conditions=conditions), images
