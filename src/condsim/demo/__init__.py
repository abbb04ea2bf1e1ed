"""`condsim demo`: the whole product in one command, on rendered scenes whose true labels are known.

`tour` renders, indexes and queries the collection (plain and conditional similarity, duplicates,
"like this, but red"); `steps` adds the zero-shot labels and the named clusters, each scored against
the rendered colours.
"""

from condsim.demo.steps import ClusterStep, LabelStep, NamedCluster
from condsim.demo.tour import DEMO_CONDITIONS, DEMO_SEED, DemoQuery, DemoReport, render_collection, run_demo

__all__ = [
    "DEMO_CONDITIONS",
    "DEMO_SEED",
    "ClusterStep",
    "DemoQuery",
    "DemoReport",
    "LabelStep",
    "NamedCluster",
    "render_collection",
    "run_demo",
]
