"""Video at the pixel level: the channel values of ``frames`` RGB frames in time order (each frame raster
order), after the image domain's start token (256); nats/video = frames x 3 r^2 x nats/token.

Source: a Parquet column whose rows are frames T x H x W x 3 (nested lists, or flat in the domain's shape);
the first ``frames`` frames are kept and each is resized to ``resolution``. Default: moving sprites, a tinted
scikit-learn digit shrunk to ``sprite`` pixels that moves at a constant velocity of at most one pixel a frame
and bounces off the edges. Everything after the first frame follows from the first frame and the velocity, so
the video's entropy is bounded (by the choice of digit, tint, position and one of 9 velocities) and a good
model's loss on later frames should fall towards zero. Train and held-out videos use disjoint digit images.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.image import check_resolution, image_tokens, labelled_digits
from scalesearch.data.sources import (
    as_array,
    blocks,
    check_heldout_every,
    in_split,
    read_parquet,
    resize,
    source_identity,
)

TINTS = np.array([[255, 255, 255], [255, 80, 80], [80, 255, 80], [80, 120, 255]], dtype=np.float64) / 255


class VideoDomain(Domain):
    name = "video"
    vocab_size = 257
    parts = ("video",)

    def __init__(self, resolution: int = 8, frames: int = 4, source: str = "sprites", column: str = "frames",
                 sprite: int = 4, videos: int = 20_000, heldout_every: int = 10, seed: int = 0,
                 strict: bool = False, seq_len: int | None = None):
        tokens = frames * 3 * resolution**2
        check_resolution(resolution, seq_len, tokens, self.name)
        check_heldout_every(heldout_every, self.name)
        if frames < 1:
            raise DataError(f"video: frames must be at least 1, got {frames}")
        if not 0 < sprite <= resolution:
            raise DataError(f"video: sprite size {sprite} must lie in [1, resolution={resolution}]")
        self.resolution, self.frames, self.source, self.column = resolution, frames, source, column
        self.sprite, self.videos, self.heldout_every, self.seed = sprite, videos, heldout_every, seed
        self.strict = strict
        self.seq_len = tokens
        self.tokens_per_item = {"video": tokens}

    def options(self) -> dict[str, Any]:
        return {"source": source_identity(self.source, ("sprites",)), "column": self.column,
                "resolution": self.resolution, "frames": self.frames, "sprite": self.sprite, "videos": self.videos,
                "heldout_every": self.heldout_every, "seed": self.seed, "version": 1}

    def clips(self, split: str) -> Iterator[np.ndarray]:
        """The videos of ``split`` as frames x resolution x resolution x 3 uint8 arrays."""
        if self.source == "sprites":
            yield from self._moving_sprites(split)
            return
        table = read_parquet(self.source, {self.column: ("integers",)})
        for row, value in enumerate(table.column(self.column).to_pylist()):
            where = f"{self.source} row {row} column {self.column!r}"
            flat_shape = (self.frames, self.resolution, self.resolution, 3)
            clip = as_array(value, where, self.item_errors, shape=flat_shape if np.ndim(value) == 1 else None,
                            ndim=4)
            if clip is None:
                continue
            if clip.shape[0] < self.frames or clip.shape[3] != 3 or clip.min() < 0 or clip.max() > 255:
                self.item_errors.report(where, f"expected at least {self.frames} frames x H x W x 3 values in "
                                               f"[0, 255], found shape {clip.shape}")
                continue
            clip = clip[: self.frames].astype(np.uint8)
            if in_split(clip.tobytes(), split, self.heldout_every):
                yield np.stack([resize(frame, self.resolution) for frame in clip])

    def _moving_sprites(self, split: str) -> Iterator[np.ndarray]:
        images = labelled_digits(split, self.heldout_every)[0]
        sprites = [resize(image, self.sprite).astype(np.float64) for image in images]
        rng = random.Random(f"{self.seed}/{split}")
        count = self.videos if split == "train" else max(1, self.videos // self.heldout_every)
        room = self.resolution - self.sprite
        for _ in range(count):
            sprite = np.rint(rng.choice(sprites) * TINTS[rng.randrange(len(TINTS))]).astype(np.uint8)
            x, y = rng.randint(0, room), rng.randint(0, room)
            dx, dy = (rng.randint(-1, 1), rng.randint(-1, 1)) if room else (0, 0)
            clip = np.zeros((self.frames, self.resolution, self.resolution, 3), np.uint8)
            for t in range(self.frames):
                clip[t, y:y + self.sprite, x:x + self.sprite] = sprite
                if not 0 <= x + dx <= room:
                    dx = -dx
                if not 0 <= y + dy <= room:
                    dy = -dy
                x, y = x + dx, y + dy
            yield clip

    def generate(self, split: str) -> Iterator[Sequences]:
        parts = np.ones(self.seq_len + 1, np.uint8)
        rows = ((image_tokens(clip), parts) for clip in self.clips(split))
        yield from blocks(rows)

    def pixels(self, tokens: np.ndarray) -> np.ndarray:
        clip = np.asarray(tokens[1:], np.uint8).reshape(self.frames, self.resolution, self.resolution, 3)
        return np.concatenate(list(clip), axis=1)

    def decode(self, tokens: np.ndarray) -> str:
        return f"{self.frames} frames of {self.resolution}x{self.resolution} RGB"
