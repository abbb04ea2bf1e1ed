"""The report's opening section, "Summary: what each method adds", rendered from `condsim.eval.summary`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from condsim.eval import markdown as md
from condsim.eval.summary import (
    ReferenceRow,
    chosen_value_rows,
    combine_rows,
    prompt_gain_rows,
    reference_rows,
    rerank_rows,
    sensitivity_rows,
)


def summary_section(results: Mapping[str, Any], suites: list[str]) -> list[str]:
    """Each method against the zero-shot reference (mAP and nDCG@10), how much of CLAY's gain the
    prompts carry, what re-ranking changes at the top, `stack` vs `mean`, and the hyper-parameters
    chosen on validation with their per-condition cost and gain. Empty when the run has none of it."""
    parts: list[str] = []
    for metric, title in (("map", "retrieval mAP"), ("ndcg@10", "the top of the ranking, nDCG@10")):
        parts += _reference_table(reference_rows(results, suites, metric), title, intervals=metric == "map")
    gains = prompt_gain_rows(results, suites)
    variants = list(dict.fromkeys(v for row in gains for v in row.gains))
    parts += _section(
        "How much of CLAY's gain over `plain` the prompts carry (mAP points, split 0)",
        ["suite", "condition", *variants],
        [[r.suite, r.condition, *[md.signed(r.gains.get(v)) for v in variants]] for r in gains],
    )
    parts += _section(
        "What re-ranking CLAY's top 50 changes (`rerank` − `clay`, points, split 0)",
        ["suite", "condition", "precision@10", "nDCG@10", "mAP"],
        [
            [r.suite, r.condition, md.signed(r.precision_at_10), md.signed(r.ndcg_at_10), md.signed(r.map)]
            for r in rerank_rows(results, suites)
        ],
    )
    parts += _section(
        "Several conditions: `stack` (the paper, the default) vs `mean` (mAP, split 0)",
        ["suite", "conditions", "`stack`", "`mean`", "`mean` − `stack`", "paired 95 % interval"],
        [
            [
                r.suite,
                r.conditions,
                md.cell(r.stack),
                md.cell(r.mean),
                md.signed(r.mean - r.stack),
                _interval_text(r.difference_interval),
            ]
            for r in combine_rows(results, suites)
        ],
    )
    parts += _section(
        "Hyper-parameters chosen on the validation split, scored on test (mean over conditions)",
        ["parameter", "metric", "default", "chosen", "test at default", "test at chosen", "validation range"],
        [
            [
                r.sweep,
                r.metric,
                r.default,
                r.chosen + (" (edge of the grid)" if r.chosen_at_grid_edge else ""),
                md.cell(r.test_at_default),
                md.cell(r.test_at_chosen),
                f"{md.cell(r.validation_low)}–{md.cell(r.validation_high)}",
            ]
            for r in sensitivity_rows(results)
        ],
    )
    chosen = chosen_value_rows(results)
    parts += _section(
        "Per condition at the chosen values (test split): default → chosen, and the reference",
        ["parameter", "suite", "condition", "mAP", "nDCG@10", "reference mAP / nDCG@10"],
        [
            [
                f"{r.sweep} {_sweep_values(results, r.sweep)}",
                r.suite,
                r.condition,
                f"{md.cell(r.default.get('map'))} → {md.cell(r.chosen.get('map'))}",
                f"{md.cell(r.default.get('ndcg@10'))} → {md.cell(r.chosen.get('ndcg@10'))}",
                f"{md.cell(r.reference.get('map'))} / {md.cell(r.reference.get('ndcg@10'))}",
            ]
            for r in chosen
        ],
    )
    if not parts:
        return []
    return [
        "## Summary: what each method adds",
        "",
        "`best other` is the best method that is neither `plain` nor the zero-shot reference (ties: the "
        "method listed first). A paired 95 % interval is the Student-t interval of the mean difference "
        "between two methods over the query/database split seeds, split by split; where it excludes 0, "
        "the difference is larger than the split-to-split noise.",
        *parts,
    ]


def _interval_text(interval: tuple[float, float] | None) -> str:
    return "–" if interval is None else f"{md.signed(interval[0])} to {md.signed(interval[1])}"


def _sweep_values(results: Mapping[str, Any], sweep: str) -> str:
    summary = results["sensitivity"]["defaults"][sweep]
    return f"{summary['default']} → {summary['chosen']}"


def _reference_table(rows: list[ReferenceRow], title: str, *, intervals: bool) -> list[str]:
    """One condition per row: the best method that is neither `plain` nor the reference, against the
    reference, and a sentence counting where some method scores above it."""
    if not rows:
        return []
    # "above" as the table shows it: a margin that rounds to +0.0 is a tie
    above = [r for r in rows if round(r.best_minus_reference, 1) > 0]
    names = [f"{r.suite}/{r.condition}" for r in above]
    header = [
        "suite",
        "condition",
        "`plain`",
        "`zero-shot-match`",
        "`clay`",
        "best other",
        "best − reference",
    ]
    header += ["paired 95 % interval"] if intervals else []
    header.append("`clay` − `plain`")
    table = []
    for r in rows:
        row = [r.suite, r.condition, md.cell(r.plain), md.cell(r.reference), md.cell(r.clay),
               f"`{r.best_method}` {md.cell(r.best)}", md.signed(r.best_minus_reference)]  # fmt: skip
        row += [_interval_text(r.difference_interval)] if intervals else []
        table.append([*row, md.signed(r.clay_minus_plain)])
    sentence = f"Some method scores above the reference on {len(above)} of {len(rows)} conditions" + (
        f" ({', '.join(names)})" if names else ""
    )
    if intervals and all(r.difference_interval is None for r in rows):
        sentence += "; no per-split scores were kept, so no paired intervals"
    elif intervals:
        clear = [f"{r.suite}/{r.condition}" for r in above if r.side == "above 0"]
        sentence += f"; with the paired interval of the difference above 0 on {len(clear)}" + (
            f" ({', '.join(clear)})" if clear else ""
        )
    else:
        sentence += " (top-k cells have no intervals: small margins may be noise)"
    return ["", f"### Against the zero-shot reference: {title} (split 0)", "", md.table(header, table), "",
            sentence + "."]  # fmt: skip


def _section(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """A titled table, or nothing when the run produced no rows for it."""
    return ["", f"### {title}", "", md.table(header, rows)] if rows else []
