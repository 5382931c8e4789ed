"""Pre-tokenised codes (VQ-VAE, VQGAN, any tokenizer the user runs): one Parquet row of integer codes per item.

The file's schema metadata must say ``vocab_size`` (write it with ``pa.table(..., metadata={"vocab_size":
"1024"})``); a start token ``vocab_size`` precedes each item, so the domain's vocabulary is one larger and every
code is predicted. Every row must hold the same number of codes, which fixes ``seq_len``; a row of another
length or with a code outside the vocabulary is a bad item. Rows go to held-out by a hash of their codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow.compute as pc

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.sources import (
    as_array,
    blocks,
    check_heldout_every,
    file_identity,
    in_split,
    parquet_metadata,
    read_parquet,
)


class VQDomain(Domain):
    name = "vq"
    parts = ("codes",)

    def __init__(self, path: str, column: str = "codes", heldout_every: int = 10, strict: bool = False,
                 seq_len: int | None = None):
        check_heldout_every(heldout_every, self.name)
        self.path, self.column, self.heldout_every = path, column, heldout_every
        self.strict = strict
        self.table = read_parquet(path, {column: ("integers",)})
        vocab = parquet_metadata(path).get("vocab_size")
        if vocab is None or not vocab.isdigit() or int(vocab) < 1:
            raise DataError(f"{path}: the schema metadata must give vocab_size as a positive integer, found "
                            f"{vocab!r}")
        self.codes_vocab = int(vocab)
        self.vocab_size = self.codes_vocab + 1
        lengths = pc.fill_null(pc.list_value_length(self.table.column(column)), -1).to_numpy()
        if not (lengths > 0).any():
            raise DataError(f"{path}: no rows of codes in column {column!r}")
        codes_per_item = int(np.bincount(lengths[lengths > 0]).argmax())  # the usual length; others are bad
        if seq_len is not None and seq_len != codes_per_item:
            raise DataError(f"{path}: items hold {codes_per_item} codes, which fixes seq_len; got {seq_len}")
        self.seq_len = codes_per_item
        self.tokens_per_item = {"codes": codes_per_item}

    def options(self) -> dict[str, Any]:
        return {"source": file_identity(self.path), "column": self.column, "heldout_every": self.heldout_every}

    def generate(self, split: str) -> Iterator[Sequences]:
        parts = np.ones(self.seq_len + 1, np.uint8)
        yield from blocks((np.concatenate([[self.codes_vocab], codes]), parts) for codes in self.items(split))

    def items(self, split: str) -> Iterator[np.ndarray]:
        for row, value in enumerate(self.table.column(self.column).to_pylist()):
            where = f"{self.path} row {row} column {self.column!r}"
            codes = as_array(value, where, self.item_errors, ndim=1)
            if codes is None:
                continue
            if len(codes) != self.seq_len:
                self.item_errors.report(where, f"expected {self.seq_len} codes, found {len(codes)}")
            elif codes.min() < 0 or codes.max() >= self.codes_vocab:
                self.item_errors.report(where, f"code {int(codes[(codes < 0) | (codes >= self.codes_vocab)][0])} "
                                               f"outside the vocabulary [0, {self.codes_vocab})")
            elif in_split(codes.astype(np.int64).tobytes(), split, self.heldout_every):
                yield codes.astype(np.int64)
