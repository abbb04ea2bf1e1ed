"""Loaders for labelled image sets a user owns, in the three layouts benchmarks ship in.

* Clevr-4 (methods.md §5.1): ``<root>/clevr_4_annots.json`` = {fname: {color, texture, shape, count,
  split}} and the images at ``<root>/images/<fname>.png``.
* One ImageFolder per condition (the Cards layout, methods.md §2.4): ``<root>/<condition>/<class>/<img>``.
  The same image (by file name) appears once under every condition folder; its labels are the class
  folders it sits in.
* A CSV with a path column and one column per condition.

Every loader returns a `LabelledImages`: image paths plus integer labels per condition, ready for
`condsim.eval.embed.embed_dataset` and the protocols in `condsim.eval`.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from condsim._files import IMAGE_SUFFIXES
from condsim._types import ImageInput
from condsim.errors import DatasetLayoutError, InvalidInputError

CLEVR4_CONDITIONS = ("color", "texture", "shape", "count")


@dataclass
class LabelledImages:
    """Images with one integer label per condition.

    ``labels[c][i]`` indexes ``classes[c]``. ``attributes`` holds continuous or ordinal values for
    ranking (e.g. the object count); ``nested_in`` maps a condition to the one it is nested in
    (sub-category within category, whose mAP is computed per parent class, methods.md §1.3).
    """

    name: str
    images: Sequence[ImageInput]
    labels: dict[str, np.ndarray]
    classes: dict[str, tuple[str, ...]]
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    nested_in: dict[str, str] = field(default_factory=dict)
    cache_key: str | None = None

    def __post_init__(self) -> None:
        for condition, labels in self.labels.items():
            if len(labels) != len(self.images):
                raise InvalidInputError(
                    f"{self.name}: {len(labels)} {condition!r} labels for {len(self.images)} images"
                )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(self.labels)


def encode_labels(values: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """String labels -> (int codes, class names); classes sort naturally (numbers by value)."""

    def order(name: str) -> tuple[int, float | str]:
        try:
            return (0, float(name))
        except ValueError:
            return (1, name)

    classes = tuple(sorted(set(values), key=order))
    index = {name: code for code, name in enumerate(classes)}
    return np.array([index[value] for value in values], dtype=np.int64), classes


def files_cache_key(name: str, paths: Iterable[Path], labels: Mapping[str, Sequence[str]]) -> str:
    """A key that changes when any file's path, size or modification time, or any label, changes."""
    digest = hashlib.sha1()
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    for condition in sorted(labels):
        digest.update(f"{condition}:{'|'.join(labels[condition])}\n".encode())
    return f"{name}-{digest.hexdigest()[:16]}"


def _from_string_labels(
    name: str, paths: list[Path], labels: dict[str, list[str]], numeric: Iterable[str] = ()
) -> LabelledImages:
    if not paths:
        raise DatasetLayoutError(f"{name}: no images found")
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise DatasetLayoutError(
            f"{name}: {len(missing)} listed images do not exist: {', '.join(missing[:3])}{more}",
            hint="check the image folder next to the annotation file",
        )
    encoded = {condition: encode_labels(values) for condition, values in labels.items()}
    attributes = {}
    for condition in numeric:
        try:
            attributes[condition] = np.array([float(value) for value in labels[condition]])
        except ValueError:
            continue
    return LabelledImages(
        name=name,
        images=[str(path) for path in paths],
        labels={condition: codes for condition, (codes, _) in encoded.items()},
        classes={condition: classes for condition, (_, classes) in encoded.items()},
        attributes=attributes,
        cache_key=files_cache_key(name, paths, labels),
    )


