"""Text: bytes round trip, documents split by content, the standard library docstring corpus, Parquet sources."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalesearch.data import DataError, prepare
from scalesearch.data.text import TextDomain, module_docstrings, python_reference_manual


def write_documents(folder, n: int = 40) -> list[str]:
    paths = []
    for k in range(n):
        path = folder / f"doc{k}.txt"
        path.write_text(f"Document {k}: naïve café {k * 7919} " * 20, encoding="utf-8")
        paths.append(str(path))
    return paths


def test_text_decodes_to_the_same_bytes(tmp_path):
    paths = write_documents(tmp_path)
    domain = TextDomain(seq_len=64, paths=paths, heldout_every=4)
    for split in ("train", "heldout"):
        tokens = np.concatenate([b.tokens for b in domain.generate(split)])
        docs = [d for d in domain.documents() if (int(hashlib.sha1(d.encode()).hexdigest()[:16], 16) % 4 == 0)
                == (split == "heldout")]
        assert bytes(tokens.reshape(-1).astype(np.uint8)) == "\n\n".join(docs).encode()[: tokens.size]
    assert domain.decode(np.frombuffer("naïve café".encode(), np.uint8)) == "naïve café"


def test_no_document_in_both_splits(tmp_path):
    domain = TextDomain(seq_len=32, paths=write_documents(tmp_path), heldout_every=3)
    train = {r.tobytes() for b in domain.generate("train") for r in b.tokens}
    heldout = {r.tobytes() for b in domain.generate("heldout") for r in b.tokens}
    assert train and heldout and not train & heldout


def test_module_docstrings_are_the_prose_of_a_module(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text('"""Module prose."""\n\ndef f():\n    """Function prose."""\n    return "not a doc"\n\n'
                      'class C:\n    """Class prose."""\n')
    assert module_docstrings(source) == "Module prose.\n\nFunction prose.\n\nClass prose."


def test_default_corpus_starts_with_the_reference_manual():
    manual = python_reference_manual()
    assert sum(map(len, manual)) > 300_000 and "assert" in "".join(manual[:5])
    assert TextDomain().options()["sources"].startswith("python-3.")


def test_parquet_column_source_with_a_bad_row(tmp_path, caplog):
    pq.write_table(pa.table({"body": ["first text " * 50, None, "second text " * 50]}), tmp_path / "t.parquet")
    domain = TextDomain(seq_len=16, parquet=str(tmp_path / "t.parquet"), column="body", heldout_every=1000)
    assert len(domain.documents()) == 2 and domain.item_errors.count == 1
    assert "t.parquet row 1 column 'body': expected a string, found NoneType" in caplog.text
    with pytest.raises(DataError, match="row 1 column 'body'.*strict"):
        TextDomain(parquet=str(tmp_path / "t.parquet"), column="body", strict=True).documents()


def test_unreadable_files_and_empty_sources(tmp_path):
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00 not utf-8")
    with pytest.raises(DataError, match="binary.txt: cannot be read as UTF-8"):
        TextDomain(paths=[str(tmp_path / "binary.txt")], strict=True).documents()
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="produced no train sequences: its source is empty"):
        prepare(TextDomain(paths=[str(tmp_path / "empty.txt")]), tmp_path / "cache")
    with pytest.raises(DataError, match="missing.txt: no such file"):
        TextDomain(paths=[str(tmp_path / "missing.txt")]).fingerprint()
