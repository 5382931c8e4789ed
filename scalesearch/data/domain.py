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

log = logging.getLogger(__name__)


class DataError(ValueError):
    """A dataset that cannot be used as it is: the message names the file or item and what was expected."""


class ItemErrors:
    """Bad items of a source (an undecodable image, a row of the wrong shape): each is logged and counted, and
    preparation stops at the first one only in strict mode, so one bad file does not sink a large dataset."""

    shown = 10  # warnings logged one by one; the rest only counted

    def __init__(self, strict: bool = False):
        self.strict, self.count = strict, 0

    def report(self, where: str, problem: str) -> None:
        message = f"{where}: {problem}"
        if self.strict:
            raise DataError(message + " (strict mode: stopping)")
        self.count += 1
        if self.count <= self.shown:
            log.warning("skipping bad item %s", message)


@dataclass(frozen=True)
class Sequences:
    """A block of sequences: ``tokens`` int64 [n, seq_len + 1], ``parts`` uint8 of the same shape."""

    tokens: np.ndarray
    parts: np.ndarray

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.tokens.shape != self.parts.shape:
            raise ValueError(
                f"tokens {self.tokens.shape} and parts {self.parts.shape} must be equal 2-D shapes [n, seq_len + 1]"
            )

    def __len__(self) -> int:
        return len(self.tokens)


class Domain(ABC):
    """A source of token sequences for one modality (subclasses: text, image, math, ...)."""

    name: ClassVar[str]
    vocab_size: int
    seq_len: int
    parts: tuple[str, ...] = ("all",)
    tokens_per_item: dict[str, float] = {}
    strict: bool = False

    @cached_property
    def item_errors(self) -> ItemErrors:
        """The bad source items met so far (see ``ItemErrors``); ``prepare`` records their count."""
        return ItemErrors(self.strict)

    def eval_splits(self) -> list[str]:
        """Extra named splits the training job evaluates besides "heldout" and logs as ``eval/<split>_loss``
        (math: interpolation and extrapolation difficulties). ``prepare`` stores them like the others."""
        return []

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """Everything that decides the tokens (source identity and options), for the cache fingerprint."""

    @abstractmethod
    def generate(self, split: str) -> Iterator[Sequences]:
        """Yield the sequences of ``split`` ("train", "heldout" or one of ``eval_splits()``) in blocks,
        deterministically."""

    def decode(self, tokens: np.ndarray) -> str:
        """A person-readable rendering of one sequence, for ``scalesearch data show``."""
        return " ".join(str(int(t)) for t in tokens)

    def pixels(self, tokens: np.ndarray) -> np.ndarray | None:
        """The picture one sequence shows (H x W x 3 uint8; video: its frames side by side) for ``data show``
        to write as PNG; None for domains without images."""
        return None

    def fingerprint(self) -> str:
        """A short hash of the domain's name, options and encoding version: the cache key of its shards."""
        payload = json.dumps(
            {"domain": self.name, "seq_len": self.seq_len, "vocab_size": self.vocab_size, **self.options()},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
