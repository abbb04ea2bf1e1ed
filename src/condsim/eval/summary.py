"""What each method adds: the derived comparisons a reader of `condsim bench` needs first.

Pure functions from a results.json dictionary (`condsim.eval.bench`) to rows of numbers, and the
summary section of the report (`condsim.eval.report`) that renders them. Every comparison is between
two cells of the same run, so the summary can never disagree with the tables below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from condsim.eval import markdown as md

#: methods that read no prompt: the baselines every other method is compared with
REFERENCE = "zero-shot-match"
PLAIN = "plain"


@dataclass(frozen=True)
class ReferenceRow:
    """One condition: the baselines, CLAY, and the best prompt-using method against the reference."""

    suite: str
    condition: str
    plain: float
    reference: float
    clay: float | None
    best_method: str
    best: float
    #: True when the 95 % intervals over split seeds of the best method and the reference are disjoint
    separated: bool | None

    @property
    def best_minus_reference(self) -> float:
        return self.best - self.reference

    @property
    def clay_minus_plain(self) -> float | None:
        return None if self.clay is None else self.clay - self.plain


def reference_rows(results: Mapping[str, Any], suites: list[str], metric: str = "map") -> list[ReferenceRow]:
    """Per retrieval condition: plain, the zero-shot reference, CLAY and the best other method (split 0),
    and whether the intervals of the best method and the reference are disjoint (mAP only: the top-k
    metrics have no intervals). `metric`: "map", or a `topk` key ("precision@10", "ndcg@10")."""
    rows = []
    for suite in suites:
        for condition, scores in _scores(results, suite, metric).items():
            if PLAIN not in scores or REFERENCE not in scores:
                continue
            others = {m: v for m, v in scores.items() if m not in (PLAIN, REFERENCE)}
            if not others:
                continue
            best_method = max(others, key=lambda m: (others[m], m))
            spans = results.get("intervals", {}).get(suite, {}).get(condition, {}) if metric == "map" else {}
            rows.append(
                ReferenceRow(
                    suite=suite,
                    condition=condition,
                    plain=scores[PLAIN],
                    reference=scores[REFERENCE],
                    clay=scores.get("clay"),
                    best_method=best_method,
                    best=others[best_method],
                    separated=_disjoint(spans.get(best_method), spans.get(REFERENCE)),
                )
            )
    return rows


def _scores(results: Mapping[str, Any], suite: str, metric: str) -> dict[str, dict[str, float]]:
    """condition -> method -> value of `metric` for one suite (split 0)."""
    if metric == "map":
        return {condition: dict(scores) for condition, scores in results[suite].items()}
    return {
        condition: {method: values[metric] for method, values in by_method.items() if metric in values}
        for condition, by_method in results.get("topk", {}).get(suite, {}).items()
    }


def _disjoint(first: Any, second: Any) -> bool | None:
    if not first or not second:
        return None
    return bool(first[1] < second[0] or second[1] < first[0])


def prompt_gain_rows(results: Mapping[str, Any], suites: list[str], method: str = "clay") -> list[list[Any]]:
    """[suite, condition, {prompt set: `method` − plain}] for every condition run with prompt variants."""
    rows: list[list[Any]] = []
    for suite in suites:
        for condition, variants in results.get("prompts", {}).get(suite, {}).items():
            plain = results[suite].get(condition, {}).get(PLAIN)
            if plain is None:
                continue
            gains = {v: by[method] - plain for v, by in variants.items() if method in by}
            if gains:
                rows.append([suite, condition, gains])
    return rows


def rerank_rows(results: Mapping[str, Any], suites: list[str]) -> list[list[Any]]:
    """[suite, condition, ΔP@10, ΔnDCG@10, ΔmAP] of `rerank` over `clay`, whose top 50 it reorders."""
    rows: list[list[Any]] = []
    for suite in suites:
        for condition, by_method in results.get("topk", {}).get(suite, {}).items():
            clay, rerank = by_method.get("clay"), by_method.get("rerank")
            scores = results[suite].get(condition, {})
            if not clay or not rerank or "clay" not in scores or "rerank" not in scores:
                continue
            rows.append(
                [
                    suite,
                    condition,
                    rerank["precision@10"] - clay["precision@10"],
                    rerank["ndcg@10"] - clay["ndcg@10"],
                    scores["rerank"] - scores["clay"],
                ]
            )
    return rows


def combine_rows(results: Mapping[str, Any], suites: list[str]) -> list[list[Any]]:
    """[suite, conditions, stack, mean, mean − stack] for every multi-condition pair."""
    rows: list[list[Any]] = []
    for suite in suites:
        for combo, scores in results.get("multi_condition", {}).get(suite, {}).items():
            if "clay-stacked" in scores and "clay-mean" in scores:
                stack, mean = scores["clay-stacked"], scores["clay-mean"]
                rows.append([suite, combo, stack, mean, mean - stack])
    return rows


def sensitivity_rows(results: Mapping[str, Any]) -> list[list[Any]]:
    """[sweep, metric, default, chosen, test at default, test at chosen, validation low, high]."""
    rows: list[list[Any]] = []
    for sweep, summary in results.get("sensitivity", {}).get("defaults", {}).items():
        validation = summary["validation"].values()
        default, chosen = summary["default"], summary["chosen"]
        rows.append(
            [
                sweep,
                summary["metric"],
                default,
                chosen,
                summary["test"].get(default),
                summary["test"].get(chosen),
                min(validation),
                max(validation),
            ]
        )
    return rows


def _reference_table(rows: list[ReferenceRow], title: str, *, intervals: bool) -> list[str]:
    """One condition per row: the best method that is neither `plain` nor the reference, against the
    reference, and a sentence counting where some method beats it."""
    if not rows:
        return []
    # "above" as the table shows it: a margin that rounds to +0.0 is a tie
    above = [r for r in rows if round(r.best_minus_reference, 1) > 0]
    beaten = [f"{r.suite}/{r.condition}" for r in above]
    header = [
        "suite",
        "condition",
        "`plain`",
        "`zero-shot-match`",
        "`clay`",
        "best other",
        "best − reference",
    ]
    header += ["disjoint"] if intervals else []
    table = []
    for r in rows:
        row = [r.suite, r.condition, md.cell(r.plain), md.cell(r.reference), md.cell(r.clay),
               f"`{r.best_method}` {md.cell(r.best)}", md.signed(r.best_minus_reference)]  # fmt: skip
        row += [{True: "yes", False: "no", None: "–"}[r.separated]] if intervals else []
        table.append([*row, md.signed(r.clay_minus_plain)])
    header.append("`clay` − `plain`")
    sentence = f"Some method scores above the reference on {len(beaten)} of {len(rows)} conditions" + (
        f" ({', '.join(beaten)})" if beaten else ""
    )
    if intervals:
        separated = [f"{r.suite}/{r.condition}" for r in above if r.separated]
        sentence += f"; with disjoint intervals on {len(separated)}" + (
            f" ({', '.join(separated)})" if separated else ""
        )
    return ["", f"### Against the zero-shot reference: {title} (split 0)", "", md.table(header, table), "",
            sentence + "."]  # fmt: skip


def summary_section(results: Mapping[str, Any], suites: list[str]) -> list[str]:
    """The derived comparisons (`condsim.eval.summary`): each method against the zero-shot reference,
    how much of CLAY's gain the prompts carry, what re-ranking changes at the top, `stack` vs `mean`,
    and the hyper-parameters chosen on validation."""
    parts = [
        "## Summary: what each method adds",
        "",
        "`best other` is the best method that is neither `plain` nor the zero-shot reference; "
        "`disjoint` says whether its 95 % interval over split seeds and the reference's do not overlap.",
    ]
    for metric, title in (("map", "retrieval mAP"), ("ndcg@10", "the top of the ranking, nDCG@10")):
        parts += _reference_table(reference_rows(results, suites, metric), title, intervals=metric == "map")
    gains = prompt_gain_rows(results, suites)
    variants = list(dict.fromkeys(v for row in gains for v in row[2]))
    parts += _section(
        "How much of CLAY's gain over `plain` the prompts carry (mAP points, split 0)",
        ["suite", "condition", *variants],
        [[suite, condition, *[md.signed(by.get(v)) for v in variants]] for suite, condition, by in gains],
    )
    parts += _section(
        "What re-ranking CLAY's top 50 changes (`rerank` − `clay`, points, split 0)",
        ["suite", "condition", "precision@10", "nDCG@10", "mAP"],
        [
            [suite, condition, *map(md.signed, deltas)]
            for suite, condition, *deltas in rerank_rows(results, suites)
        ],
    )
    parts += _section(
        "Several conditions: `stack` (the paper, the default) vs `mean` (mAP, split 0)",
        ["suite", "conditions", "`stack`", "`mean`", "`mean` − `stack`"],
        [
            [suite, combo, md.cell(stack), md.cell(mean), md.signed(delta)]
            for suite, combo, stack, mean, delta in combine_rows(results, suites)
        ],
    )
    parts += _section(
        "Hyper-parameters chosen on the validation split, scored on test (mean over conditions)",
        ["parameter", "metric", "default", "chosen", "test at default", "test at chosen", "validation range"],
        [
            [
                sweep,
                metric,
                default,
                chosen,
                md.cell(at_default),
                md.cell(at_chosen),
                f"{md.cell(low)}–{md.cell(high)}",
            ]
            for sweep, metric, default, chosen, at_default, at_chosen, low, high in sensitivity_rows(results)
        ],
    )
    return parts


def _section(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """A titled table, or nothing when the run produced no rows for it."""
    return ["", f"### {title}", "", md.table(header, rows)] if rows else []
