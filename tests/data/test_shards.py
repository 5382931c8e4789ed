"""The shard cache: reuse without regeneration, fingerprints that follow the options, eval splits stored, and
clear errors for every way a shard can be broken."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalesearch.data import DataError, Domain, Sequences, load_split, prepare
from scalesearch.data.mathematics import MathDomain


class CountingDomain(Domain):
    """A tiny domain that counts how often it is asked to generate."""

    name = "counting"
    vocab_size = 50
    parts = ("all",)

    def __init__(self, value: int = 1, seq_len: int = 8, extra: bool = False, bad_token: int | None = None,
                 copies: int = 0):
        self.value, self.seq_len, self.extra = value, seq_len, extra
        self.bad_token, self.copies = bad_token, copies
        self.tokens_per_item = {"all": seq_len}
        self.calls = 0

    def options(self) -> dict:
        return {"value": self.value, "extra": self.extra}

    def eval_splits(self) -> list[str]:
        return ["special"] if self.extra else []

    def generate(self, split: str) -> Iterator[Sequences]:
        self.calls += 1
        first, rows = {"train": (0, 30), "heldout": (30, 5), "special": (35, 3)}[split]
        numbers = np.arange(first, first + rows)
        if split != "train":
            numbers[:self.copies] = np.arange(10, 10 + self.copies)  # copies of train rows 10, 11, ...
        width = self.seq_len + 1  # row k holds (width k + j + value) % 50: distinct rows for k < 50
        tokens = (numbers[:, None] * width + np.arange(width) + self.value) % self.vocab_size
        if self.bad_token is not None:
            tokens[2, 4] = self.bad_token
        for start in range(0, rows, 4):  # blocks of 4 sequences
            yield Sequences(tokens[start:start + 4], np.ones_like(tokens[start:start + 4], dtype=np.uint8))


def test_second_prepare_reuses_the_shards(tmp_path):
    first = CountingDomain()
    root = prepare(first, tmp_path)
    assert first.calls == 2
    second = CountingDomain()
    assert prepare(second, tmp_path) == root and second.calls == 0
    expected = np.concatenate([b.tokens for b in CountingDomain().generate("train")])
    assert np.array_equal(load_split(root, "train").tokens, expected)


def test_a_changed_option_changes_the_fingerprint(tmp_path):
    assert CountingDomain(1).fingerprint() == CountingDomain(1).fingerprint()
    assert CountingDomain(1).fingerprint() != CountingDomain(2).fingerprint()
    assert CountingDomain(seq_len=8).fingerprint() != CountingDomain(seq_len=9).fingerprint()
    assert prepare(CountingDomain(1), tmp_path) != prepare(CountingDomain(2), tmp_path)


def test_eval_splits_are_stored_and_recorded(tmp_path):
    root = prepare(CountingDomain(extra=True), tmp_path)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["eval_splits"] == ["special"] and meta["sequences"] == {"train": 30, "heldout": 5, "special": 3}
    assert len(load_split(root, "special")) == 3
    with pytest.raises(DataError, match="no split 'other'"):
        load_split(root, "other")


def test_heldout_copies_of_train_sequences_are_dropped_and_counted(tmp_path):
    root = prepare(CountingDomain(copies=2, extra=True), tmp_path)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["sequences"] == {"train": 30, "heldout": 3, "special": 1}
    assert meta["dropped_as_in_train"] == {"heldout": 2, "special": 2}
    train = {r.tobytes() for r in load_split(root, "train").tokens}
    for split in ("heldout", "special"):
        assert not train & {r.tobytes() for r in load_split(root, split).tokens}
    with pytest.raises(DataError, match="no special sequences.*3 dropped as copies of train sequences"):
        prepare(CountingDomain(copies=3, extra=True, value=2), tmp_path)


def test_shards_keep_tokens_narrow_and_come_back_in_order(tmp_path):
    one = load_split(prepare(CountingDomain(), tmp_path / "one"), "train")
    assert one.tokens.dtype == np.uint16 and one.parts.dtype == np.uint8
    root = prepare(CountingDomain(), tmp_path / "many", tokens_per_shard=50)  # two blocks of 4 x 9 tokens a shard
    assert [len(pq.read_table(p)) for p in sorted(root.glob("train-*.parquet"))] == [8, 8, 8, 6]
    many = load_split(root, "train")
    assert np.array_equal(many.tokens, one.tokens) and np.array_equal(many.parts, one.parts)


def prepare_math(cache: str) -> str:
    return str(prepare(MathDomain(train_problems=2000, heldout_problems=50, eval_problems=10), Path(cache)))


def test_concurrent_preparations_of_the_same_domain_agree(tmp_path):
    """Two processes (two DDP ranks on one node) prepare the same domain at once: both get the one directory."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        roots = list(pool.map(prepare_math, [str(tmp_path)] * 2))
    assert roots[0] == roots[1] and [p.name for p in tmp_path.iterdir()] == [Path(roots[0]).name]
    assert len(load_split(Path(roots[0]), "extrapolate")) > 0


def test_tokens_outside_the_vocabulary_are_refused_when_prepared(tmp_path):
    with pytest.raises(DataError, match=r"counting/train: row 2 position 4 holds token 77, outside the vocabulary"):
        prepare(CountingDomain(bad_token=77), tmp_path)


@pytest.fixture
def prepared(tmp_path):
    return prepare(CountingDomain(), tmp_path)


def test_missing_shard(prepared):
    (prepared / "train-00000.parquet").unlink()
    with pytest.raises(DataError, match="no train shards"):
        load_split(prepared, "train")


def test_missing_meta_means_an_interrupted_preparation(prepared):
    (prepared / "meta.json").unlink()
    with pytest.raises(DataError, match="interrupted"):
        load_split(prepared, "train")


def test_fewer_sequences_than_recorded(prepared):
    meta = json.loads((prepared / "meta.json").read_text())
    meta["sequences"]["train"] = 60
    (prepared / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="train holds 30 sequences, meta.json says 60: a shard is missing"):
        load_split(prepared, "train")


def test_corrupt_shard(prepared):
    path = prepared / "heldout-00000.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"heldout-00000.parquet: corrupt shard"):
        load_split(prepared, "heldout")


@pytest.mark.parametrize("tokens, expected", [
    (pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(45, np.float32)), 9), "expected integer columns"),
    (pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(50, np.uint16)), 10), "fixed-size lists of width 9"),
    (pa.array([[0] * 9] * 5), "fixed-size lists"),
])
def test_wrong_dtype_or_shape(prepared, tokens, expected):
    parts = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(45, np.uint8)), 9)
    pq.write_table(pa.table({"tokens": tokens, "parts": parts}), prepared / "heldout-00000.parquet")
    with pytest.raises(DataError, match=rf"heldout-00000.parquet: .*{expected}"):
        load_split(prepared, "heldout")


def test_stored_token_outside_the_vocabulary(prepared):
    tokens = np.zeros((5, 9), np.uint16)
    tokens[3, 7] = 999
    table = pa.table({"tokens": pa.FixedSizeListArray.from_arrays(pa.array(tokens.reshape(-1)), 9),
                      "parts": pa.FixedSizeListArray.from_arrays(pa.array(np.ones(45, np.uint8)), 9)})
    pq.write_table(table, prepared / "heldout-00000.parquet")
    with pytest.raises(DataError, match=r"heldout-00000.parquet: row 3 position 7 holds token 999, outside the "
                                        r"vocabulary \[0, 50\)"):
        load_split(prepared, "heldout")
