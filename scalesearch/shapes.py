"""Model families and sizes: from a family and a target N (or an explicit depth and width) to a valid shape.

A scaling search varies N along a family at a fixed aspect ratio ``d_model / n_layer``; Kaplan et al. found the
loss nearly flat in aspect ratio over a wide range, so the ratio is a search-space choice, not a tuned knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalesearch.model import ModelConfig

MIN_D_MODEL = 8  # henighan: N = 192 (1 layer), below which a CPU demo's compute-optimal size would fall
MAX_N_LAYER = 1024
MAX_D_MODEL = 65536


@dataclass(frozen=True)
class Family:
    """How ``d_attn`` and ``d_ff`` follow ``d_model``: ``N = n_params_per_layer_unit * n_layer * d_model**2``."""

    name: str
    attn_ratio: float  # d_attn / d_model
    ff_ratio: float  # d_ff / d_model

    @property
    def n_params_per_layer_unit(self) -> float:
        return 4 * self.attn_ratio + 2 * self.ff_ratio

    def shape(self, n_layer: int, d_model: int, n_ctx: int, vocab_size: int, n_head: int | None = None) -> ModelConfig:
        """The family's shape at this depth and width; heads ``max(2, d_model // 64)`` unless given."""
        d_attn = d_model * self.attn_ratio
        if d_attn != int(d_attn) or d_attn < 1:
            raise ValueError(f"family {self.name}: d_model={d_model} gives a fractional d_attn={d_attn}; "
                             f"use a d_model divisible by {round(1 / self.attn_ratio)}")
        heads = n_head if n_head is not None else max(2, d_model // 64)
        return ModelConfig(n_layer=n_layer, d_model=d_model, d_attn=int(d_attn), d_ff=int(d_model * self.ff_ratio),
                           n_head=heads, n_ctx=n_ctx, vocab_size=vocab_size)

    @property
    def n_params_min(self) -> int:
        return int(self.n_params_per_layer_unit * MIN_D_MODEL ** 2)

    @property
    def n_params_max(self) -> int:
        return int(self.n_params_per_layer_unit * MAX_N_LAYER * MAX_D_MODEL ** 2)


FAMILIES = {
    "gpt": Family("gpt", attn_ratio=1.0, ff_ratio=4.0),  # N = 12 n_layer d_model^2
    "henighan": Family("henighan", attn_ratio=0.25, ff_ratio=1.0),  # N = 3 n_layer d_model^2
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known families: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def _width_quantum(d_model: float, n_head: int | None) -> int:
    """Widths are multiples of 8 when small (two whole heads of henighan's d_model/4), of 4 with one head (a
    finer ladder of tiny one-layer models: N = 192, 432, 768, 1200, ...), and of 64 from 512 on (friendly to GPU
    kernels)."""
    if d_model >= 512:
        return 64
    return 4 if n_head == 1 else 8


def shape_for_n_params(family: str, n_params: float, aspect: float, n_ctx: int, vocab_size: int,
                       n_head: int | None = None, n_layer: int | None = None) -> ModelConfig:
    """The valid shape of ``family`` whose N is closest to ``n_params`` at aspect ratio near ``aspect``, with
    ``n_head`` heads if given (else the family's rule), at depth ``n_layer`` if given.

    Depth follows from ``N = k * aspect^2 * n_layer^3``; nearby depths are tried with the width rounded to a
    valid multiple, and the candidate closest in log N (then in log aspect) wins. A fixed depth keeps a ladder
    of tiny models in one shape family: at N ~ 1e3 the nearest shape otherwise jumps between 1 and 4 layers.
    """
    fam = get_family(family)
    if not fam.n_params_min <= n_params <= fam.n_params_max:
        raise ValueError(f"N={n_params:.3g} is outside what family {family!r} can build "
                         f"([{fam.n_params_min:.3g}, {fam.n_params_max:.3g}])")
    if aspect <= 0:
        raise ValueError(f"aspect ratio d_model/n_layer must be positive, got {aspect}")
    ideal_layers = (n_params / (fam.n_params_per_layer_unit * aspect ** 2)) ** (1 / 3)
    depths = [n_layer] if n_layer else range(max(1, math.floor(ideal_layers / 1.5)),
                                             min(MAX_N_LAYER, math.ceil(ideal_layers * 1.5)) + 1)
    best, best_score = None, math.inf
    for depth in depths:
        width = math.sqrt(n_params / (fam.n_params_per_layer_unit * depth))
        q = _width_quantum(width, n_head)
        for d_model in {max(MIN_D_MODEL, q * math.floor(width / q)), max(MIN_D_MODEL, q * math.ceil(width / q))}:
            try:
                cfg = fam.shape(depth, d_model, n_ctx, vocab_size, n_head)
            except ValueError:
                continue
            score = abs(math.log(cfg.n_params / n_params)) + 0.1 * abs(math.log(d_model / depth / aspect))
            if score < best_score:
                best, best_score = cfg, score
    if best is None:
        raise ValueError(f"no valid {family} shape near N={n_params:.3g} at aspect {aspect}")
    return best


def log_spaced_sizes(family: str, n_min: float, n_max: float, count: int, aspect: float, n_ctx: int,
                     vocab_size: int) -> list[ModelConfig]:
    """``count`` shapes with N log-spaced over ``[n_min, n_max]``; sizes that round to the same shape appear once."""
    if not 0 < n_min <= n_max:
        raise ValueError(f"N range [{n_min:g}, {n_max:g}] is empty or inverted; give 0 < n_min <= n_max")
    shapes = [shape_for_n_params(family, n, aspect, n_ctx, vocab_size)
              for n in np.geomspace(n_min, n_max, max(count, 1))]
    return list(dict.fromkeys(shapes))
