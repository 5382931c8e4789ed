"""Token shards on disk: a domain's sequences materialised once as Parquet, keyed by its fingerprint.

Layout: ``<cache>/<domain>-<fingerprint>/<split>-<k>.parquet`` plus ``meta.json``, written last, so a directory
without ``meta.json`` is an interrupted preparation and is rebuilt rather than trusted. Each shard holds two
fixed-size list columns, ``tokens`` and ``parts``; the Parquet metadata carries the vocabulary size.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scalesearch.data.domain import SPLITS, DataError, Domain, Sequences


def default_cache_dir() -> Path:
    return Path(os.environ.get("SCALESEARCH_CACHE", Path.cwd() / ".scalesearch" / "data"))


@dataclass(frozen=True)
class TokenSplit:
    """One split in memory: ``tokens`` [n, seq_len + 1] int64 and ``parts`` of the same shape (uint8)."""

    tokens: np.ndarray
    parts: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)


def _to_table(block: Sequences, vocab_size: int) -> pa.Table:
    width = block.tokens.shape[1]
    token_type = pa.uint16() if vocab_size <= np.iinfo(np.uint16).max else pa.int32()
    tokens = pa.FixedSizeListArray.from_arrays(
        pa.array(block.tokens.reshape(-1).astype(token_type.to_pandas_dtype())), width
    )
    parts = pa.FixedSizeListArray.from_arrays(pa.array(block.parts.reshape(-1).astype(np.uint8)), width)
    return pa.table({"tokens": tokens, "parts": parts}, metadata={"vocab_size": str(vocab_size)})


def _check_block(block: Sequences, domain: Domain, where: str) -> None:
    if block.tokens.shape[1] != domain.seq_len + 1:
        raise DataError(f"{where}: sequences have {block.tokens.shape[1]} tokens, expected seq_len + 1 = "
                        f"{domain.seq_len + 1}")
    bad = np.flatnonzero((block.tokens < 0) | (block.tokens >= domain.vocab_size))
    if bad.size:
        row, col = divmod(int(bad[0]), block.tokens.shape[1])
        raise DataError(f"{where}: row {row} position {col} holds token {int(block.tokens.flat[bad[0]])}, "
                        f"outside the vocabulary [0, {domain.vocab_size}) ({bad.size} such tokens)")
    if int(block.parts.max(initial=0)) > len(domain.parts):
        raise DataError(f"{where}: part id {int(block.parts.max())} but the domain names only {domain.parts}")


def prepare(domain: Domain, cache_dir: Path | None = None, rows_per_shard: int = 65536) -> Path:
    """Materialise ``domain`` into shards unless an identical preparation exists; return its directory.

    Writes the splits "train", "heldout" and every one of ``domain.eval_splits()``; ``meta.json`` records the
    count of each and how many bad source items were skipped."""
    root = Path(cache_dir or default_cache_dir()) / f"{domain.name}-{domain.fingerprint()}"
    if (root / "meta.json").exists():
        return root
    tmp = root.with_name(root.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    counts = {}
    for split in (*SPLITS, *domain.eval_splits()):
        n, shard, pending = 0, 0, []
        for block in domain.generate(split):
            _check_block(block, domain, f"{domain.name}/{split}")
            pending.append(block)
            if sum(map(len, pending)) >= rows_per_shard:
                shard = _write_shard(tmp, split, shard, pending, domain.vocab_size)
                n += sum(map(len, pending))
                pending = []
        if pending:
            shard = _write_shard(tmp, split, shard, pending, domain.vocab_size)
            n += sum(map(len, pending))
        if n == 0:
            shutil.rmtree(tmp)
            raise DataError(f"domain {domain.name!r} produced no {split} sequences: its source is empty"
                            + (f" ({domain.item_errors.count} bad items skipped)" if domain.item_errors.count else ""))
        counts[split] = n
    meta = {"domain": domain.name, "fingerprint": domain.fingerprint(), "vocab_size": domain.vocab_size,
            "seq_len": domain.seq_len, "parts": list(domain.parts), "tokens_per_item": domain.tokens_per_item,
            "sequences": counts, "eval_splits": domain.eval_splits(), "skipped_items": domain.item_errors.count,
            "options": domain.options()}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    if (root / "meta.json").exists():  # another process (a second rank) finished the same preparation first
        shutil.rmtree(tmp)
        return root
    if root.exists():  # a half-written earlier attempt
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


def _write_shard(directory: Path, split: str, index: int, blocks: list[Sequences], vocab_size: int) -> int:
    block = Sequences(np.concatenate([b.tokens for b in blocks]), np.concatenate([b.parts for b in blocks]))
    pq.write_table(_to_table(block, vocab_size), directory / f"{split}-{index:05d}.parquet")
    return index + 1


def load_split(root: Path, split: str) -> TokenSplit:
    """Read every shard of ``split`` under ``root`` into memory, checking what was written."""
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise DataError(f"{root}: no meta.json; the preparation was interrupted. Run `scalesearch data prepare`"
                        " again (or delete the directory)")
    meta = json.loads(meta_path.read_text())
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
            raise DataError(f"{path}: expected integer columns tokens and parts, fixed-size lists of width {width}; "
                            f"found {table.schema.to_string(show_schema_metadata=False)}")
        tokens.append(table.column("tokens").combine_chunks().flatten().to_numpy().reshape(-1, width))
        parts.append(table.column("parts").combine_chunks().flatten().to_numpy().reshape(-1, width))
    result = TokenSplit(np.concatenate(tokens).astype(np.int64), np.concatenate(parts))
    if len(result) != meta["sequences"][split]:
        raise DataError(f"{root}: {split} holds {len(result)} sequences, meta.json says "
                        f"{meta['sequences'][split]}: a shard is missing; delete {root} and prepare again")
    outside = np.flatnonzero((result.tokens < 0) | (result.tokens >= meta["vocab_size"]))
    if outside.size:
        row, col = divmod(int(outside[0]), width)
        raise DataError(f"{root}: {split} row {row} position {col} holds token {int(result.tokens.flat[outside[0]])}"
                        f", outside the vocabulary [0, {meta['vocab_size']})")
    return result


def _is_shard_schema(schema: pa.Schema, width: int) -> bool:
    if set(schema.names) != {"tokens", "parts"}:
        return False
    return all(pa.types.is_fixed_size_list(field.type) and field.type.list_size == width
               and pa.types.is_integer(field.type.value_type) for field in schema)
