"""Language at the byte level: every byte of UTF-8 text is one token of 256.

Documents go to train or held-out by a hash of their content (1 in ``heldout_every``), so no document is in both
and the split does not move when documents are added. Each split is one byte stream cut into sequences.

Sources: text files (``paths``, one document each), a Parquet string column (``parquet`` + ``column``, one
document a row), or the default corpus that ships with Python, so the domain runs offline anywhere: the
reference manual (``pydoc_data.topics``, ~470 KB) and the docstrings of the standard library's modules, parsed
with ``ast`` (~1.8 MB for CPython 3.11, one document per module; parsing takes ~15 s, once, as shards are
cached). The default corpus therefore depends on the Python version: it is the same on every machine with the
same CPython minor version, and the version is part of the cache fingerprint.
"""

from __future__ import annotations

import ast
import functools
import sys
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.sources import (
    check_heldout_every,
    file_identity,
    in_split,
    read_parquet,
    rows_per_block,
)

STDLIB_SKIPPED = {"site-packages", "test", "tests", "idle_test"}  # test suites: code, not prose


def python_reference_manual() -> list[str]:
    import pydoc_data.topics

    return [pydoc_data.topics.topics[key] for key in sorted(pydoc_data.topics.topics)]


def module_docstrings(path: Path) -> str:
    """The docstrings of a module, its classes and functions in source order, blank-line separated."""
    with warnings.catch_warnings():  # old modules hold invalid escape sequences
        warnings.simplefilter("ignore")
        tree = ast.parse(path.read_bytes())
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docs = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, nodes))
    return "\n\n".join(doc for doc in docs if doc)


@functools.cache
def stdlib_docstrings() -> tuple[str, ...]:
    """One document per standard-library module (sorted by path): the prose its authors wrote."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if not STDLIB_SKIPPED & set(p.relative_to(root).parts))
    return tuple(doc for doc in map(module_docstrings, files) if doc)


class TextDomain(Domain):
    name = "text"
    vocab_size = 256
    parts = ("text",)

    def __init__(self, seq_len: int = 128, paths: list[str] | None = None, parquet: str | None = None,
                 column: str = "text", heldout_every: int = 10, strict: bool = False):
        if paths and parquet:
            raise DataError("text: give either paths or parquet as the source, not both")
        if seq_len < 1:
            raise DataError(f"text: seq_len must be at least 1, got {seq_len}")
        check_heldout_every(heldout_every, self.name)
        self.seq_len, self.paths, self.parquet, self.column = seq_len, paths, parquet, column
        self.heldout_every, self.strict = heldout_every, strict
        self.tokens_per_item = {"text": 1}

    def options(self) -> dict[str, Any]:
        files = self.paths or ([self.parquet] if self.parquet else [])
        default = f"python-{sys.version_info.major}.{sys.version_info.minor}-docs"
        return {"sources": [file_identity(p) for p in files] or default,
                "column": self.column, "heldout_every": self.heldout_every}

    def documents(self) -> list[str]:
        if self.parquet:
            return self._parquet_documents()
        if not self.paths:
            return python_reference_manual() + list(stdlib_docstrings())
        docs = []
        for p in self.paths:
            try:
                docs.append(Path(p).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as err:
                self.item_errors.report(f"text source {p}", f"cannot be read as UTF-8 text ({err})")
        return docs

    def _parquet_documents(self) -> list[str]:
        docs = []
        column = read_parquet(self.parquet, {self.column: ("strings",)}).column(self.column)
        for row, value in enumerate(column.to_pylist()):
            if isinstance(value, str):
                docs.append(value)
            else:
                self.item_errors.report(f"{self.parquet} row {row} column {self.column!r}",
                                        f"expected a string, found {type(value).__name__}")
        return docs

    def generate(self, split: str) -> Iterator[Sequences]:
        width = self.seq_len + 1
        docs = [d for d in self.documents() if in_split(d.encode(), split, self.heldout_every)]
        stream = np.frombuffer("\n\n".join(docs).encode("utf-8"), dtype=np.uint8)
        n = len(stream) // width
        tokens = stream[: n * width].reshape(n, width)
        step = rows_per_block(width)
        for start in range(0, n, step):
            block = tokens[start:start + step].astype(np.int64)
            yield Sequences(block, np.ones_like(block, dtype=np.uint8))

    def decode(self, tokens: np.ndarray) -> str:
        return bytes(np.asarray(tokens, dtype=np.uint8)).decode("utf-8", errors="replace")
