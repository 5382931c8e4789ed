"""Deterministic batches by step: the data position of a job is one integer, the number of steps taken.

The global batch of step ``k`` is rows ``k*B .. (k+1)*B`` of an endless stream of per-epoch permutations, each
seeded by ``(seed, epoch)``. A DDP rank takes its contiguous slice of that global batch, so ranks read disjoint
rows and the union over ranks is exactly the one-worker batch; a resumed job asks for step ``k`` and gets the
batch it would have had.
"""

from __future__ import annotations

import numpy as np
import torch

from scalesearch.data.domain import Sequences


def as_tensors(tokens: np.ndarray, parts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(int64 tokens, uint8 parts) tensors of rows held in the shards' narrow dtype."""
    return torch.from_numpy(tokens.astype(np.int64)), torch.from_numpy(np.ascontiguousarray(parts))


class BatchSampler:
    def __init__(self, split: Sequences, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must divide evenly over {world_size} workers")
        self.split, self.batch_size, self.seed = split, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {e: o for e, o in self._orders.items() if e == epoch - 1}  # steps move forward
            self._orders[epoch] = np.random.default_rng((self.seed, epoch)).permutation(len(self.split))
        return self._orders[epoch]

    def rows(self, step: int) -> np.ndarray:
        """The row indices of this rank's share of global batch ``step``."""
        local = self.batch_size // self.world_size
        start = step * self.batch_size + self.rank * local
        epochs, offsets = np.divmod(np.arange(start, start + local), len(self.split))
        rows = np.empty(local, dtype=np.int64)
        for epoch in np.unique(epochs):  # a batch may straddle epochs
            here = epochs == epoch
            rows[here] = self._order(int(epoch))[offsets[here]]
        return rows

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, parts) of this rank's share of global batch ``step``, as int64 / uint8 tensors."""
        rows = self.rows(step)
        return as_tensors(self.split.tokens[rows], self.split.parts[rows])


def fixed_batches(split: Sequences, batch_size: int, limit: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``limit`` sequences spread evenly over a split, in batches: the fixed held-out set every report evaluates.
    Spread, not the first ``limit``, because splits are stored in source order (photograph by photograph)."""
    rows = np.unique(np.linspace(0, len(split) - 1, min(limit, len(split))).round().astype(np.int64))
    return [as_tensors(split.tokens[rows[i:i + batch_size]], split.parts[rows[i:i + batch_size]])
            for i in range(0, len(rows), batch_size)]
