"""Deterministic batches by step: the data position of a job is one integer, the number of steps taken.

The global batch of step ``k`` is rows ``k*B .. (k+1)*B`` of an endless stream of per-epoch permutations, each
seeded by ``(seed, epoch)``. A DDP rank takes its contiguous slice of that global batch, so ranks read disjoint
rows and the union over ranks is exactly the one-worker batch; a resumed job asks for step ``k`` and gets the
batch it would have had.
"""

from __future__ import annotations

import numpy as np
import torch

from scalesearch.data.shards import TokenSplit


class BatchSampler:
    def __init__(self, split: TokenSplit, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must divide evenly over {world_size} workers")
        self.split, self.batch_size, self.seed = split, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def _rows(self, step: int) -> np.ndarray:
        n = len(self.split)
        start = step * self.batch_size
        rows = np.empty(self.batch_size, dtype=np.int64)
        for i in range(self.batch_size):  # a batch may straddle two epochs
            epoch, offset = divmod(start + i, n)
            if epoch != self._epoch:
                self._epoch = epoch
                self._order = np.random.default_rng((self.seed, epoch)).permutation(n)
            rows[i] = self._order[offset]
        local = self.batch_size // self.world_size
        return rows[self.rank * local:(self.rank + 1) * local]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, parts) of this rank's share of global batch ``step``, as int64 / uint8 tensors."""
        rows = self._rows(step)
        return torch.from_numpy(self.split.tokens[rows]), torch.from_numpy(self.split.parts[rows])


def fixed_batches(split: TokenSplit, batch_size: int, limit: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``limit`` sequences of a split in batches: the fixed held-out set every report evaluates."""
    n = min(limit, len(split))
    return [(torch.from_numpy(split.tokens[i:min(i + batch_size, n)]),
             torch.from_numpy(split.parts[i:min(i + batch_size, n)]))
            for i in range(0, n, batch_size)]
