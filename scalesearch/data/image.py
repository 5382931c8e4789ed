"""Images at the pixel level: each RGB channel value of each pixel is one token of 256, in raster order, after
a start token (256), so all ``3 r^2`` values of an ``r x r`` image are predicted: nats/image = 3 r^2 x nats/token.

Sources: ``photos`` (default): crops at random positions and scales of the colour photographs shipped inside
the scikit-learn and scikit-image wheels, downsampled to ``resolution`` with an antialiasing filter. Held-out
crops come from the right-most ``1/heldout_every`` of each photograph's width and train crops from the rest,
so no pixel of a held-out image was seen in training. ``digits``: scikit-learn's 1797 labelled 8x8 digits
(``labelled_images`` gives their classes for the downstream fine-tune). A path: a folder of image files or a
Parquet file whose ``column`` holds encoded image bytes or uint8 arrays; each image is resized whole, and goes
to held-out by a hash of its pixels.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.sources import (
    blocks,
    digits,
    file_identity,
    in_split,
    iter_images,
    resize,
    shipped_photographs,
)

RESOLUTIONS = (8, 16, 32, 64)
BOS = 256
FLAT_STD = 2.0  # a crop whose values vary less than this is flat


def image_tokens(pixels: np.ndarray) -> np.ndarray:
    """The start token then the channel values of an H x W x 3 image (or T x H x W x 3 video) in raster order."""
    return np.concatenate([[BOS], pixels.reshape(-1)]).astype(np.int64)


def tokens_to_pixels(tokens: np.ndarray, resolution: int) -> np.ndarray:
    """The inverse of ``image_tokens`` for the ``3 r^2`` pixel tokens (the start token removed)."""
    return np.asarray(tokens, dtype=np.uint8).reshape(resolution, resolution, 3)


def check_resolution(resolution: int, seq_len: int | None, tokens_per_image: int, domain: str) -> None:
    if resolution not in RESOLUTIONS:
        raise DataError(f"{domain}: resolution {resolution} is not one of {RESOLUTIONS}")
    if seq_len is not None and seq_len != tokens_per_image:
        raise DataError(f"{domain}: seq_len is fixed by the image size: {tokens_per_image}, not {seq_len}")


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
                 seq_len: int | None = None, block_rows: int = 4096):
        check_resolution(resolution, seq_len, 3 * resolution**2, self.name)
        self.resolution, self.source, self.column = resolution, source, column
        self.crops_per_photo, self.heldout_every, self.seed = crops_per_photo, heldout_every, seed
        self.strict, self.block_rows = strict, block_rows
        self.seq_len = 3 * resolution**2
        self.tokens_per_item = {"image": self.seq_len}

    def options(self) -> dict[str, Any]:
        source = self.source if self.source in ("photos", "digits") else file_identity(self.source)
        return {"source": source, "column": self.column, "crops_per_photo": self.crops_per_photo,
                "heldout_every": self.heldout_every, "seed": self.seed, "version": 1}

    def images(self, split: str) -> Iterator[np.ndarray]:
        """The ``resolution``-square images of ``split`` (H x W x 3 uint8), deterministically."""
        if self.source == "photos":
            yield from self._photo_crops(split)
        elif self.source == "digits":
            for image in labelled_digits(split, self.heldout_every)[0]:
                yield resize(image, self.resolution) if self.resolution != 8 else image
        else:
            for _, pixels in iter_images(self.source, self.column, self.item_errors):
                if in_split(pixels.tobytes(), split, self.heldout_every):
                    yield resize(pixels, self.resolution)

    def _photo_crops(self, split: str) -> Iterator[np.ndarray]:
        """Square crops with sides log-uniform between ``resolution`` and the photo's height, placed uniformly
        in the photo's train part (the left ``1 - 1/heldout_every`` of its width) or held-out part. Flat crops
        (the black surround of the retina and the sky's deep field) are drawn again: they would be the same
        few images in both splits, with nothing to learn."""
        count = self.crops_per_photo if split == "train" else max(1, self.crops_per_photo // self.heldout_every)
        for name, photo in shipped_photographs():
            rng = random.Random(f"{self.seed}/{split}/{name}")
            width, height = photo.size
            boundary = width - width // self.heldout_every
            left, right = (0, boundary) if split == "train" else (boundary, width)
            largest = min(height, right - left)
            made = 0
            while made < count:
                side = round(np.exp(rng.uniform(np.log(self.resolution), np.log(largest))))
                x, y = rng.randint(left, right - side), rng.randint(0, height - side)
                crop = resize(photo, self.resolution, box=(x, y, x + side, y + side))
                if crop.std() >= FLAT_STD:
                    made += 1
                    yield crop

    def generate(self, split: str) -> Iterator[Sequences]:
        parts = np.ones(self.seq_len + 1, np.uint8)
        yield from blocks(((image_tokens(image), parts) for image in self.images(split)), self.block_rows)

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
