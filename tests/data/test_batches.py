"""Deterministic batches: DDP ranks read disjoint slices that together make the one-worker batch, and a resumed
sampler continues where the uninterrupted one would be."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scalesearch.data.batches import BatchSampler, fixed_batches
from scalesearch.data.domain import Sequences


@pytest.fixture
def split() -> Sequences:
    tokens = np.arange(37 * 5, dtype=np.uint16).reshape(37, 5)  # row k holds 5k .. 5k+4: rows are recognisable
    return Sequences(tokens, (tokens % 2).astype(np.uint8))


def rows(batch: torch.Tensor) -> list[int]:
    return (batch[:, 0] // 5).tolist()


def test_two_ranks_are_disjoint_and_together_the_one_worker_batch(split):
    single = BatchSampler(split, batch_size=8, seed=3)
    ranks = [BatchSampler(split, batch_size=8, seed=3, rank=r, world_size=2) for r in range(2)]
    for step in range(12):  # 96 rows: more than two epochs of 37, batches straddle epochs
        parts = [rows(r.batch(step)[0]) for r in ranks]
        assert parts[0] + parts[1] == rows(single.batch(step)[0])
        if step < 4:  # inside the first epoch every row is read once, so the ranks' rows are disjoint
            assert len(set(parts[0]) | set(parts[1])) == 8


def test_each_epoch_visits_every_row_once(split):
    sampler = BatchSampler(split, batch_size=37, seed=0)
    assert sorted(rows(sampler.batch(0)[0])) == list(range(37))
    assert rows(sampler.batch(0)[0]) != rows(sampler.batch(1)[0])  # a new order each epoch


def test_a_resumed_sampler_continues_with_the_next_batch(split):
    uninterrupted = BatchSampler(split, batch_size=8, seed=5)
    expected = [uninterrupted.batch(step) for step in range(10)]
    resumed = BatchSampler(split, batch_size=8, seed=5)  # a new process, told the checkpoint's step
    for step in (6, 7, 8, 9):
        tokens, parts = resumed.batch(step)
        assert torch.equal(tokens, expected[step][0]) and torch.equal(parts, expected[step][1])
    assert not torch.equal(resumed.batch(7)[0], expected[0][0])
    assert rows(BatchSampler(split, 8, seed=6).batch(0)[0]) != rows(expected[0][0])


def test_uneven_world_size_is_refused(split):
    with pytest.raises(ValueError, match="divide evenly"):
        BatchSampler(split, batch_size=10, world_size=3)


def test_batches_are_int64_whatever_the_stored_dtype(split):
    tokens, parts = BatchSampler(split, batch_size=4).batch(0)
    assert tokens.dtype == torch.int64 and parts.dtype == torch.uint8
    assert torch.equal(tokens % 2, parts.long())


def test_fixed_batches_spread_over_the_whole_split_in_order(split):
    batches = fixed_batches(split, batch_size=8, limit=10)
    assert [len(b[0]) for b in batches] == [8, 2]
    held = [row for b in batches for row in rows(b[0])]
    assert held == sorted(set(held)) and held[0] == 0 and held[-1] == 36  # first to last, no row twice
    assert max(np.diff(held)) - min(np.diff(held)) <= 1  # evenly spaced
    assert [row for b in fixed_batches(split, 16, limit=100) for row in rows(b[0])] == list(range(37))
