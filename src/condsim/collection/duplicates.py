"""Duplicates: the same picture stored several times, found in a store and dropped from results.

Two images are duplicates when

1. their files have the same content (the store's sha256 per item): a copy, a symlink, a hard link;
2. or, failing that, their plain embeddings are at cosine >= `threshold` (default
   `DEFAULT_THRESHOLD`): a resized, re-encoded, EXIF-rotated, CMYK or WebP version of one picture.

With conditions (`by=[...]`), two images are duplicates *under the conditions* when their cosine is
>= `threshold` in every condition's space (CLAY's z by default): "same colour and shape, different
photo". Such groups also hold the copies and near copies, each member marked with how it matches
its group's first image (`DuplicateMember.match`: "copy", "near", "turned" or "condition").
With `rotations=True`, a picture whose pixels were turned by 90°, 180° or 270° (no EXIF tag) is
found as well: every image is embedded turned three ways and compared with the others' embeddings.

Groups are formed as in Butina's leader clustering: the image with the most duplicates (of those,
the largest file: the version to keep) leads a group of itself and its duplicates not yet grouped,
then the next, and so on. Unlike connected components, a group never chains from one picture to a
different one through a series of small changes; every member is a duplicate of its group's first
image (ties go to the lower store row).

At query time (`DuplicateFilter`), `Collection.similar` and `.search` keep the first of each set of
duplicates among their results and drop the query's own duplicates (same content hash, so a copy
of the query in another folder is not its best result, or plain cosine >= threshold).

Thresholds, measured with the built-in model on 400 rendered scenes, 30 of them planted six times
(a copy, a 3/4 resize, JPEG quality 85, pixels turned 90° with the EXIF tag that turns them back,
CMYK JPEG, WebP; `tests/collection/test_duplicates.py` does the same on a smaller set): the
planted versions have plain cosine >= 0.992 to their original (>= 0.9898 in the test's set, a 3/4
resize), while distinct scenes reach 0.962 (0.974 among 600, 0.981 in the demo's 300; JPEG quality
70 falls to 0.971), so 0.985 finds all 630 planted pairs and no other; the margin is thin on both
sides, which is why `threshold` is a parameter.
An image whose pixels are turned 90° without an EXIF tag is a different picture to the model
(cosine 0.53-0.99, median 0.86): plainly, 3 of 30 such versions are found (pair recall 0.78 with
them counted); with `rotations=True` all 30 (precision and recall 1.00 over all 840 pairs; 12 s
for the 610 images on one CPU thread).
Under conditions (CLAY z, built-in model, 200 rendered scenes, 19,900 pairs): same-value pairs
spread widely (colour: median cosine 0.46, 90th percentile 0.71) while different-value pairs stay
low (median -0.07, 99th percentile 0.43). At 0.70 the pairs found share the value with precision
0.99 under colour (221 pairs, 11 % of the same-colour pairs), 0.85 under shape, and 0.67 under
colour and shape together (only 1 % of pairs share both, so a mistake weighs more); at 0.60,
precision 0.95 / 0.84 / 0.65 with twice the pairs; at 0.85 (the old default) just 25 pairs under
colour, about the copies alone on a small store. Hence `DEFAULT_CONDITION_THRESHOLD` = 0.70: groups
of a few look-alikes each, mostly pure; lower it to find more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

from condsim.encoders.images import load_image
from condsim.errors import ImageLoadError, InvalidInputError

if TYPE_CHECKING:
    from condsim.collection.collection import Collection, ConditionLike, Result
    from condsim.collection.store import Item
    from condsim.encoders.base import Encoder

#: plain-embedding cosine at and above which two images are near duplicates
DEFAULT_THRESHOLD = 0.985
#: conditional cosine (every condition's space) at and above which two images match under conditions
DEFAULT_CONDITION_THRESHOLD = 0.70
#: rows compared per block when looking for pairs (memory: CHUNK × N floats per space)
CHUNK = 1024
#: the turns `find_duplicates(rotations=True)` tries: a picture whose pixels were turned, not its EXIF tag
TURNS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
#: more pairs than this means the threshold groups nearly everything: refused instead of filling memory
MAX_PAIRS = 20_000_000


def check_threshold(threshold: float, name: str = "threshold") -> float:
    """`threshold` as a float if it is a number in [0, 1], else an `InvalidInputError`."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float | np.floating)
        or not 0.0 <= float(threshold) <= 1.0
    ):
        raise InvalidInputError(
            f"{name} {threshold!r} must be a cosine between 0 and 1",
            hint=f"e.g. {DEFAULT_THRESHOLD} (near copies); lower finds looser duplicates",
        )
    return float(threshold)


