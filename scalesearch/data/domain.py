"""The domain interface: what a data domain must say so one training job can train on it.

A domain turns a source (files, Parquet, a generator) into fixed-length token sequences. Each sequence holds
``seq_len + 1`` tokens: the model reads the first ``seq_len`` and predicts the last ``seq_len``. Beside the tokens
every position carries a *part id*: 0 for tokens whose prediction is not counted (a math question, padding),
``i + 1`` for ``parts[i]`` (``answer`` for math; ``text`` and ``image`` for multimodal). The loss of a part is
the mean over the targets whose part id names it, which gives per-part losses without a second model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

SPLITS = ("train", "heldout")
SHARD_FORMAT = 2  # the layout of shards and meta.json: a change rebuilds old caches rather than misread them

log = logging.getLogger(__name__)


class DataError(ValueError):
    """A dataset that cannot be used as it is: the message names the file or item and what was expected."""


class ItemErrors:
    """Bad items of a source (an undecodable image, a row of the wrong shape): each is logged once and counted
    once, however many splits meet it, and preparation stops at the first one only in strict mode, so one bad
    file does not sink a large dataset."""

    shown = 10  # warnings logged one by one; the rest only counted

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.places: set[str] = set()

    @property
    def count(self) -> int:
        return len(self.places)

    def report(self, where: str, problem: str) -> None:
        message = f"{where}: {problem}"
        if self.strict:
            raise DataError(message + " (strict mode: stopping)")
        if where in self.places:
            return
        self.places.add(where)
        if self.count <= self.shown:
            log.warning("skipping bad item %s", message)
        elif self.count == self.shown + 1:
            log.warning("more bad items: counted, not shown one by one")


@dataclass(frozen=True)
class Sequences:
    """Sequences of one split, or a block of them: integer ``tokens`` [n, seq_len + 1] (int64 as generated,
    as stored when read back: uint16 for vocabularies up to 65535) and ``parts`` uint8 of the same shape."""

    tokens: np.ndarray
    parts: np.ndarray

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.tokens.shape != self.parts.shape:
            raise ValueError(
                f"tokens {self.tokens.shape} and parts {self.parts.shape} must be equal 2-D shapes "
                "[n, seq_len + 1]"
            )

    def __len__(self) -> int:
        return len(self.tokens)


class Domain(ABC):
    """A source of token sequences for one modality (subclasses: text, image, math, ...)."""

    name: ClassVar[str]
    vocab_size: int
    seq_len: int
    parts: tuple[str, ...] = ("all",)
    tokens_per_item: dict[str, float]  # counted tokens of each part per item: nats/item = nats/token x this
    strict: bool = False

    @cached_property
    def item_errors(self) -> ItemErrors:
        """The bad source items met so far (see ``ItemErrors``); ``prepare`` records their count."""
        return ItemErrors(self.strict)

    def eval_splits(self) -> list[str]:
        """Named held-out splits to evaluate at every report besides "heldout", logged as ``eval/<split>_loss``
        and per part ``eval/<split>_loss/<part>`` (math: the interpolation and extrapolation difficulties;
        text_image: each image with and without its caption, for I(text; image))."""
        return []

    def final_eval_splits(self) -> list[str]:
        """Named held-out splits to evaluate once, at the end of a job, logged like ``eval_splits`` (math: the
        sweep over difficulties 1..19, 19 splits too many to evaluate at every report)."""
        return []

    def splits(self) -> list[str]:
        """Every split ``prepare`` stores: train, heldout, the eval splits and the final eval splits."""
        return [*SPLITS, *self.eval_splits(), *self.final_eval_splits()]

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """Everything that decides the tokens (source identity and every option that changes them, even ones
        ``seq_len`` seems to imply: 4 frames of 16x16 and 16 frames of 8x8 have the same length), for the cache
        fingerprint."""

    @abstractmethod
    def generate(self, split: str) -> Iterator[Sequences]:
        """Yield the sequences of ``split`` (one of ``splits()``) in blocks, deterministically."""

    def decode(self, tokens: np.ndarray) -> str:
        """A person-readable rendering of one sequence, for ``scalesearch data show``."""
        return " ".join(str(int(t)) for t in tokens)

    def pixels(self, tokens: np.ndarray) -> np.ndarray | None:
        """The picture one sequence shows (H x W x 3 uint8; video: its frames side by side) for ``data show``
        to write as PNG; None for domains without images."""
        return None

    def fingerprint(self) -> str:
        """A short hash of the domain's name, options (with its own encoding version) and the shard format: the
        cache key of its shards."""
        payload = json.dumps(
            {"domain": self.name, "seq_len": self.seq_len, "vocab_size": self.vocab_size, "format": SHARD_FORMAT,
             **self.options()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
