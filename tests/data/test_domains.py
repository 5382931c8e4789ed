"""Every domain through the same path the training job takes (make_domain -> prepare -> load_split -> batches):
shapes and vocabulary as declared, every sequence with something to predict, and no train sequence in any
held-out or eval split, by construction (the cache's safety net drops none)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalesearch.data import DOMAINS, load_split, make_domain, prepare
from scalesearch.data.batches import BatchSampler
from scalesearch.data.shards import row_hashes

SMALL = {
    "text": {},  # the default corpus: Python's reference manual and standard-library docstrings
    "image": {"crops_per_photo": 30, "resolution": 16},
    "math": {"train_problems": 2000, "heldout_problems": 200, "eval_problems": 20},
    "text_image": {},
    "video": {"videos": 300},
    "vq": {},  # a file written by the fixture
}


@pytest.fixture(scope="module")
def codes_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vq") / "codes.parquet"
    codes = np.random.default_rng(0).integers(0, 1024, (300, 32))
    pq.write_table(pa.table({"codes": codes.tolist()}).replace_schema_metadata({"vocab_size": "1024"}), path)
    return str(path)


def test_every_domain_is_covered():
    assert set(SMALL) == set(DOMAINS)


@pytest.mark.parametrize("name, a, b", [
    ("video", {"frames": 4, "resolution": 16}, {"frames": 16, "resolution": 8}),  # both 3072 tokens
    ("text_image", {"caption_len": 608, "resolution": 8}, {"caption_len": 32, "resolution": 16}),  # both 800
])
def test_options_of_the_same_length_have_their_own_cache(name, a, b):
    first, second = make_domain(name, **a), make_domain(name, **b)
    assert first.seq_len == second.seq_len and first.fingerprint() != second.fingerprint()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_domain_as_the_training_job_reads_it(name, codes_file, tmp_path):
    options = {"path": codes_file} if name == "vq" else SMALL[name]
    domain = make_domain(name, **options)
    assert make_domain(name, **options).fingerprint() == domain.fingerprint()
    assert set(domain.tokens_per_item) <= set(domain.parts) and all(v > 0 for v in domain.tokens_per_item.values())
    root = prepare(domain, tmp_path)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["skipped_items"] == 0 and set(meta["dropped_as_in_train"].values()) == {0}
    splits = {split: load_split(root, split) for split in domain.splits()}
    for split, data in splits.items():
        assert len(data) > 0 and data.tokens.shape[1] == domain.seq_len + 1, split
        assert data.tokens.max() < domain.vocab_size and data.parts.max() <= len(domain.parts)
        assert (data.parts[:, 1:] > 0).any(axis=1).all(), f"{split}: a sequence with no counted target"
    train = set(row_hashes(splits["train"].tokens))
    for split, data in splits.items():
        if split != "train":
            assert not train & set(row_hashes(data.tokens)), split
    tokens, parts = BatchSampler(splits["train"], batch_size=8).batch(3)
    assert tokens.shape == parts.shape == (8, domain.seq_len + 1)
