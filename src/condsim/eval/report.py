"""Markdown tables and bar-chart PNGs from a results.json dictionary (`condsim.eval.bench`).

The papers' own numbers (methods.md §1.5 CLAY Tables 2b / 4 / 5, §2.5 CRL Tables 1 / 2) are printed
beside ours where the benchmark is comparable in kind. They were measured on the real Clevr-4 /
Cards / CLAY-EVAL with CLIP ViT-B; ours on rendered stand-ins with whatever model ran: compare the
*direction and size of effects* (CLAY vs plain, CRL vs plain), not the absolute values.
Charts: `condsim.eval.charts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from condsim.eval import markdown as md
from condsim.eval.charts import bar_chart, line_panels
from condsim.eval.report_summary import summary_section
from condsim.eval.stages import RESULT_KEYS

#: CLAY Table 2(b) / Table 4 (mAP): suite -> condition -> {paper row: value}
PAPER_RETRIEVAL: dict[str, dict[str, dict[str, float]]] = {
    "clevr4": {
        "shape": {"CLIP-B": 61.7, "GeneCIS†": 72.6, "CLAY (CLIP-B)": 72.1},
        "color": {"CLIP-B": 19.9, "GeneCIS†": 17.4, "CLAY (CLIP-B)": 67.9},
        "texture": {"CLIP-B": 18.1, "GeneCIS†": 18.1, "CLAY (CLIP-B)": 22.2},
        "count": {"CLIP-B": 13.9, "GeneCIS†": 12.7, "CLAY (CLIP-B)": 21.8},
    },
    "objects": {
        "color": {"CLIP-B": 12.9, "GeneCIS†": 11.9, "CLAY (CLIP-B)": 47.8},
        "category": {"CLIP-B": 68.9, "GeneCIS†": 84.3, "CLAY (CLIP-B)": 93.4},
        "subcategory": {"CLIP-B": 42.4, "GeneCIS†": 39.6, "CLAY (CLIP-B)": 65.8},
    },
}
#: which of our methods a paper row corresponds to
PAPER_ROW_OF: dict[str, str] = {"CLIP-B": "plain", "CLAY (CLIP-B)": "clay"}
PAPER_MULTI: dict[str, dict[str, dict[str, float]]] = {
    "objects": {
        "color+category": {"CLIP-B": 11.6, "CLAY (CLIP-B)": 35.9},
        "color+subcategory": {"CLIP-B": 10.9, "CLAY (CLIP-B)": 38.2},
    }
}
#: CLAY Table 5, Clevr4 group (CLIP-B): mean mAP without / with the manifold
PAPER_MANIFOLD_CLEVR4 = {"clay-euclidean": 43.8, "clay": 46.0}
#: CRL Table 2 (ViT-B/32): condition -> {"CLIP" | "CLIP+CRL": (NMI, ACC, ARI)}
PAPER_CLUSTERING: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = {
    "clevr4": {
        "texture": {"CLIP": (1.11, 13.09, 0.41), "CLIP+CRL": (10.74, 25.11, 6.35)},
        "shape": {"CLIP": (74.22, 73.19, 64.15), "CLIP+CRL": (78.69, 83.05, 72.42)},
        "color": {"CLIP": (0.83, 12.23, 0.27), "CLIP+CRL": (88.67, 88.05, 82.30)},
        "count": {"CLIP": (9.50, 19.02, 5.70), "CLIP+CRL": (25.57, 26.24, 12.54)},
    },
    "cards": {
        "number": {"CLIP": (16.84, 18.91, 8.44), "CLIP+CRL": (24.79, 28.19, 12.14)},
        "suit": {"CLIP": (16.52, 43.74, 12.93), "CLIP+CRL": (39.71, 67.15, 37.59)},
    },
}
#: CRL Table 1 (ViT-B/32): condition -> {"CLIP" | "CLIP+CRL": (1-shot, 5-shot, 10-shot)}
PAPER_FEWSHOT: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = {
    "clevr4": {
        "texture": {"CLIP": (17.46, 29.39, 36.26), "CLIP+CRL": (18.76, 35.54, 45.54)},
        "shape": {"CLIP": (58.16, 83.17, 89.47), "CLIP+CRL": (58.67, 86.61, 92.29)},
        "color": {"CLIP": (26.85, 57.33, 70.00), "CLIP+CRL": (65.28, 88.89, 93.08)},
        "count": {"CLIP": (17.50, 23.43, 25.45), "CLIP+CRL": (23.38, 29.59, 32.40)},
    },
    "cards": {
        "number": {"CLIP": (20.63, 33.73, 41.84), "CLIP+CRL": (17.66, 44.52, 51.09)},
        "suit": {"CLIP": (37.65, 56.36, 65.98), "CLIP+CRL": (37.10, 67.16, 72.64)},
    },
}
SUITE_NAMES = ("clevr4", "cards", "objects", "flat")
#: top-level results.json keys that are not a suite's own retrieval table
_NOT_SUITES = (*RESULT_KEYS, "sensitivity", "meta")


def suite_names(results: Mapping[str, Any]) -> list[str]:
    """The retrieval suites in `results`: the generated ones first, then the user's own data."""
    others = [key for key in results if key not in SUITE_NAMES and key not in _NOT_SUITES]
    return [name for name in SUITE_NAMES if name in results] + others