@dataclass(frozen=True)
class DuplicateMember:
    """One image of a group: where it is, its store row and id, its cosine to the group's first
    image (1.0 for that image; under conditions the lowest of the conditions' cosines), and how it
    matches that image: "copy" (same file content), "near" (plain cosine >= the near threshold),
    "turned" (once turned by 90°, 180° or 270°) or "condition" (only under the conditions)."""

    path: str
    relpath: str
    row: int
    id: int
    score: float
    match: str


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are duplicates of the first one (`members[0]`, which has match "first")."""

    members: tuple[DuplicateMember, ...]

    def __len__(self) -> int:
        return len(self.members)


def duplicate_pairs(
    spaces: Sequence[np.ndarray], threshold: float, chunk: int = CHUNK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, cosine) of every pair i < j whose cosine is >= `threshold` in every space (rows of each
    space are unit vectors of the same images, in the same order); cosine is the lowest of them."""
    size = len(spaces[0])
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    found = 0
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        block = np.full((stop - start, size), np.inf, dtype=np.float32)
        for features in spaces:
            np.minimum(block, np.asarray(features[start:stop] @ features.T, dtype=np.float32), out=block)
        block[np.arange(size)[None, :] <= np.arange(start, stop)[:, None]] = -np.inf  # keep i < j
        rows, columns = np.nonzero(block >= threshold)
        found += len(rows)
        if found > MAX_PAIRS:
            raise InvalidInputError(
                f"threshold {threshold} makes more than {MAX_PAIRS:,} pairs of duplicates",
                hint="raise the threshold: duplicates are meant to be rare",
            )
        firsts.append(rows + start)
        seconds.append(columns)
        scores.append(block[rows, columns])
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(scores)


def leader_groups(
    hashes: Sequence[str],
    pairs: tuple[np.ndarray, np.ndarray],
    sizes: Sequence[int] | None = None,
    links: Sequence[bool] | None = None,
) -> list[list[int]]:
    """Groups of positions (module docstring): images with the same hash always share a group; then
    the image with the most duplicates (pairs) leads a group of its ungrouped duplicates, and so on;
    of images with as many duplicates, the largest file (`sizes`, the best version to keep) leads,
    then the lower position. Of files with the same content, a real file comes before a symbolic
    link (`links`), so a group never presents a link as the picture to keep. Only groups of two or
    more are returned, each led by its leader, then in position order."""
    leader_of: dict[str, int] = {}
    node_of = np.empty(len(hashes), dtype=np.int64)
    for position, content in enumerate(hashes):
        node_of[position] = leader_of.setdefault(content, position)
    neighbours: dict[int, set[int]] = {}
    for first, second in zip(node_of[pairs[0]].tolist(), node_of[pairs[1]].tolist(), strict=True):
        if first != second:
            neighbours.setdefault(first, set()).add(second)
            neighbours.setdefault(second, set()).add(first)
    copies: dict[int, list[int]] = {}
    for position, node in enumerate(node_of.tolist()):
        copies.setdefault(node, []).append(position)
    if links is not None:
        for node, positions in copies.items():
            copies[node] = sorted(positions, key=lambda position: (bool(links[position]), position))
    size_of = list(sizes) if sizes is not None else [0] * len(hashes)
    order = sorted(copies, key=lambda node: (-len(neighbours.get(node, ())), -size_of[node], node))
    grouped: set[int] = set()
    groups: list[list[int]] = []
    for node in order:
        if node in grouped:
            continue
        members = [node, *sorted(n for n in neighbours.get(node, ()) if n not in grouped)]
        grouped.update(members)
        positions = copies[node] + sorted(p for member in members[1:] for p in copies[member])
        if len(positions) > 1:
            groups.append(positions)
    return groups


