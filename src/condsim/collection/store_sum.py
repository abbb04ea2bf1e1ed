"""The running sum of a store's unit-normalised embeddings, Σ_i x_i/‖x_i‖ (float64, d), behind the
database mean µ_db that CLAY aligns to: kept in the store's meta table (`embedding_sum`) by every
write, recorded with the version it belongs to, so reading µ_db is O(d) instead of a pass over N."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from condsim.collection.store_format import BLOCK_ROWS
from condsim.collection.store_reader import StoreReader

__all__ = ["RunningSum", "unit_row_sum"]

#: rows read per pass when a sum is recomputed from the embeddings
_SUM_ROWS = 64 * BLOCK_ROWS


def unit_row_sum(embeddings: np.ndarray) -> np.ndarray:
    """Σ of the rows of `embeddings` after normalising each to unit length, as float64 (d,): the term
    a batch adds to (or removes from) a store's running sum (`normalized_mean` counts rows the same way)."""
    matrix = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray((matrix / np.maximum(norms, 1e-12)).sum(axis=0), dtype=np.float64)


class RunningSum(StoreReader):
    """The running-sum methods of `Store`: reading the recorded sum, and the entry a write records."""

    def embedding_sum(self) -> tuple[np.ndarray, int]:
        """(Σ of the unit-normalised embeddings of every item as float64 (dim,), item count): the
        running sum behind the database mean µ_db that CLAY aligns to (O(d) instead of a pass over N).

        `add`, `remove` and `update_paths` keep it up to date in the transaction of their change,
        recorded with the version it belongs to; a sum recorded for another version (a store from an
        older condsim, a compaction that replaced damaged rows) is recomputed from the rows, never used.
        """
        recorded = self._fetch("SELECT value FROM meta WHERE key='embedding_sum'")
        version, _, payload = str(recorded[0][0] if recorded else "").partition(":")
        if version == str(self.version) and payload:
            total = np.frombuffer(base64.b64decode(payload), dtype="<f8")
            if total.shape == (self.dim,):
                return total.copy(), len(self)
        live = self.live_rows()
        total = np.zeros(self.dim, dtype=np.float64)
        for start in range(0, len(live), _SUM_ROWS):
            total += unit_row_sum(self.vectors(live[start : start + _SUM_ROWS]))
        return total, len(live)

    def _shifted_sum(self, added: np.ndarray | None, removed_rows: Sequence[int]) -> dict[str, str]:
        """Inside a write transaction, before `_bump`: the meta entry of the running sum once `added`
        embeddings come in and the rows `removed_rows` go, recorded for the version `_bump` writes."""
        total, _ = self.embedding_sum()
        if added is not None and len(added):
            total += unit_row_sum(added)
        if len(removed_rows):
            total -= unit_row_sum(self.vectors(sorted(set(removed_rows))))
        payload = base64.b64encode(np.asarray(total, dtype="<f8").tobytes()).decode()
        return {"embedding_sum": f"{self.version + 1}:{payload}"}