def retrieval_table(
    suite: str,
    scores: Mapping[str, Mapping[str, float]],
    intervals: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Methods × conditions mAP table (each cell with its interval over split seeds, when given),
    with the paper's rows below ours where they exist."""
    conditions = list(scores)
    methods = list(dict.fromkeys(m for c in conditions for m in scores[c]))
    spans = intervals or {}
    rows = [
        [f"`{m}`"]
        + [md.with_interval(scores[c].get(m), spans.get(c, {}).get(m)) for c in conditions]
        + [md.cell(_mean(scores, m))]
        for m in methods
    ]
    paper = PAPER_RETRIEVAL.get(suite, {})
    for row_name in ("CLIP-B", "GeneCIS†", "CLAY (CLIP-B)"):
        if any(row_name in paper.get(c, {}) for c in conditions):
            values = [paper.get(c, {}).get(row_name) for c in conditions]
            known = [v for v in values if v is not None]
            mean = sum(known) / len(known) if len(known) == len(values) else None
            rows.append([f"paper: {row_name}"] + [md.cell(v) for v in values] + [md.cell(mean)])
    return md.table(["method", *conditions, "mean"], rows)


def _mean(scores: Mapping[str, Mapping[str, float]], method: str) -> float | None:
    values = [scores[c][method] for c in scores if method in scores[c]]
    return sum(values) / len(values) if len(values) == len(scores) else None


_PREAMBLE = (
    "Scores in percent (retrieval mAP under a seeded 1:9 query:database split, split seed 0, with the 95 % "
    "Student-t interval of the mean over {splits} split seeds in brackets (the mean's interval: one split's "
    "value can fall outside it); clustering NMI/ACC/ARI; few-shot "
    "accuracy; difference accuracy), Spearman ρ for ranking. `zero-shot-match` is the trivial reference: "
    "each image labelled zero-shot from its class name, the database ranked by label agreement, ties by "
    "plain cosine. Paper rows (docs/methods.md) were measured with CLIP ViT-B on the real Clevr-4 / "
    "Cards / CLAY-EVAL; ours on rendered stand-ins: compare effects (CLAY or CRL vs plain, and vs the "
    "zero-shot reference), not absolute values."
)


def _suite_header(suite: str, info: Mapping[str, Any], zero_shot: Mapping[str, float] | None) -> list[str]:
    parts: list[str] = []
    if info:
        dataset = info.get("dataset", {})
        rendering = f" (seed {dataset['seed']}, {dataset.get('size', '?')} px)" if "seed" in dataset else ""
        parts.append(
            f"{dataset.get('n', '?')} images{rendering}, classes per condition: "
            f"{md.spelled(info.get('classes'))}; "
            f"embedding {info.get('seconds_embedding')} s, protocol tasks {info.get('seconds_protocols')} s "
            "(summed over the worker processes: with --jobs > 1 it can exceed the wall time)."
        )
        prompts = info.get("prompts", {})
        if prompts:
            parts += [
                "",
                "Prompts: " + "; ".join(f"{c}: CLAY {p['clay']}, CRL {p['crl']}" for c, p in prompts.items()),
            ]
    if zero_shot:
        parts += [
            "",
            "Zero-shot accuracy (class-name prompts, all images): "
            + ", ".join(f"{c} {md.cell(v)} %" for c, v in zero_shot.items())
            + ".",
        ]
    return parts


def render_markdown(results: Mapping[str, Any]) -> str:
    """The whole report as markdown."""
    meta = results.get("meta", {})
    settings = meta.get("settings", {})
    parts = ["# condsim bench results", ""]
    versions = ", ".join(f"{name} {version}" for name, version in meta.get("versions", {}).items())
    parts.append(
        f"Model: `{meta.get('model_id', '?')}`; commit `{meta.get('commit', '?')}`; "
        f"versions: {versions or '?'}; total {meta.get('seconds', '?')} s on {meta.get('jobs', 1)} worker(s)."
    )
    parts += [
        "",
        f"Settings: {_settings_text(settings)}.",
        "",
        _PREAMBLE.format(splits=settings.get("split_seeds", "?")),
    ]
    summary = summary_section(results, suite_names(results))
    parts += ["", *summary] if summary else []
    for suite in suite_names(results):
        parts += ["", f"## {suite}", ""]
        parts += _suite_header(
            suite, meta.get("suites", {}).get(suite, {}), results.get("zero_shot", {}).get(suite)
        )
        intervals = results.get("intervals", {}).get(suite, {})
        parts += ["", "### Retrieval mAP", "", retrieval_table(suite, results[suite], intervals), ""]
        parts.append(f"![{suite} retrieval]({suite}_retrieval.png)")
        if suite == "clevr4":
            ours = {m: _mean(results[suite], m) for m in ("clay-euclidean", "clay")}
            parts += [
                "",
                "Manifold ablation (CLAY Table 5, Clevr4 mean): "
                f"ours euclidean {md.cell(ours['clay-euclidean'])} vs manifold {md.cell(ours['clay'])}; "
                f"paper {PAPER_MANIFOLD_CLEVR4['clay-euclidean']} vs {PAPER_MANIFOLD_CLEVR4['clay']}.",
            ]
        topk = results.get("topk", {}).get(suite)
        if topk:
            parts += ["", "### Top of the ranking: precision@10 / nDCG@10 (split 0)", "", topk_table(topk)]
        prompts = results.get("prompts", {}).get(suite)
        if prompts:
            table = prompt_table(prompts, results[suite], meta.get("suites", {}).get(suite, {}))
            parts += ["", "### How much the prompts carry: mAP by prompt set (split 0)", "", table]
        multi = results.get("multi_condition", {}).get(suite)
        if multi:
            heading = "### Multi-condition mAP (relevant iff all conditions match)"
            parts += ["", heading, "", _multi_table(suite, multi, intervals)]
        clustering = results.get("clustering", {}).get(suite)
        if clustering:
            parts += [
                "",
                "### Clustering (k-means) NMI / ACC / ARI",
                "",
                _clustering_table(suite, clustering),
            ]
        fewshot = results.get("fewshot", {}).get(suite)
        if fewshot:
            parts += ["", "### Few-shot accuracy (logistic regression), shots 1 / 5 / 10", "",
                      _fewshot_table(suite, fewshot)]  # fmt: skip
        difference = results.get("difference", {}).get(suite)
        if difference:
            rows = []
            for attribute, scores in difference.items():
                ranking = results.get("ranking", {}).get(suite, {}).get(attribute, {})
                for variant, accuracy in scores.items():
                    rows.append([attribute, variant, md.cell(accuracy), md.cell(ranking.get(variant), 3)])
            heading = "### PC-CLIP difference accuracy (chance 50) and attribute ranking (Spearman ρ)"
            header = ["attribute", "direction", "difference acc.", "ranking ρ"]
            parts += ["", heading, "", md.table(header, rows)]
        comparative = results.get("comparative", {}).get(suite)
        if comparative:
            heading = "### Comparative prompting (PC-CLIP §4.2): zero-shot accuracy on the confused classes"
            parts += ["", heading, "", comparative_table(comparative)]
    sensitivity = results.get("sensitivity")
    if sensitivity:
        parts += ["", *sensitivity_section(sensitivity)]
    parts.append("")
    return "\n".join(parts)


def _settings_text(settings: Mapping[str, Any]) -> str:
    return (
        "; ".join(f"{name.replace('_', ' ')}: {md.spelled(value)}" for name, value in settings.items()) or "?"
    )


def topk_table(topk: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Methods × conditions cells "P@10 / nDCG@10"."""
    conditions = list(topk)
    methods = list(dict.fromkeys(m for c in conditions for m in topk[c]))

    def pair(values: Mapping[str, float] | None) -> str:
        if not values:
            return "–"
        return f"{md.cell(values.get('precision@10'))} / {md.cell(values.get('ndcg@10'))}"

    return md.table(
        ["method", *conditions], [[f"`{m}`"] + [pair(topk[c].get(m)) for c in conditions] for m in methods]
    )


def prompt_table(
    prompts: Mapping[str, Mapping[str, Mapping[str, float]]],
    scores: Mapping[str, Mapping[str, float]],
    info: Mapping[str, Any],
) -> str:
    """(condition, prompt set) × text-side methods mAP, with plain and zero-shot-match (which use no
    prompts) as references, and the number of prompts of each set."""
    methods = list(dict.fromkeys(m for c in prompts for v in prompts[c] for m in prompts[c][v]))
    sizes = {c: p.get("values", {}) for c, p in info.get("prompts", {}).items()}
    rows = []
    for condition, variants in prompts.items():
        references = [md.cell(scores.get(condition, {}).get(name)) for name in ("plain", "zero-shot-match")]
        for variant, by_method in variants.items():
            label = f"{condition}: {variant} ({sizes.get(condition, {}).get(variant, '?')} prompts)"
            rows.append([label, *[md.cell(by_method.get(m)) for m in methods], *references])
    return md.table(["prompts", *[f"`{m}`" for m in methods], "`plain`", "`zero-shot-match`"], rows)


def comparative_table(comparative: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for condition, result in comparative.items():
        pairs = ", ".join(f"{a}↔{b}" for a, b in result.get("pairs", []))
        rows.append([condition, pairs or "none", str(result.get("images", 0)), md.cell(result.get("without")),
                     md.cell(result.get("with"))])  # fmt: skip
    return md.table(["condition", "confused pairs (validation)", "test images", "without", "with"], rows)


def sensitivity_section(sensitivity: Mapping[str, Any]) -> list[str]:
    """Per sweep: the validation score of every value per suite/condition and its mean, the test mean
    of the chosen value and of the default (the chart is sensitivity.png)."""
    seeds = sensitivity.get("validation_seeds", {})
    parts = [
        "## Sensitivity, and defaults chosen on a validation split",
        "",
        "Each hyper-parameter is varied alone (the others at their defaults) on validation images: the "
        f"same renderers with seeds {md.spelled(seeds)}, neither training nor test seeds. The value with "
        "the best mean validation score is chosen; only it and the default are then scored on the test "
        "split. CLAY k and β are chosen on mAP, the re-ranker (which only reorders CLAY's top 50) on "
        "nDCG@10.",
    ]
    validation = sensitivity.get("validation", {})
    for sweep, summary in sensitivity.get("defaults", {}).items():
        metric = summary["metric"]
        columns = [(s, c) for s in validation for c in next(iter(validation[s].get(sweep, {}).values()), {})]
        header = [
            "value",
            *[f"{s}:{c}" for s, c in columns],
            f"validation mean {metric}",
            f"test mean {metric}",
        ]
        rows = []
        for value in summary["validation"]:
            marks = [mark for mark in ("chosen", "default") if summary[mark] == value]
            label = value + (f" ({', '.join(marks)})" if marks else "")
            cells = [
                md.cell(validation[s].get(sweep, {}).get(value, {}).get(c, {}).get(metric))
                for s, c in columns
            ]
            rows.append(
                [
                    label,
                    *cells,
                    md.cell(summary["validation"].get(value)),
                    md.cell(summary["test"].get(value)),
                ]
            )
        parts += ["", f"### {sweep} (validation {metric} per condition)", "", md.table(header, rows)]
    parts += ["", "![sensitivity](sensitivity.png)"]
    return parts


def _multi_table(
    suite: str, multi: Mapping[str, Mapping[str, float]], intervals: Mapping[str, Mapping[str, Any]]
) -> str:
    combos = list(multi)
    methods = list(dict.fromkeys(m for c in combos for m in multi[c] if not m.endswith("-only")))
    rows = [
        [f"`{m}`"] + [md.with_interval(multi[c].get(m), intervals.get(c, {}).get(m)) for c in combos]
        for m in methods
    ]
    only = {c: {m: v for m, v in multi[c].items() if m.endswith("-only")} for c in combos}
    rows.append(
        ["best single-condition CLAY"] + [md.cell(max(only[c].values()) if only[c] else None) for c in combos]
    )
    paper = PAPER_MULTI.get(suite, {})
    for row_name in ("CLIP-B", "CLAY (CLIP-B)"):
        if any(c in paper for c in combos):
            rows.append([f"paper: {row_name}"] + [md.cell(paper.get(c, {}).get(row_name)) for c in combos])
    return md.table(["method", *combos], rows)


def _clustering_table(suite: str, clustering: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    conditions = list(clustering)
    methods = list(dict.fromkeys(m for c in conditions for m in clustering[c]))

    def triple(values: Mapping[str, float] | tuple[float, float, float] | None) -> str:
        if values is None:
            return "–"
        if isinstance(values, tuple):
            return " / ".join(f"{v:.1f}" for v in values)
        return " / ".join(f"{values[k]:.1f}" for k in ("nmi", "acc", "ari"))

    rows = [[f"`{m}`"] + [triple(clustering[c].get(m)) for c in conditions] for m in methods]
    paper = PAPER_CLUSTERING.get(suite, {})
    for row_name in ("CLIP", "CLIP+CRL"):
        if paper:
            rows.append([f"paper: {row_name}"] + [triple(paper.get(c, {}).get(row_name)) for c in conditions])
    return md.table(["method", *conditions], rows)


def _fewshot_table(suite: str, fewshot: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    conditions = list(fewshot)
    methods = list(dict.fromkeys(m for c in conditions for m in fewshot[c]))

    def triple(values: Mapping[str, float] | tuple[float, float, float] | None) -> str:
        if values is None:
            return "–"
        if isinstance(values, tuple):
            return " / ".join(f"{v:.1f}" for v in values)
        return " / ".join(md.cell(values.get(shot)) for shot in ("1", "5", "10"))

    rows = [[f"`{m}`"] + [triple(fewshot[c].get(m)) for c in conditions] for m in methods]
    paper = PAPER_FEWSHOT.get(suite, {})
    for row_name in ("CLIP", "CLIP+CRL"):
        if paper:
            rows.append([f"paper: {row_name}"] + [triple(paper.get(c, {}).get(row_name)) for c in conditions])
    return md.table(["method", *conditions], rows)


def write_report(results: Mapping[str, Any], out: str | Path) -> Path:
    """Write report.md and one retrieval chart per suite (plus multi-condition / clustering charts)."""
    out = Path(out)
    for suite in suite_names(results):
        bar_chart(f"{suite}: retrieval mAP (1:9 split)", results[suite], out / f"{suite}_retrieval.png")
    multi = {
        f"{s}:{c}": v for s, combos in results.get("multi_condition", {}).items() for c, v in combos.items()
    }
    if multi:
        bar_chart("multi-condition mAP", multi, out / "multi_condition.png")
    clustering = {
        f"{s}:{c}": {m: v["acc"] for m, v in methods.items()}
        for s, conditions in results.get("clustering", {}).items()
        for c, methods in conditions.items()
    }
    if clustering:
        bar_chart("k-means clustering ACC", clustering, out / "clustering_acc.png")
    sensitivity = results.get("sensitivity", {}).get("defaults", {})
    if sensitivity:
        panels = {
            f"{sweep} ({summary['metric']})": {"validation": summary["validation"]}
            for sweep, summary in sensitivity.items()
        }
        marks = {
            f"{sweep} ({summary['metric']})": [summary["chosen"]] for sweep, summary in sensitivity.items()
        }
        line_panels(
            "mean over conditions; ringed: chosen on validation", panels, out / "sensitivity.png", marks=marks
        )
    markdown = render_markdown(results)
    if multi:
        markdown += "\n![multi-condition](multi_condition.png)\n"
    if clustering:
        markdown += "\n![clustering ACC](clustering_acc.png)\n"
    path = out / "report.md"
    path.write_text(markdown)
    return path
