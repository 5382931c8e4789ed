"""Token shards on disk: a domain's sequences materialised once as Parquet, keyed by its fingerprint.

Layout: ``<cache>/<domain>-<fingerprint>/<split>-<k>.parquet`` plus ``meta.json``, written last, so a directory
without ``meta.json`` is an interrupted preparation and is rebuilt rather than trusted. Each shard holds two
fixed-size list columns, ``tokens`` (uint16, or int32 for larger vocabularies) and ``parts`` (uint8); the
Parquet metadata carries the vocabulary size.

Train is written first; a held-out or eval sequence whose tokens equal a train sequence's is dropped (and
counted in ``meta.json``), so no held-out loss is measured on a sequence the model was trained on, whatever the
source holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scalesearch.data.domain import DataError, Domain, Sequences

TOKENS_PER_SHARD = 1 << 24  # 32 MB of uint16 a shard, whatever the sequence length


def default_cache_dir() -> Path:
    return Path(os.environ.get("SCALESEARCH_CACHE", Path.cwd() / ".scalesearch" / "data"))


def token_dtype(vocab_size: int) -> type[np.integer]:
    """The narrowest dtype shards and loaded splits keep tokens in (a quarter of int64's memory)."""
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32


def check_vocabulary(tokens: np.ndarray, vocab_size: int, where: str, what: str) -> None:
    """A ``DataError`` naming the first token outside ``[0, vocab_size)``, its row and position."""
    bad = np.flatnonzero((tokens < 0) | (tokens >= vocab_size))
    if bad.size:
        row, col = divmod(int(bad[0]), tokens.shape[1])
        raise DataError(f"{where}: row {row} position {col} holds token {int(tokens.flat[bad[0]])}, outside the "
                        f"vocabulary [0, {vocab_size}) ({bad.size} such tokens); {what}")


def row_hashes(tokens: np.ndarray) -> list[bytes]:
    """A content hash of each sequence's tokens (independent of the dtype they are held in)."""
    return [hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in tokens.astype(np.int64)]


def _check_block(block: Sequences, domain: Domain, where: str) -> None:
    if block.tokens.shape[1] != domain.seq_len + 1:
        raise DataError(f"{where}: sequences have {block.tokens.shape[1]} tokens, expected seq_len + 1 = "
                        f"{domain.seq_len + 1}")
    check_vocabulary(block.tokens, domain.vocab_size, where, "the domain produced a token it does not declare")
    if int(block.parts.max(initial=0)) > len(domain.parts):
        raise DataError(f"{where}: part id {int(block.parts.max())} but the domain names only {domain.parts}")


class _SplitWriter:
    """Writes one split's blocks into shards of about ``tokens_per_shard`` tokens, holding what is not yet
    written in the narrow dtype."""

    def __init__(self, directory: Path, split: str, vocab_size: int, tokens_per_shard: int):
        self.directory, self.split = directory, split
        self.vocab_size, self.tokens_per_shard = vocab_size, tokens_per_shard
        self.pending: list[Sequences] = []
        self.shards = self.rows = 0

    def add(self, block: Sequences) -> None:
        self.pending.append(Sequences(block.tokens.astype(token_dtype(self.vocab_size)), block.parts))
        if sum(b.tokens.size for b in self.pending) >= self.tokens_per_shard:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        tokens = np.concatenate([b.tokens for b in self.pending])
        parts = np.concatenate([b.parts for b in self.pending]).astype(np.uint8)
        width = tokens.shape[1]
        table = pa.table({"tokens": pa.FixedSizeListArray.from_arrays(pa.array(tokens.reshape(-1)), width),
                          "parts": pa.FixedSizeListArray.from_arrays(pa.array(parts.reshape(-1)), width)},
                         metadata={"vocab_size": str(self.vocab_size)})
        pq.write_table(table, self.directory / f"{self.split}-{self.shards:05d}.parquet")
        self.shards, self.rows, self.pending = self.shards + 1, self.rows + len(tokens), []


def prepare(domain: Domain, cache_dir: Path | None = None, tokens_per_shard: int = TOKENS_PER_SHARD) -> Path:
    """Materialise ``domain`` into shards unless an identical preparation exists; return its directory.

    Writes every split of ``domain.splits()``; ``meta.json`` records the count of each, the held-out sequences
    dropped as copies of train ones, and the bad source items skipped."""
    root = Path(cache_dir or default_cache_dir()) / f"{domain.name}-{domain.fingerprint()}"
    if (root / "meta.json").exists():
        return root
    tmp = root.with_name(root.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    counts, dropped, train_rows = {}, {}, set()
    for split in domain.splits():
        writer, dropped[split] = _SplitWriter(tmp, split, domain.vocab_size, tokens_per_shard), 0
        for block in domain.generate(split):
            _check_block(block, domain, f"{domain.name}/{split}")
            hashes = row_hashes(block.tokens)
            if split == "train":
                train_rows.update(hashes)
            else:
                keep = np.array([h not in train_rows for h in hashes], dtype=bool)
                dropped[split] += int((~keep).sum())
                block = Sequences(block.tokens[keep], block.parts[keep])
            writer.add(block)
        writer.flush()
        if writer.rows == 0:
            shutil.rmtree(tmp)
            skipped = domain.item_errors.count
            copies = dropped[split]
            raise DataError(f"domain {domain.name!r} produced no {split} sequences: its source is empty"
                            + (f" ({skipped} bad items skipped)" if skipped else "")
                            + (f" ({copies} dropped as copies of train sequences)" if copies else ""))
        counts[split] = writer.rows
    meta = {"domain": domain.name, "fingerprint": domain.fingerprint(), "vocab_size": domain.vocab_size,
            "seq_len": domain.seq_len, "parts": list(domain.parts), "tokens_per_item": domain.tokens_per_item,
            "sequences": counts, "dropped_as_in_train": {s: n for s, n in dropped.items() if s != "train"},
            "eval_splits": domain.eval_splits(), "final_eval_splits": domain.final_eval_splits(),
            "skipped_items": domain.item_errors.count,
            "options": domain.options()}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    if root.exists() and not (root / "meta.json").exists():  # a half-written earlier attempt
        shutil.rmtree(root, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:  # another process (a second rank) finished the same preparation first
        if not (root / "meta.json").exists():
            raise
        shutil.rmtree(tmp)
    return root


def read_meta(root: Path) -> dict:
    """The ``meta.json`` of a finished preparation."""
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise DataError(f"{root}: no meta.json; the preparation was interrupted. Run `scalesearch data prepare`"
                        " again (or delete the directory)")
    return json.loads(meta_path.read_text())


def load_split(root: Path, split: str) -> Sequences:
    """Read every shard of ``split`` under ``root`` into memory, checking what was written. Tokens stay in the
    shards' narrow dtype; ``BatchSampler`` widens each batch."""
    meta = read_meta(root)
    if split not in meta["sequences"]:
        raise DataError(f"{root}: no split {split!r}; it holds {sorted(meta['sequences'])}")
    files = sorted(root.glob(f"{split}-*.parquet"))
    if not files:
        raise DataError(f"{root}: no {split} shards; delete the directory and prepare again")
    width = meta["seq_len"] + 1
    tokens, parts = [], []
    for path in files:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as err:
            raise DataError(f"{path}: corrupt shard ({err}); delete {root} and run `scalesearch data prepare` "
                            "again") from err
        if not _is_shard_schema(table.schema, width):
            raise DataError(f"{path}: expected integer columns tokens and parts, fixed-size lists of width "
                            f"{width}; found {table.schema.to_string(show_schema_metadata=False)}")
        tokens.append(table.column("tokens").combine_chunks().flatten().to_numpy().reshape(-1, width))
        parts.append(table.column("parts").combine_chunks().flatten().to_numpy().reshape(-1, width))
        check_vocabulary(tokens[-1], meta["vocab_size"], str(path), f"delete {root} and prepare again")
    result = Sequences(np.concatenate(tokens), np.concatenate(parts).astype(np.uint8))
    if len(result) != meta["sequences"][split]:
        raise DataError(f"{root}: {split} holds {len(result)} sequences, meta.json says "
                        f"{meta['sequences'][split]}: a shard is missing; delete {root} and prepare again")
    return result


def _is_shard_schema(schema: pa.Schema, width: int) -> bool:
    if set(schema.names) != {"tokens", "parts"}:
        return False
    return all(pa.types.is_fixed_size_list(field.type) and field.type.list_size == width
               and pa.types.is_integer(field.type.value_type) for field in schema)
