"""docs/results is what `condsim bench --suite all --out docs/results` wrote, and its prose quotes it.

report.md must be exactly what the current report code renders from the committed results.json (so
a change to the renderer, or a hand edit, shows up here), and every decimal number in the hand-written
README.md must occur in report.md or pcclip.md, the generated files it reads from."""

from __future__ import annotations

import json
import re
from pathlib import Path

from condsim.eval.report import render_markdown

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
#: "92.8", "+31.4", "−3.5", "0.490": a number with a decimal point, sign included; not a section
#: reference such as "§2.5"
_DECIMAL = re.compile(r"(?<![§\d.])[+\-−]?\d+\.\d+")


def test_report_is_rendered_from_the_committed_results() -> None:
    results = json.loads((RESULTS / "results.json").read_text())
    rendered = render_markdown(results)
    report = (RESULTS / "report.md").read_text()
    assert report.startswith(rendered), "docs/results/report.md is stale: rerun condsim bench (README there)"


def test_every_number_in_the_readme_is_in_a_generated_file() -> None:
    generated = (RESULTS / "report.md").read_text() + (RESULTS / "pcclip.md").read_text()
    numbers = set(re.findall(r"\d+\.\d+", generated))
    quoted = [match.lstrip("+-−") for match in _DECIMAL.findall((RESULTS / "README.md").read_text())]
    missing = sorted({number for number in quoted if number not in numbers})
    assert not missing, f"docs/results/README.md quotes numbers no generated file holds: {missing}"
