"""Caption and image pairs in one model, in both orders, so the mutual information ``I(text; image)`` can be
measured (DESIGN §2): ``L(image | no caption) - L(image | caption)`` per image.

Vocabulary: pixel values 0..255, caption bytes 256..511, two start tokens that say the order, and a pad.
A sequence is ``[TEXT_FIRST] caption image`` or ``[IMAGE_FIRST] image caption``; the caption is padded to
``caption_len`` bytes (longer captions are cut) and pads are never counted. An uncaptioned image is
``[TEXT_FIRST]`` then pads then the image: the same positions as a captioned one, so the two image losses differ
only by what the caption tells. Train and held-out mix the three kinds (``uncaptioned_share`` uncaptioned, the
rest half in each order); the eval splits hold every held-out pair once in one kind: ``image_given_caption``,
``image_without_caption`` (their ``image`` losses give I) and ``caption_given_image``.

Default source: scikit-learn's digits with captions that name the digit in one of a few phrasings, so the
mutual information has a known ceiling: the label's entropy, at most log 10 nats per image.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import numpy as np

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.image import check_resolution, labelled_digits, tokens_to_pixels
from scalesearch.data.sources import (
    blocks,
    check_heldout_every,
    decode_image,
    in_split,
    read_parquet,
    resize,
    source_identity,
)

TEXT_OFFSET = 256
TEXT_FIRST, IMAGE_FIRST, PAD = 512, 513, 514
TEXT, IMAGE = 1, 2  # part ids
KINDS = ("image_given_caption", "caption_given_image", "image_without_caption")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_CAPTIONS = ("a handwritten {word}", "the digit {digit}", "{word}, written by hand", "a small {digit}",
                  "number {word}")


def digit_caption(label: int, rng: random.Random) -> str:
    return rng.choice(DIGIT_CAPTIONS).format(word=NUMBER_WORDS[label], digit=label)


class TextImageDomain(Domain):
    name = "text_image"
    vocab_size = 515
    parts = ("text", "image")

    def __init__(self, resolution: int = 8, source: str = "digits", caption_column: str = "caption",
                 image_column: str = "image", caption_len: int = 32, uncaptioned_share: float = 0.2,
                 heldout_every: int = 10, seed: int = 0, strict: bool = False, seq_len: int | None = None):
        check_resolution(resolution, seq_len, caption_len + 3 * resolution**2, self.name)
        check_heldout_every(heldout_every, self.name)
        if caption_len < 1:
            raise DataError(f"text_image: caption_len must be at least 1, got {caption_len}")
        if not 0 <= uncaptioned_share <= 1:
            raise DataError(f"text_image: uncaptioned_share must lie in [0, 1], got {uncaptioned_share}")
        self.resolution, self.source, self.caption_len = resolution, source, caption_len
        self.caption_column, self.image_column = caption_column, image_column
        self.uncaptioned_share, self.heldout_every, self.seed = uncaptioned_share, heldout_every, seed
        self.strict = strict
        self.seq_len = caption_len + 3 * resolution**2

    def options(self) -> dict[str, Any]:
        return {"source": source_identity(self.source, ("digits",)),
                "columns": [self.caption_column, self.image_column],
                "resolution": self.resolution, "caption_len": self.caption_len,
                "uncaptioned_share": self.uncaptioned_share, "heldout_every": self.heldout_every,
                "seed": self.seed, "version": 1}

    def eval_splits(self) -> list[str]:
        return list(KINDS)

    @cached_property
    def tokens_per_item(self) -> dict[str, float]:  # type: ignore[override]
        """Image tokens per image, and mean counted caption bytes per held-out caption (pads are not counted)."""
        lengths = [min(len(caption.encode("utf-8")), self.caption_len) for caption, _ in self.pairs("heldout")]
        return {"text": float(np.mean(lengths)) if lengths else 0.0, "image": 3 * self.resolution**2}

    def pairs(self, split: str) -> Iterator[tuple[str, np.ndarray]]:
        """(caption, resolution-square image) of "train" or "heldout"."""
        if self.source == "digits":
            rng = random.Random(f"{self.seed}/{split}/captions")
            for image, label in zip(*labelled_digits(split, self.heldout_every)):
                yield digit_caption(int(label), rng), resize(image, self.resolution)
            return
        table = read_parquet(self.source, {self.caption_column: ("strings",),
                                             self.image_column: ("bytes", "integers")})
        rows = zip(table.column(self.caption_column).to_pylist(), table.column(self.image_column).to_pylist())
        for row, (caption, value) in enumerate(rows):
            where = f"{self.source} row {row}"
            if not isinstance(caption, str):
                self.item_errors.report(where, f"caption column {self.caption_column!r} holds "
                                               f"{type(caption).__name__}, expected a string")
                continue
            pixels = decode_image(value, f"{where} column {self.image_column!r}", self.item_errors)
            if pixels is not None and in_split(pixels.tobytes(), split, self.heldout_every):
                yield caption, resize(pixels, self.resolution)

    def sequence(self, caption: str, image: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """The tokens and part ids of one pair laid out as ``kind`` (one of ``KINDS``)."""
        text = np.full(self.caption_len, PAD, np.int64)
        if kind != "image_without_caption":
            encoded = np.frombuffer(caption.encode("utf-8")[: self.caption_len], np.uint8)
            text[: len(encoded)] = encoded.astype(np.int64) + TEXT_OFFSET
        pixels = image.reshape(-1).astype(np.int64)
        text_parts = np.where(text == PAD, 0, TEXT).astype(np.uint8)
        image_parts = np.full(len(pixels), IMAGE, np.uint8)
        if kind == "caption_given_image":
            return (np.concatenate([[IMAGE_FIRST], pixels, text]),
                    np.concatenate([[0], image_parts, text_parts]))
        return np.concatenate([[TEXT_FIRST], text, pixels]), np.concatenate([[0], text_parts, image_parts])

    def generate(self, split: str) -> Iterator[Sequences]:
        if split in KINDS:
            rows = (self.sequence(caption, image, split) for caption, image in self.pairs("heldout"))
        else:
            rng = random.Random(f"{self.seed}/{split}/kinds")
            rows = (self.sequence(caption, image, self._draw_kind(rng)) for caption, image in self.pairs(split))
        yield from blocks(rows)

    def _draw_kind(self, rng: random.Random) -> str:
        if rng.random() < self.uncaptioned_share:
            return "image_without_caption"
        return rng.choice(KINDS[:2])

    def _caption_and_pixels(self, tokens: np.ndarray) -> tuple[str, np.ndarray]:
        tokens = np.asarray(tokens)
        n_pixels = 3 * self.resolution**2
        if tokens[0] == IMAGE_FIRST:
            pixels, text = tokens[1:1 + n_pixels], tokens[1 + n_pixels:]
        else:
            text, pixels = tokens[1:1 + self.caption_len], tokens[1 + self.caption_len:]
        caption = bytes((text[text != PAD] - TEXT_OFFSET).astype(np.uint8)).decode("utf-8", errors="replace")
        return caption, tokens_to_pixels(pixels, self.resolution)

    def pixels(self, tokens: np.ndarray) -> np.ndarray:
        return self._caption_and_pixels(tokens)[1]

    def decode(self, tokens: np.ndarray) -> str:
        order = "image then caption" if tokens[0] == IMAGE_FIRST else "caption then image"
        caption = self._caption_and_pixels(tokens)[0]
        return f"{order}: {caption!r}" if caption else "image without caption"