def turned_embeddings(encoder: Encoder, paths: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """(3, N, d) float32: each image embedded turned by 90°, 180° and 270° (`TURNS`), decoded upright
    first (EXIF applied); an image that cannot be read gets zero rows, which match nothing."""
    turned = np.zeros((len(TURNS), len(paths), encoder.dim), dtype=np.float32)
    for start in range(0, len(paths), batch_size):
        images: list[Image.Image] = []
        positions: list[int] = []
        for offset, path in enumerate(paths[start : start + batch_size]):
            try:
                upright = load_image(path, target=encoder.input_size)
            except ImageLoadError:
                continue
            images.extend(upright.transpose(turn) for turn in TURNS)
            positions.append(start + offset)
        if not images:
            continue
        encoding = encoder.encode_images_partial(images, batch_size=len(images))
        rows = np.zeros((len(images), encoder.dim), dtype=np.float32)
        rows[encoding.indices] = encoding.embeddings
        turned[:, positions] = rows.reshape(len(positions), len(TURNS), encoder.dim).transpose(1, 0, 2)
    return turned


def turned_pairs(
    plain: np.ndarray, turned: np.ndarray, threshold: float, chunk: int = CHUNK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, cosine), i < j, of the images that match another one once turned: the largest cosine
    of a turned image i (or j) with the other's stored embedding is >= `threshold`."""
    size = len(plain)
    found: dict[tuple[int, int], float] = {}
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        block = np.max(np.stack([np.asarray(turn[start:stop] @ plain.T) for turn in turned]), axis=0)
        block[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # an image and its own turn
        for row, column in zip(*np.nonzero(block >= threshold), strict=True):
            pair = (min(start + int(row), int(column)), max(start + int(row), int(column)))
            found[pair] = max(found.get(pair, -1.0), float(block[row, column]))
        if len(found) > MAX_PAIRS:
            raise InvalidInputError(
                f"threshold {threshold} makes more than {MAX_PAIRS:,} pairs of duplicates",
                hint="raise the threshold: duplicates are meant to be rare",
            )
    pairs = sorted(found)
    first = np.array([i for i, _ in pairs], dtype=np.int64)
    second = np.array([j for _, j in pairs], dtype=np.int64)
    return first, second, np.array([found[pair] for pair in pairs], dtype=np.float32)


def find_duplicates(
    collection: Collection,
    *,
    threshold: float | None = None,
    by: Sequence[ConditionLike] = (),
    method: str = "clay",
    near_threshold: float = DEFAULT_THRESHOLD,
    rotations: bool = False,
) -> list[DuplicateGroup]:
    """The groups of duplicates in a collection, largest first (module docstring).

    Without `by`: copies (same content) and near copies (plain cosine >= `threshold`, default
    `DEFAULT_THRESHOLD`); with `rotations`, also images that match another one once turned by 90°,
    180° or 270° (their pixels, not an EXIF tag): every image is embedded three more times, so it
    costs three index runs. With `by`: images whose cosine is >= `threshold` (default
    `DEFAULT_CONDITION_THRESHOLD`) in each condition's `method` space ("clay" or "crl").
    """
    conditions = list(by)
    if rotations and conditions:
        raise InvalidInputError(
            "rotations compares pictures, not conditions", hint="drop the conditions, or the rotations"
        )
    threshold = check_threshold(
        threshold
        if threshold is not None
        else DEFAULT_CONDITION_THRESHOLD
        if conditions
        else DEFAULT_THRESHOLD
    )
    near_threshold = check_threshold(near_threshold, "near_threshold")
    items = collection.store.items()
    _, plain = collection.features()
    spaces = [collection.features(condition, method=method)[1] for condition in conditions] or [plain]
    if len(items) != len(plain):
        raise InvalidInputError(
            "the store changed while its duplicates were searched", hint="run the search again"
        )
    first, second, _ = duplicate_pairs(spaces, threshold)
    turned_score: dict[tuple[int, int], float] = {}
    if rotations:
        turned_first, turned_second, scores = turned_pairs(
            plain,
            turned_embeddings(collection.encoder, [collection.locate(item) for item in items]),
            threshold,
        )
        pairs = zip(turned_first.tolist(), turned_second.tolist(), strict=True)
        turned_score = dict(zip(pairs, scores.tolist(), strict=True))
        first, second = np.concatenate([first, turned_first]), np.concatenate([second, turned_second])
    groups: list[DuplicateGroup] = []
    links = [Path(collection.locate(item)).is_symlink() for item in items]
    for positions in leader_groups(
        [item.hash for item in items], (first, second), [item.size for item in items], links
    ):
        leader = positions[0]
        members: list[DuplicateMember] = []
        for position in positions:
            item = items[position]
            plain_score = float(plain[position] @ plain[leader])
            score = min(float(features[position] @ features[leader]) for features in spaces)
            turn = turned_score.get((min(position, leader), max(position, leader)), -1.0)
            if position == leader:
                match = "first"
            elif item.hash == items[leader].hash:
                match = "copy"
            elif plain_score >= near_threshold:
                match = "near"
            elif turn > score:
                match, score = "turned", turn
            else:
                match = "condition"
            members.append(
                DuplicateMember(
                    collection.locate(item),
                    item.relpath,
                    item.row,
                    item.id,
                    1.0 if position == leader else score,
                    match,
                )
            )
        groups.append(DuplicateGroup(tuple(members)))
    groups.sort(key=lambda group: (-len(group), group.members[0].row))
    return groups


class RowSource(Protocol):
    """Items and plain embeddings by row: a `Store`, or a collection's synced version (whose rows its
    results carry, whatever a concurrent index run changed since)."""

    def items_by_rows(self, rows: Sequence[int]) -> dict[int, Item]: ...

    def vectors(self, rows: Sequence[int] | np.ndarray) -> np.ndarray: ...


class DuplicateFilter:
    """Drops duplicates from a ranked result list: of the query (`query_hashes`: content hashes,
    `query_vectors`: plain embeddings, None for a text query) and of the results kept before."""

    def __init__(
        self,
        store: RowSource,
        threshold: float,
        query_hashes: Iterable[str | None] = (),
        query_vectors: np.ndarray | None = None,
    ) -> None:
        self.store = store
        self.threshold = check_threshold(threshold, "duplicate_threshold")
        self.query_hashes = {content for content in query_hashes if content}
        self.query_vectors = query_vectors

    def distinct(self, results: Sequence[Result], k: int) -> list[Result]:
        """The first `k` results that duplicate neither the query nor a result kept before them."""
        if not results:
            return []
        rows = [result.row for result in results]
        items = self.store.items_by_rows(rows)
        vectors = self.store.vectors(rows)
        seen = set(self.query_hashes)
        kept: list[Result] = []
        kept_vectors: list[np.ndarray] = []
        for result, vector in zip(results, vectors, strict=True):
            item = items.get(result.row)
            if item is not None and item.hash in seen:
                continue
            if (
                self.query_vectors is not None
                and float(np.max(self.query_vectors @ vector)) >= self.threshold
            ):
                continue
            if kept_vectors and float(np.max(np.stack(kept_vectors) @ vector)) >= self.threshold:
                continue
            kept.append(result)
            kept_vectors.append(vector)
            if item is not None:
                seen.add(item.hash)
            if len(kept) == k:
                break
        return kept


def top_distinct(
    rank: Callable[[int], list[Result]], k: int, size: int, duplicates: DuplicateFilter
) -> list[Result]:
    """The k best results without duplicates: `rank(depth)` ranks `depth` candidates (fewer once the
    scores drop below a minimum); the depth grows until k distinct results are found or the
    candidates run out."""
    depth = min(size, 2 * k + 8)
    while True:
        candidates = rank(depth)
        kept = duplicates.distinct(candidates, k)
        if len(kept) >= k or depth >= size or len(candidates) < depth:
            return kept
        depth = min(size, depth * 4)
