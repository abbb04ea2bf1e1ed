"""Steps 7 and 8 of `condsim demo` (`condsim.demo.tour`): zero-shot labels and named clusters, each
checked against the colours the scenes were rendered with.

Both use the colour condition's own wording ("a photo of a red object") with the ten scene colours
(`condsim.data.taxonomy.COLORS`) as its values, written to OUT/colours.json so that the same values
can be passed to `condsim label --values` and `condsim cluster --prompts color=...`:

7. `label_collection`: every image gets the colour whose prompt is nearest (zero-shot, no labelled
   image is used), with its confidence softmax(100 · cos); OUT/label/labels.csv lists them beside the
   true colour, and the accuracy is the share of images whose label is their true colour.
8. `cluster_collection`: k-means on CLAY's z under those values, one cluster per colour present, each
   cluster named after the value whose prompt lies nearest its mean. A cluster's purity is the share
   of its members with its most common true colour; "named right" the share whose true colour is the
   cluster's name. OUT/clusters/clusters.csv holds each image's cluster, summary.csv each cluster.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from condsim._files import atomic_write_text
from condsim.collection import Collection
from condsim.collection.tasks import ImageLabel, cluster_collection, label_collection
from condsim.conditions import resolve_condition
from condsim.data.taxonomy import COLORS

if TYPE_CHECKING:
    from condsim.conditions import Condition
    from condsim.encoders.base import Encoder

#: the condition steps 7 and 8 label and cluster by, and the file its values are written to
CONDITION = "color"
VALUES_FILE = "colours.json"
#: how many labelled images the demo prints (all of them are in label/labels.csv)
LABEL_SAMPLE = 8
#: k-means random_state of the clustering step
CLUSTER_SEED = 0


@dataclass(frozen=True)
class LabelStep:
    """Zero-shot colour labels of the whole collection, scored against the rendered colours."""

    csv: Path
    correct: int
    images: int

    @property
    def accuracy(self) -> float:
        """The share of images whose zero-shot label is their true colour."""
        return self.correct / self.images if self.images else 0.0


@dataclass(frozen=True)
class NamedCluster:
    """One k-means cluster under colour: its name, size and how pure it is in true colours."""

    name: str
    images: int
    #: the most common true colour of the members ("" for an empty cluster)
    majority: str
    #: the share of members whose true colour is `majority`
    purity: float
    #: the share of members whose true colour is the cluster's name
    named_right: float


@dataclass(frozen=True)
class ClusterStep:
    """The named clusters, with their purities weighted by cluster size over the collection."""

    csv: Path
    summary_csv: Path
    clusters: list[NamedCluster]

    @property
    def purity(self) -> float:
        """The share of images that have their cluster's most common true colour."""
        return _weighted([(cluster.purity, cluster.images) for cluster in self.clusters])

    @property
    def named_right(self) -> float:
        """The share of images whose true colour is their cluster's name."""
        return _weighted([(cluster.named_right, cluster.images) for cluster in self.clusters])


def _weighted(shares: Sequence[tuple[float, int]]) -> float:
    """The mean of per-cluster shares weighted by cluster size (0.0 for no images)."""
    total = sum(size for _, size in shares)
    return sum(share * size for share, size in shares) / total if total else 0.0


def write_colour_values(out_dir: Path) -> Condition:
    """Write OUT/colours.json (the colour condition's CLAY wording with the scene colours as values)
    and return the condition it defines, read back the way `--prompts color=FILE` reads it."""
    builtin = resolve_condition(CONDITION)
    path = out_dir / VALUES_FILE
    document = {"name": CONDITION, "clay_template": builtin.clay_template, "values": list(COLORS)}
    text = json.dumps(document, indent=2) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return resolve_condition(CONDITION, prompts_file=path)


def _true_colour(path: str, truth: Mapping[str, Mapping[str, str]]) -> str:
    return truth.get(Path(path).name, {}).get(CONDITION, "?")


def _relative(path: str, out_dir: Path) -> str:
    """`path` relative to the demo's folder, as the true labels in OUT/labels.csv are written."""
    resolved = Path(path).resolve()
    root = out_dir.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else path


