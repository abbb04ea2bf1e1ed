"""The one set of rules on a query's conditions and weights (`condsim.collection.query_inputs`), shared by
the command line, the service and `Collection`: each refusal names the input at fault, worded as the
front end that asked spells it."""

from __future__ import annotations

from pathlib import Path

import pytest

from condsim.collection import Collection, index_folder
from condsim.collection.query_inputs import (
    PYTHON_SPELLING,
    QueryInputError,
    Spelling,
    check_conditions,
    check_weight,
    custom_condition,
    parse_weights,
)
from condsim.conditions import get_condition
from condsim.demo import render_collection
from helpers import FakeEncoder

SERVICE = Spelling(lead="parameter '{name}'", mention="'{name}'")
CLI = Spelling(names={"not": "--not", "by": "--by", "method": "--method"}, setting="{name} {value}")
CONDITIONS = {"color": get_condition("color"), "shape": get_condition("shape")}


@pytest.mark.parametrize(
    ("by", "not_", "method", "parameter", "words"),
    [
        (["color", "colour"], [], "clay", "by", "given twice"),
        ([], ["color"], "clay", "not", "there is none"),
        (["shape"], ["color"], "crl", "not", "only"),
        (["shape"], ["color"], "rerank", "not", "only"),
        (["color"], ["colour"], "clay", "not", "in both"),
        (["color"], [], "plain", "method", "plain similarity ignores conditions"),
    ],
)
def test_conditions_that_cannot_mean_anything_are_refused(
    by: list[str], not_: list[str], method: str, parameter: str, words: str
) -> None:
    with pytest.raises(QueryInputError, match=words) as refused:
        check_conditions(by, not_, method, SERVICE)
    assert refused.value.parameter == parameter
    assert str(refused.value).startswith(f"parameter '{parameter}': ")


def test_each_front_end_reads_its_own_words() -> None:
    with pytest.raises(QueryInputError) as cli:
        check_conditions(["shape"], ["color"], "crl", CLI)
    assert str(cli.value).startswith("--not: ") and cli.value.hint == "use --method clay"
    with pytest.raises(QueryInputError) as python:
        check_conditions(["shape"], ["color"], "crl", PYTHON_SPELLING)
    assert str(python.value).startswith("not_: ") and python.value.hint == "use method='clay'"
    check_conditions(["shape"], ["color"], "clay", CLI)  # a valid combination passes


@pytest.mark.parametrize("weight", [1e308, 0.0, -1.0, float("inf"), float("nan"), 1e-9, True])
def test_a_weight_is_a_bounded_positive_number(weight: float) -> None:
    with pytest.raises(QueryInputError, match=r"between 0\.001 and 1000") as refused:
        check_weight("color", weight)
    assert refused.value.parameter == "weight"
    assert check_weight("color", 1000) == 1000.0 and check_weight("color", 1e-3) == 1e-3


def test_typed_weights_are_parsed_once_per_condition() -> None:
    assert parse_weights([], CONDITIONS) is None
    assert parse_weights(["colour=2", "shape=0.5"], CONDITIONS, SERVICE) == {"color": 2.0, "shape": 0.5}
    for entries, words in [
        (["color=2", "colour=3"], "already has a weight"),
        (["color=x"], "is not COND=W"),
        (["=2"], "is not COND=W"),
        (["texture=2"], "not one of the 'by' conditions"),
        (["color=1e308"], "between"),
    ]:
        with pytest.raises(QueryInputError, match=words) as refused:
            parse_weights(entries, CONDITIONS, SERVICE)
        assert refused.value.parameter == "weight"
    with pytest.raises(QueryInputError, match="at least one 'by' condition"):
        parse_weights(["color=2"], {}, SERVICE)


def test_a_list_of_values_too_short_to_separate_images_is_refused() -> None:
    with pytest.raises(QueryInputError, match="cannot separate images") as refused:
        custom_condition("finish", ["glossy", "matte", " Glossy "], "values=finish:...", SERVICE)
    assert refused.value.parameter == "values" and "values=finish:..." in str(refused.value)
    condition = custom_condition(" fabric ", ["cotton", "silk", "wool"], "values=fabric:...", SERVICE)
    assert condition.name == "fabric" and len(condition) == 3


def test_the_python_api_keeps_the_same_rules(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    folder = tmp_path / "images"
    render_collection(folder, 6)
    index_folder(folder, tmp_path / "store", fake_encoder, show_progress=False)
    query = str(folder / "scene_00000.png")
    with Collection.open(tmp_path / "store", fake_encoder) as collection:
        with pytest.raises(QueryInputError, match="only") as negative:
            collection.similar(query, by=["shape"], not_=["color"], method="crl", k=3)
        assert negative.value.parameter == "not"
        with pytest.raises(QueryInputError, match="between") as huge:
            collection.similar(query, by=["color", "shape"], weights={"color": 1e308}, k=3)
        assert huge.value.parameter == "weight"
        with pytest.raises(QueryInputError, match="given twice"):
            collection.similar(query, by=["color", get_condition("colour")], k=3)
        assert len(collection.similar(query, by=["color", "shape"], weights={"color": 1000}, k=3)) == 3
