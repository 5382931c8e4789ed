"""Caption-image pairs: both orders and uncaptioned images in one vocabulary, parts named per position, eval
splits for I(text; image), captions that name the digit, Parquet sources."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalesearch.data import DataError
from scalesearch.data.image import labelled_digits
from scalesearch.data.text_image import (
    IMAGE,
    IMAGE_FIRST,
    KINDS,
    NUMBER_WORDS,
    PAD,
    TEXT,
    TEXT_FIRST,
    TextImageDomain,
)


@pytest.fixture(scope="module")
def domain() -> TextImageDomain:
    return TextImageDomain()


def test_train_mixes_both_orders_and_uncaptioned_images(domain):
    block = next(domain.generate("train"))
    starts = block.tokens[:, 0]
    uncaptioned = (starts == TEXT_FIRST) & ~np.any(block.parts == TEXT, axis=1)
    assert np.mean(starts == IMAGE_FIRST) == pytest.approx(0.4, abs=0.06)
    assert np.mean(uncaptioned) == pytest.approx(0.2, abs=0.05)
    assert block.tokens.max() < domain.vocab_size and block.tokens.shape[1] == domain.seq_len + 1


def test_each_part_is_reported_on_its_own_positions(domain):
    for kind in KINDS:
        block = next(domain.generate(kind))
        tokens, parts = block.tokens, block.parts
        assert np.all(tokens[parts == IMAGE] < 256)  # image part: pixel values only
        assert np.all((tokens[parts == TEXT] >= 256) & (tokens[parts == TEXT] < 512))  # text part: caption bytes
        assert not np.any(parts[tokens == PAD]) and not np.any(parts[:, 0])
        assert np.all((parts == IMAGE).sum(axis=1) == domain.tokens_per_item["image"])
        has_text = (parts == TEXT).any(axis=1)
        assert has_text.all() if kind != "image_without_caption" else not has_text.any()
    given, without = next(domain.generate("image_given_caption")), next(domain.generate("image_without_caption"))
    # Same images at the same positions: the two image losses differ only by the caption.
    assert np.array_equal(given.tokens[given.parts == IMAGE], without.tokens[without.parts == IMAGE])
    assert np.array_equal(given.parts == IMAGE, without.parts == IMAGE)


def test_captions_name_the_digit_and_images_round_trip(domain):
    images, labels = labelled_digits("heldout", domain.heldout_every)
    for kind in ("image_given_caption", "caption_given_image"):
        block = next(domain.generate(kind))
        for tokens, image, label in zip(block.tokens, images, labels):
            assert np.array_equal(domain.pixels(tokens), image)
            text = domain.decode(tokens)
            assert NUMBER_WORDS[label] in text or f"{label}'" in text
    assert domain.eval_splits() == list(KINDS)


def test_tokens_per_item_are_the_counted_tokens_per_pair(domain):
    block = next(domain.generate("image_given_caption"))
    captions = [domain.decode(tokens).split(": ", 1)[1].strip("'") for tokens in block.tokens]
    assert domain.tokens_per_item["text"] == pytest.approx(np.mean([len(c.encode()) for c in captions]))
    assert domain.tokens_per_item["text"] == pytest.approx((block.parts == TEXT).sum(axis=1).mean())
    assert domain.tokens_per_item["image"] == 3 * 8 * 8


def test_parquet_pairs_and_bad_rows(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    captions = [f"picture {k}" for k in range(12)]
    captions[3] = None
    table = pa.table({"caption": captions, "image": [i.reshape(-1).tolist() for i in images]})
    pq.write_table(table, tmp_path / "pairs.parquet")
    domain = TextImageDomain(source=str(tmp_path / "pairs.parquet"), heldout_every=1000)
    pairs = list(domain.pairs("train"))
    assert len(pairs) == 11 and domain.item_errors.count == 1 and pairs[0][0] == "picture 0"
    assert pairs[0][1].shape == (8, 8, 3)  # 16x16 downsampled to the domain's resolution
    with pytest.raises(DataError, match="pairs.parquet row 3: caption column 'caption' holds NoneType"):
        list(TextImageDomain(source=str(tmp_path / "pairs.parquet"), strict=True).pairs("train"))