def _write_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def show_zero_shot_labels(
    collection: Collection,
    condition: Condition,
    truth: Mapping[str, Mapping[str, str]],
    out_dir: Path,
    console: Console,
) -> LabelStep:
    """Step 7: label every image zero-shot, write label/labels.csv, print a sample and the accuracy."""
    labelling = label_collection(collection, condition, where=str(out_dir / VALUES_FILE))
    rows = [
        (
            _relative(label.path, out_dir),
            label.value,
            f"{label.confidence:.4f}",
            _true_colour(label.path, truth),
        )
        for label in labelling.labels
    ]
    csv_path = _write_rows(
        out_dir / "label" / "labels.csv", ("path", CONDITION, "confidence", f"true {CONDITION}"), rows
    )
    correct = sum(row[1] == row[3] for row in rows)
    step = LabelStep(csv_path, correct, len(rows))

    table = Table(
        title=f"zero-shot labels by {CONDITION} ({len(labelling.values)} values, no labelled images)",
        title_justify="left",
    )
    table.add_column("image", no_wrap=True, min_width=15)
    table.add_column("label")
    table.add_column("confidence", justify="right")
    table.add_column(f"true {CONDITION}")
    for label in _sample(labelling.labels, truth):
        true = _true_colour(label.path, truth)
        table.add_row(
            Path(label.path).name,
            Text(label.value, style="green" if label.value == true else "red"),
            f"{label.confidence:.2f}",
            true,
        )
    console.print(table)
    console.print(
        f"zero-shot accuracy by {CONDITION}: {step.accuracy:.2f} ({correct} of {len(rows)} images labelled "
        f"with their rendered colour); every label in {csv_path}",
        highlight=False,
        soft_wrap=True,
    )
    return step


def _sample(labels: Sequence[ImageLabel], truth: Mapping[str, Mapping[str, str]]) -> list[ImageLabel]:
    """`LABEL_SAMPLE` labels in store order: the first right ones, and up to `LABEL_SAMPLE // 4` wrong
    ones when there are any, so that the table shows what a mistake looks like too."""
    is_right = [label.value == _true_colour(label.path, truth) for label in labels]
    wrong = [row for row, right in enumerate(is_right) if not right][: LABEL_SAMPLE // 4]
    right = [row for row, right in enumerate(is_right) if right][: LABEL_SAMPLE - len(wrong)]
    return [labels[row] for row in sorted(wrong + right)]


def show_named_clusters(
    store: Path,
    encoder: Encoder,
    condition: Condition,
    truth: Mapping[str, Mapping[str, str]],
    out_dir: Path,
    console: Console,
) -> ClusterStep:
    """Step 8: one k-means cluster per colour present, each named after its nearest value; write
    clusters/clusters.csv and clusters/summary.csv and print each cluster's name and purity.

    The collection is opened with CLAY's rank at len(values) - 1: n prompts span at most n - 1
    directions after the log map at their mean, so the paper's k = 50 cannot be reached here.
    """
    n_clusters = len({labels[CONDITION] for labels in truth.values()})
    with Collection.open(store, encoder, clay_k=len(condition.values) - 1) as collection:
        clusters = cluster_collection(collection, condition, n_clusters, seed=CLUSTER_SEED)
    named: list[NamedCluster] = []
    for number in range(clusters.n_clusters):
        colours = [_true_colour(path, truth) for path in clusters.members(number)]
        counts = Counter(colours)
        majority, most = counts.most_common(1)[0] if colours else ("", 0)
        name, size = clusters.name(number), max(len(colours), 1)
        named.append(NamedCluster(name, len(colours), majority, most / size, counts[name] / size))
    csv_path = _write_rows(
        out_dir / "clusters" / "clusters.csv",
        ("path", "cluster", "name", f"true {CONDITION}"),
        [
            (_relative(path, out_dir), number, clusters.name(number), _true_colour(path, truth))
            for path, number in zip(clusters.paths, clusters.labels.tolist(), strict=True)
        ],
    )
    summary_csv = _write_rows(
        out_dir / "clusters" / "summary.csv",
        ("cluster", "name", "images", f"most common true {CONDITION}", "purity", "named right"),
        [
            (number, c.name, c.images, c.majority, f"{c.purity:.4f}", f"{c.named_right:.4f}")
            for number, c in enumerate(named)
        ],
    )
    step = ClusterStep(csv_path, summary_csv, named)

    table = Table(
        title=f"{n_clusters} clusters by {CONDITION} (k-means), named after their nearest value",
        title_justify="left",
    )
    for column in ("#", "name", "images", f"most common true {CONDITION}", "purity", "named right"):
        numeric = column in ("#", "images", "purity", "named right")
        table.add_column(column, justify="right" if numeric else "left")
    for number, cluster in enumerate(named):
        table.add_row(
            str(number),
            Text(cluster.name, style="bold"),
            str(cluster.images),
            cluster.majority,
            f"{cluster.purity:.2f}",
            Text(f"{cluster.named_right:.2f}", style="green" if cluster.name == cluster.majority else "red"),
        )
    console.print(table)
    console.print(
        f"clusters by {CONDITION}: {step.purity:.2f} of the images share their cluster's most common "
        f"colour, and {step.named_right:.2f} are the colour their cluster is named after; "
        f"per image in {csv_path}, per cluster in {summary_csv}",
        highlight=False,
        soft_wrap=True,
    )
    return step
