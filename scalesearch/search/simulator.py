"""A learning-curve simulator with a known truth, so the search logic runs through real Ray Tune in seconds.

The truth is Chinchilla's ``L(N, D) = E + A/N^alpha + B/D^beta`` (``fits.synthetic.KnownLaw``; Besiroglu et al.'s
coefficients by default, DESIGN §5; ``gamma`` != 1 makes it non-additive, as Kaplan's form; ``kappa`` adds a
cross term), whose frontier has ``beta_opt = beta/(alpha+beta)`` and ``alpha_C = alpha beta/(alpha+beta)``. On top of it: a
learning-rate optimum that falls with N as in Henighan's Table 5, whose miss multiplies the reducible loss by
``1 + s ln(lr/lr_opt)^2``, and noise that is a fixed function of the trial's seed, so a resumed trial repeats its
curve exactly.
"""

from __future__ import annotations

import zlib

import numpy as np

from scalesearch.fits.synthetic import KnownLaw
from scalesearch.spec import SimulateSpec

LR_REFERENCE_N = 1.23e4  # Henighan Table 5's smallest model, where lr_optimum is given


class SimulatedLaw:
    """Held-out loss of a trial of size N with peak learning rate lr after ``tokens`` tokens."""

    def __init__(self, spec: SimulateSpec):
        self.spec = spec
        self.truth = KnownLaw(E=spec.E, A=spec.A, B=spec.B, alpha=spec.alpha, beta=spec.beta,
                              gamma=spec.gamma, kappa=spec.kappa)

    def lr_optimum(self, n_params: float) -> float:
        return self.spec.lr_optimum * (n_params / LR_REFERENCE_N) ** self.spec.lr_exponent

    def curve(self, n_params: float, lr: float | None, tokens: np.ndarray, seed: str) -> np.ndarray:
        """The trial's losses at ``tokens``; ``lr=None`` means tuned perfectly."""
        miss = 0.0 if lr is None else np.log(lr / self.lr_optimum(n_params))
        reducible = (self.truth.loss(n_params, tokens) - self.spec.E) * (1.0 + self.spec.lr_sensitivity * miss**2)
        rng = np.random.default_rng(zlib.crc32(seed.encode()))
        noise = self.spec.run_noise * rng.standard_normal() + self.spec.noise * rng.standard_normal(len(tokens))
        return (self.spec.E + reducible) * np.exp(noise)