def load_clevr4(root: str | Path, *, split: str = "all") -> LabelledImages:
    """The official Clevr-4 layout: ``clevr_4_annots.json`` and ``images/<fname>.png``.

    `split` is "all" (CRL and CLAY use every image, methods.md §5.1), "train" or "val".
    """
    root = Path(root)
    annotation_path = root / "clevr_4_annots.json"
    if not annotation_path.is_file():
        raise DatasetLayoutError(
            f"{annotation_path} not found",
            hint="point at the Clevr-4 folder that holds clevr_4_annots.json and images/",
        )
    try:
        annotations = json.loads(annotation_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetLayoutError(f"{annotation_path}: not readable JSON ({error})") from error
    if not isinstance(annotations, dict):
        raise DatasetLayoutError(f"{annotation_path}: expected an object {{fname: {{color, ...}}}}")
    if split not in ("all", "train", "val"):
        raise InvalidInputError(f"split must be 'all', 'train' or 'val', got {split!r}")
    paths: list[Path] = []
    labels: dict[str, list[str]] = {condition: [] for condition in CLEVR4_CONDITIONS}
    for fname in sorted(annotations):
        entry = annotations[fname]
        if not isinstance(entry, dict) or any(condition not in entry for condition in CLEVR4_CONDITIONS):
            raise DatasetLayoutError(
                f"{annotation_path}: entry {fname!r} lacks one of {', '.join(CLEVR4_CONDITIONS)}"
            )
        if split != "all" and entry.get("split") != split:
            continue
        file_name = fname if Path(fname).suffix.lower() in IMAGE_SUFFIXES else f"{fname}.png"
        paths.append(root / "images" / file_name)
        for condition in CLEVR4_CONDITIONS:
            labels[condition].append(str(entry[condition]))
    return _from_string_labels(f"clevr4-files-{split}", paths, labels, numeric=("count",))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def load_image_folders(root: str | Path, *, conditions: Sequence[str] | None = None) -> LabelledImages:
    """One ImageFolder per condition: ``<root>/<condition>/<class>/<image>``.

    An image is identified by its file name; it must sit in exactly one class folder of every
    condition loaded (the Cards layout ships the same 8,029 files under ``number/`` and ``suits/``).
    Pass `conditions` to load a subset. The image files of the first condition are the ones read.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(
            f"{root}: no such folder", hint="expected <root>/<condition>/<class>/<image>"
        )
    names = list(conditions) if conditions else sorted(p.name for p in root.iterdir() if p.is_dir())
    if not names:
        raise DatasetLayoutError(
            f"{root}: no condition folders", hint="expected <root>/<condition>/<class>/<image>"
        )
    per_condition: dict[str, dict[str, tuple[str, Path]]] = {}
    for condition in names:
        folder = root / condition
        if not folder.is_dir():
            raise DatasetLayoutError(f"{folder}: no such condition folder")
        located: dict[str, tuple[str, Path]] = {}
        for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in _image_files(class_folder):
                if path.name in located:
                    raise DatasetLayoutError(
                        f"{folder}: {path.name} is in both {located[path.name][0]!r} "
                        f"and {class_folder.name!r}",
                        hint="each image belongs to one class per condition",
                    )
                located[path.name] = (class_folder.name, path)
        if not located:
            raise DatasetLayoutError(f"{folder}: no images in its class folders")
        per_condition[condition] = located
    first = per_condition[names[0]]
    for condition in names[1:]:
        if set(per_condition[condition]) != set(first):
            only_first = sorted(set(first) - set(per_condition[condition]))
            only_other = sorted(set(per_condition[condition]) - set(first))
            raise DatasetLayoutError(
                f"{root}: {names[0]!r} and {condition!r} hold different images "
                f"({len(only_first)} only in {names[0]!r}, {len(only_other)} only in {condition!r}, "
                f"e.g. {(only_first + only_other)[:2]})",
                hint="load one condition at a time with conditions=[...]",
            )
    file_names = sorted(first)
    paths = [first[name][1] for name in file_names]
    labels = {condition: [per_condition[condition][name][0] for name in file_names] for condition in names}
    return _from_string_labels(f"folders-{root.name}", paths, labels)


def load_csv(
    csv_path: str | Path, *, path_column: str = "path", label_columns: Sequence[str] | None = None
) -> LabelledImages:
    """A CSV with an image path column and one label column per condition.

    Relative paths are resolved against the CSV's folder. `label_columns` defaults to every column
    but the path column.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetLayoutError(f"{csv_path}: no such file")
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if path_column not in header:
            raise DatasetLayoutError(
                f"{csv_path}: no column {path_column!r} (columns: {', '.join(header)})",
                hint="name the image path column with path_column=...",
            )
        columns = list(label_columns) if label_columns else [name for name in header if name != path_column]
        unknown = [name for name in columns if name not in header]
        if unknown or not columns:
            raise DatasetLayoutError(
                f"{csv_path}: label columns {unknown or columns} not usable (columns: {', '.join(header)})"
            )
        rows = list(reader)
    paths: list[Path] = []
    labels: dict[str, list[str]] = {name: [] for name in columns}
    for line, row in enumerate(rows, start=2):
        raw = (row.get(path_column) or "").strip()
        if not raw:
            raise DatasetLayoutError(f"{csv_path}:{line}: empty {path_column!r}")
        path = Path(raw)
        paths.append(path if path.is_absolute() else csv_path.parent / path)
        for name in columns:
            value = (row.get(name) or "").strip()
            if not value:
                raise DatasetLayoutError(f"{csv_path}:{line}: empty label in column {name!r}")
            labels[name].append(value)
    return _from_string_labels(f"csv-{csv_path.stem}", paths, labels, numeric=columns)
