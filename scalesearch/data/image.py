"""Images at the pixel level: each RGB channel value of each pixel is one token of 256, in raster order, after
a start token (256), so all ``3 r^2`` values of an ``r x r`` image are predicted: nats/image = 3 r^2 x nats/token.

Sources: ``photos`` (default): crops at random positions and scales of the colour photographs shipped inside
the scikit-learn and scikit-image wheels, downsampled to ``resolution`` with an antialiasing filter. Held-out
crops come from a square of ``1/heldout_every`` of each photograph's area and train crops never touch it, so
no pixel of a held-out image was seen in training. ``digits``: scikit-learn's 1797 labelled 8x8 digits
(``labelled_images`` gives their classes for the downstream fine-tune). A path: a folder of image files or a
Parquet file whose ``column`` holds encoded image bytes or uint8 arrays; each image is resized whole, and goes
to held-out by a hash of its pixels.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.sources import (
    blocks,
    check_heldout_every,
    digits,
    in_split,
    iter_images,
    resize,
    shipped_photographs,
    source_identity,
)

RESOLUTIONS = (8, 16, 32, 64)
BOS = 256
FLAT_STD = 2.0  # a crop whose values vary less than this is flat
Box = tuple[int, int, int, int]  # left, top, right, bottom


def image_tokens(pixels: np.ndarray) -> np.ndarray:
    """The start token then the channel values of an H x W x 3 image (or T x H x W x 3 video) in raster order."""
    return np.concatenate([[BOS], pixels.reshape(-1)]).astype(np.int64)


def tokens_to_pixels(tokens: np.ndarray, resolution: int) -> np.ndarray:
    """The inverse of ``image_tokens`` for the ``3 r^2`` pixel tokens (the start token removed)."""
    return np.asarray(tokens, dtype=np.uint8).reshape(resolution, resolution, 3)


def heldout_square(width: int, height: int, heldout_every: int) -> Box:
    """The held-out part of a photograph: the square of ``1/heldout_every`` of its area in the middle of its
    right edge, as (left, top, right, bottom). A square, so held-out crops can be as large as at any resolution;
    mid-edge, not in a corner, where photographs are often empty (the retina's black surround)."""
    side = min(width, height, math.isqrt(width * height // heldout_every))
    top = (height - side) // 2
    return width - side, top, width, top + side


def check_resolution(resolution: int, seq_len: int | None, fixed_seq_len: int, domain: str) -> None:
    """A resolution the image domains support, and a ``seq_len`` option, if given, equal to what it implies."""
    if resolution not in RESOLUTIONS:
        raise DataError(f"{domain}: resolution {resolution} is not one of {RESOLUTIONS}")
    if seq_len is not None and seq_len != fixed_seq_len:
        raise DataError(f"{domain}: seq_len is fixed by the resolution: {fixed_seq_len}, not {seq_len}")


def labelled_digits(split: str, heldout_every: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits (n x 8 x 8 x 3) and labels of ``split``, assigned by a hash of the pixels."""
    images, labels = digits()
    keep = np.array([in_split(image.tobytes(), split, heldout_every) for image in images])
    return images[keep], labels[keep]


class ImageDomain(Domain):
    name = "image"
    vocab_size = 257
    parts = ("image",)

    def __init__(self, resolution: int = 8, source: str = "photos", column: str = "image",
                 crops_per_photo: int = 2000, heldout_every: int = 10, seed: int = 0, strict: bool = False,
                 seq_len: int | None = None):
        check_resolution(resolution, seq_len, 3 * resolution**2, self.name)
        check_heldout_every(heldout_every, self.name)
        self.resolution, self.source, self.column = resolution, source, column
        self.crops_per_photo, self.heldout_every, self.seed = crops_per_photo, heldout_every, seed
        self.strict = strict
        self.seq_len = 3 * resolution**2
        self.tokens_per_item = {"image": self.seq_len}

    def options(self) -> dict[str, Any]:
        return {"source": source_identity(self.source, ("photos", "digits")), "resolution": self.resolution,
                "column": self.column, "crops_per_photo": self.crops_per_photo, "heldout_every": self.heldout_every,
                "seed": self.seed, "version": 2}

    def images(self, split: str) -> Iterator[np.ndarray]:
        """The ``resolution``-square images of ``split`` (H x W x 3 uint8), deterministically."""
        if self.source == "photos":
            yield from self._photo_crops(split)
        elif self.source == "digits":
            for image in labelled_digits(split, self.heldout_every)[0]:
                yield resize(image, self.resolution)
        else:
            for _, pixels in iter_images(self.source, self.column, self.item_errors):
                if in_split(pixels.tobytes(), split, self.heldout_every):
                    yield resize(pixels, self.resolution)

    def crop_boxes(self, split: str, width: int, height: int, rng: random.Random) -> Iterator[Box]:
        """Endless square boxes of ``split`` in a ``width`` x ``height`` photograph: sides log-uniform between
        ``resolution`` and the side of the held-out square (the same scales in both splits), placed uniformly
        inside that square (held-out) or anywhere not touching it (train)."""
        held = heldout_square(width, height, self.heldout_every)
        largest = held[2] - held[0]
        if largest < self.resolution:
            raise DataError(f"image: a {width}x{height} photograph has a held-out square of {largest} pixels, "
                            f"smaller than the resolution {self.resolution}; lower heldout_every")
        while True:
            side = round(np.exp(rng.uniform(np.log(self.resolution), np.log(largest))))
            if split == "heldout":
                x, y = rng.randint(held[0], held[2] - side), rng.randint(held[1], held[3] - side)
            else:
                x, y = rng.randint(0, width - side), rng.randint(0, height - side)
                if x + side > held[0] and held[1] < y + side and y < held[3]:
                    continue  # touches the held-out square
            yield x, y, x + side, y + side

    def _photo_crops(self, split: str) -> Iterator[np.ndarray]:
        """``crops_per_photo`` crops of each photograph (a tenth of that for held-out), downsampled. Flat crops
        (the black surround of the retina, the sky of the deep field) are drawn again: they would be the same
        few images in both splits, with nothing to learn."""
        count = self.crops_per_photo if split == "train" else max(1, self.crops_per_photo // self.heldout_every)
        for name, photo in shipped_photographs():
            made = 0
            boxes = self.crop_boxes(split, *photo.size, random.Random(f"{self.seed}/{split}/{name}"))
            for attempt, box in enumerate(boxes):
                if attempt == 100 * count:
                    raise DataError(f"image: {name} gave only {made} of {count} {split} crops that are not flat")
                crop = resize(photo, self.resolution, box=box)
                if crop.std() >= FLAT_STD:
                    made += 1
                    yield crop
                    if made == count:
                        break

    def generate(self, split: str) -> Iterator[Sequences]:
        parts = np.ones(self.seq_len + 1, np.uint8)
        yield from blocks((image_tokens(image), parts) for image in self.images(split))

    def labelled_images(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images n x r x r x 3, labels) of the digits source, for fine-tuning a classifier downstream."""
        if self.source != "digits":
            raise DataError(f"image: only the digits source has labels, not {self.source!r}")
        images = np.stack(list(self.images(split)))
        return images, labelled_digits(split, self.heldout_every)[1]

    def pixels(self, tokens: np.ndarray) -> np.ndarray:
        return tokens_to_pixels(tokens[1:], self.resolution)

    def decode(self, tokens: np.ndarray) -> str:
        return f"{self.resolution}x{self.resolution} RGB image, mean value {np.mean(tokens[1:]):.1f}"
