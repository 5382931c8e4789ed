"""Images: tokens decode to the same pixels, held-out crops share no pixels with train, user sources (folder,
Parquet bytes and arrays) read, and bad images are reported, counted, or fatal in strict mode."""

from __future__ import annotations

import io
import itertools
import logging
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from scalesearch.data import DataError, make_domain, prepare
from scalesearch.data.image import BOS, RESOLUTIONS, ImageDomain


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def random_images(n: int, side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


@pytest.mark.parametrize("resolution", [8, 16])
def test_tokens_decode_to_the_same_pixels(resolution):
    domain = ImageDomain(resolution=resolution, crops_per_photo=3)
    images = list(domain.images("heldout"))
    block = next(domain.generate("heldout"))
    assert block.tokens.shape == (len(images), 3 * resolution**2 + 1) == (len(images), domain.seq_len + 1)
    assert np.all(block.tokens[:, 0] == BOS) and block.tokens[:, 1:].max() < 256
    for image, tokens in zip(images, block.tokens):
        assert np.array_equal(domain.pixels(tokens), image)
    assert domain.tokens_per_item == {"image": 3 * resolution**2}


def test_photo_crops_are_real_varied_and_disjoint_between_splits():
    domain = ImageDomain(crops_per_photo=40)
    train = list(domain.images("train"))
    heldout = list(domain.images("heldout"))
    assert len(train) == 40 * 11 and len(heldout) == 4 * 11  # 2 scikit-learn + 9 scikit-image photographs
    assert not {i.tobytes() for i in train} & {i.tobytes() for i in heldout}
    # Natural images: neighbouring pixels are strongly correlated (noise would give about 0).
    stack = np.stack(train).astype(float)
    left, right = stack[:, :, :-1].ravel(), stack[:, :, 1:].ravel()
    assert np.corrcoef(left, right)[0, 1] > 0.8
    assert np.std([i.mean() for i in train]) > 20  # crops differ from each other


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_no_heldout_pixel_is_in_a_train_crop_at_every_resolution(resolution):
    """Every resolution, 64 included, has held-out crops, and no train crop overlaps any of them."""
    domain = ImageDomain(resolution=resolution, crops_per_photo=50)
    for width, height in [(640, 427), (451, 300), (1411, 1411)]:  # china, chelsea (the smallest), retina
        boxes = {split: list(itertools.islice(domain.crop_boxes(split, width, height, random.Random(0)), 300))
                 for split in ("train", "heldout")}
        covered = {split: np.zeros((height, width), bool) for split in boxes}
        for split, split_boxes in boxes.items():
            for left, top, right, bottom in split_boxes:
                assert right - left == bottom - top >= resolution and 0 <= left and right <= width
                assert 0 <= top and bottom <= height
                covered[split][top:bottom, left:right] = True
        assert not (covered["train"] & covered["heldout"]).any()
        assert covered["heldout"].sum() <= width * height / domain.heldout_every  # at most a tenth of the photo
        sides = {split: np.median([b[2] - b[0] for b in split_boxes]) for split, split_boxes in boxes.items()}
        assert sides["train"] == pytest.approx(sides["heldout"], rel=0.3)  # the same scales in both splits
    images = list(itertools.islice(domain.images("heldout"), 3))
    assert [i.shape for i in images] == [(resolution, resolution, 3)] * 3


def test_digits_are_labelled_and_split_by_content():
    domain = ImageDomain(source="digits")
    train_images, train_labels = domain.labelled_images("train")
    heldout_images, _ = domain.labelled_images("heldout")
    assert len(train_images) + len(heldout_images) == 1797
    assert len(heldout_images) == pytest.approx(180, abs=40)
    assert set(train_labels) == set(range(10))
    assert not {i.tobytes() for i in train_images} & {i.tobytes() for i in heldout_images}


def test_folder_and_parquet_sources_give_the_same_images(tmp_path):
    images = random_images(30, 8)
    folder = tmp_path / "images"
    folder.mkdir()
    for k, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{k:03d}.png")
    pq.write_table(pa.table({"image": [png_bytes(i) for i in images]}), tmp_path / "encoded.parquet")
    pq.write_table(pa.table({"image": [i.reshape(-1).tolist() for i in images]}), tmp_path / "arrays.parquet")
    splits = []
    for source in (folder, tmp_path / "encoded.parquet", tmp_path / "arrays.parquet"):
        domain = ImageDomain(source=str(source), heldout_every=3)
        splits.append([np.stack(list(domain.images(split))) for split in ("train", "heldout")])
    for train, heldout in splits:
        assert len(train) + len(heldout) == 30
        assert np.array_equal(train, splits[0][0]) and np.array_equal(heldout, splits[0][1])
    assert {i.tobytes() for i in images} == {i.tobytes() for split in splits[0] for i in split}


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_large_images_are_downsampled_with_antialiasing(tmp_path, resolution):
    stripes = np.zeros((256, 256, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: point sampling would give all black or all white
    pq.write_table(pa.table({"image": [png_bytes(stripes)] * 3}), tmp_path / "stripes.parquet")
    domain = ImageDomain(resolution=resolution, source=str(tmp_path / "stripes.parquet"), heldout_every=1000)
    image = next(iter(domain.images("train")))
    assert image.shape == (resolution, resolution, 3)
    assert abs(float(image.mean()) - 127.5) < 3 and image.std() < 5  # the stripes' mean grey, evenly


def test_bad_images_are_reported_counted_or_fatal_when_strict(tmp_path, caplog):
    good = [png_bytes(i) for i in random_images(20, 8)]
    pq.write_table(pa.table({"image": good[:10] + [b"not an image"] + good[10:]}), tmp_path / "mixed.parquet")
    domain = ImageDomain(source=str(tmp_path / "mixed.parquet"), heldout_every=4)
    with caplog.at_level(logging.WARNING):
        prepare(domain, tmp_path / "cache")
    assert domain.item_errors.count == 1  # met by both splits, counted once
    assert caplog.text.count("row 10 column") == 1
    assert "mixed.parquet row 10 column 'image': cannot be decoded as an image" in caplog.text
    with pytest.raises(DataError, match=r"mixed.parquet row 10 .*cannot be decoded.*strict"):
        prepare(ImageDomain(source=str(tmp_path / "mixed.parquet"), heldout_every=4, strict=True), tmp_path / "c2")


@pytest.mark.parametrize("cells, expected", [
    ([[1, 2, 3, 4]], "flat array of 4 values is not a square RGB image"),
    ([np.zeros((2, 2, 2), int).tolist()], r"expected H x W x 3 .* shape \(2, 2, 2\)"),
    ([np.full(192, 300).tolist()], r"values in \[0, 255\]"),
    ([[], [0] * 192], "it is empty"),
    ([None, [0] * 192], "is null"),
    ([[0] * 191 + [None]], "holds object values, expected integers"),
])
def test_arrays_of_the_wrong_shape_or_range_are_bad_items(tmp_path, cells, expected):
    pq.write_table(pa.table({"image": cells}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=rf"bad.parquet row 0 column 'image'.*{expected}"):
        list(ImageDomain(source=str(tmp_path / "bad.parquet"), strict=True).images("train"))


@pytest.mark.parametrize("cells, expected", [
    ([np.full(192, 0.5).tolist()], "list<.*double>"),
    (["a picture"], "string"),
])
def test_columns_of_the_wrong_type_are_refused_as_a_whole(tmp_path, cells, expected):
    pq.write_table(pa.table({"image": cells}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=rf"bad.parquet: column 'image' holds {expected}, expected encoded image bytes "
                                        r"or \(nested\) lists of integers"):
        list(ImageDomain(source=str(tmp_path / "bad.parquet")).images("train"))


def test_missing_or_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="nowhere.parquet: no such file"):
        make_domain("image", source=str(tmp_path / "nowhere.parquet")).fingerprint()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        list(ImageDomain(source=str(tmp_path / "empty")).images("train"))
    pq.write_table(pa.table({"pixels": [b""]}), tmp_path / "other.parquet")
    with pytest.raises(DataError, match="no column 'image'.*pixels"):
        list(ImageDomain(source=str(tmp_path / "other.parquet")).images("train"))
    with pytest.raises(DataError, match="resolution 12"):
        ImageDomain(resolution=12)
