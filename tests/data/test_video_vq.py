"""Video (moving sprites with known motion, Parquet frames) and pre-tokenised VQ codes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalesearch.data import DataError, load_split, make_domain, prepare
from scalesearch.data.video import VideoDomain
from scalesearch.data.vq import VQDomain


def test_sprites_move_rigidly_at_a_known_speed():
    """Each frame is the first frame's sprite shifted by a velocity of at most one pixel per axis whose size never
    changes (only its sign, at a wall): the motion is known, so the video's entropy is bounded."""
    domain = VideoDomain(videos=50, resolution=16, sprite=8, frames=6)
    clips = list(domain.clips("train"))
    assert len(clips) == 50
    moved = 0
    for clip in clips:
        ink = clip.max(axis=-1) > 0
        corners = np.array([np.argwhere(frame).min(axis=0) for frame in ink])
        sprite = clip[0][ink[0]]
        for t, (y, x) in enumerate(corners):  # the same pixels, moved
            shifted = np.roll(clip[0], (y - corners[0][0], x - corners[0][1]), axis=(0, 1))
            assert np.array_equal(shifted, clip[t]) and np.array_equal(clip[t][ink[t]], sprite)
        steps = np.diff(corners, axis=0)
        assert np.abs(steps).max() <= 1 and (np.abs(steps) == np.abs(steps[0])).all()
        moved += bool(steps.any())
    assert moved > 25
    block = next(domain.generate("train"))
    assert block.tokens.shape == (50, 6 * 768 + 1)
    assert np.array_equal(domain.pixels(block.tokens[0])[:, :16], clips[0][0])
    assert np.array_equal(domain.pixels(block.tokens[0])[:, 80:], clips[0][5])


def test_video_from_parquet_frames(tmp_path):
    clips = np.random.default_rng(0).integers(0, 256, (6, 5, 8, 8, 3), dtype=np.uint8)
    rows = [c.tolist() for c in clips] + [clips[0][:2].tolist()]  # last clip: too few frames
    pq.write_table(pa.table({"frames": rows}), tmp_path / "v.parquet")
    domain = VideoDomain(source=str(tmp_path / "v.parquet"), frames=4, heldout_every=1000)
    got = list(domain.clips("train"))
    assert len(got) == 6 and np.array_equal(got[0], clips[0][:4]) and domain.item_errors.count == 1
    with pytest.raises(DataError, match=r"v.parquet row 6 column 'frames': expected at least 4 frames"):
        list(VideoDomain(source=str(tmp_path / "v.parquet"), frames=4, strict=True).clips("train"))


def write_codes(path, rows, vocab="512"):
    table = pa.table({"codes": rows})
    pq.write_table(table.replace_schema_metadata({"vocab_size": vocab} if vocab else None), path)


def test_vq_codes_keep_their_values_and_vocabulary(tmp_path):
    codes = np.random.default_rng(0).integers(0, 512, (40, 16))
    write_codes(tmp_path / "c.parquet", codes.tolist())
    domain = make_domain("vq", path=str(tmp_path / "c.parquet"), heldout_every=4)
    assert domain.vocab_size == 513 and domain.seq_len == 16
    root = prepare(domain, tmp_path / "cache")
    stored = np.concatenate([load_split(root, s).tokens for s in ("train", "heldout")]).astype(np.int64)
    assert np.all(stored[:, 0] == 512)
    assert {r.tobytes() for r in stored[:, 1:]} == {r.tobytes() for r in codes.astype(np.int64)}


def test_vq_bad_rows_and_metadata(tmp_path):
    rows = np.zeros((5, 8), int).tolist()
    rows[2] = [0] * 7
    rows[3] = [0] * 7 + [600]
    write_codes(tmp_path / "c.parquet", rows)
    domain = VQDomain(str(tmp_path / "c.parquet"), heldout_every=1000)
    assert len(list(domain.items("train"))) == 3 and domain.item_errors.count == 2
    with pytest.raises(DataError, match=r"row 2 column 'codes': expected 8 codes, found 7"):
        list(VQDomain(str(tmp_path / "c.parquet"), strict=True).items("train"))
    write_codes(tmp_path / "c.parquet", rows[:2] + rows[3:])
    with pytest.raises(DataError, match=r"row 2 column 'codes': code 600 outside the vocabulary \[0, 512\)"):
        list(VQDomain(str(tmp_path / "c.parquet"), strict=True).items("train"))
    write_codes(tmp_path / "floats.parquet", [[0.5] * 8] * 3)
    with pytest.raises(DataError, match=r"floats.parquet: column 'codes' holds list<.*double>, "
                                        r"expected \(nested\) lists of integers"):
        VQDomain(str(tmp_path / "floats.parquet"))
    write_codes(tmp_path / "nometa.parquet", rows, vocab=None)
    with pytest.raises(DataError, match="nometa.parquet: the schema metadata must give vocab_size"):
        VQDomain(str(tmp_path / "nometa.parquet"))
