"""Chinchilla's approach 3: ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022, Besiroglu et al. 2024).

Fitted as ``log L = logsumexp(a - alpha log N, b - beta log D, e)`` with ``A, B, E = exp(a, b, e)``, Huber
``delta = 1e-3`` summed over points, L-BFGS-B from Hoffmann's grid of starts (appendix D.2). The compute-optimal
split follows in closed form: ``N_opt = G (C/6)^a`` with ``a = beta/(alpha+beta)``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``.
"""

from __future__ import annotations

import numpy as np

from scalesearch.fits.estimator import FittedLaw
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.optimize import grid_starts, huber_sum, logsumexp_terms, minimize_multistart

HOFFMANN_GRID = (
    np.arange(0.0, 30.0, 5.0),  # a = log A
    np.arange(0.0, 30.0, 5.0),  # b = log B
    np.arange(-1.0, 1.5, 0.5),  # e = log E
    np.arange(0.0, 2.5, 0.5),  # alpha
    np.arange(0.0, 2.5, 0.5),  # beta
)
BOUNDS = [(-20.0, 60.0), (-20.0, 60.0), (-10.0, 10.0), (0.0, 5.0), (0.0, 5.0)]
NAMES = ("A", "B", "E", "alpha", "beta")


class ChinchillaLaw(FittedLaw):
    """The fitted law; ``params_`` holds ``E, A, B, alpha, beta`` and the derived N_opt exponent ``a``.

    ``max_starts``: optimise from the 256 grid points with the lowest objective rather than all 4,500 (the full
    sweep costs ~65 s on 2 cores and reaches the same optimum on the Chinchilla data); None sweeps the grid.
    ``reduce="mean"`` averages the Huber loss instead of summing it, only to show why summing matters.
    """

    param_names = ("E", "A", "B", "alpha", "beta", "a")

    def __init__(self, huber_delta: float | None = 1e-3, reduce: str = "sum", max_starts: int | None = 256):
        self.huber_delta = huber_delta
        self.reduce = reduce
        self.max_starts = max_starts

    def _objective(self, log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray):
        scale = 1.0 if self.reduce == "sum" else 1.0 / len(log_loss)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            a, b, e, alpha, beta = theta
            terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
            log_fit, w = logsumexp_terms(terms)
            loss, dloss = huber_sum(log_fit - log_loss, self.huber_delta)
            grad = np.array([dloss @ w[0], dloss @ w[1], dloss @ w[2], -dloss @ (w[0] * log_n),
                             -dloss @ (w[1] * log_d)])
            return scale * loss, scale * grad
        return objective

    def fit(self, n_params: np.ndarray, tokens: np.ndarray, loss: np.ndarray,
            init: dict[str, float] | None = None) -> ChinchillaLaw:
        """Fit to points (N, D, L). ``init`` (a fitted ``params_``) warm-starts from one point instead of the grid."""
        n, d, y = (np.asarray(v, float) for v in (n_params, tokens, loss))
        if not (n.shape == d.shape == y.shape and n.ndim == 1):
            raise FitInputError("n_params, tokens and loss must be 1-D arrays of equal length")
        if not all(np.all(np.isfinite(v) & (v > 0)) for v in (n, d, y)):
            raise FitInputError("n_params, tokens and loss must all be finite and positive")
        if len(np.unique(n)) < 3 or len(np.unique(d)) < 3 or len(y) < 6:
            raise FitInputError(f"the Chinchilla law has 5 parameters: it needs >= 6 points with >= 3 distinct "
                                f"N and D, got {len(y)} points, {len(np.unique(n))} N, {len(np.unique(d))} D")
        objective = self._objective(np.log(n), np.log(d), np.log(y))
        if init is not None:
            start = [np.log(init["A"]), np.log(init["B"]), np.log(init["E"]), init["alpha"], init["beta"]]
            optimum = minimize_multistart(objective, NAMES, BOUNDS, np.array(start))
        else:
            starts, on_edge = grid_starts(HOFFMANN_GRID)
            optimum = minimize_multistart(objective, NAMES, BOUNDS, starts, on_edge, self.max_starts)
        a, b, e, alpha, beta = optimum.x
        self.params_ = {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
                        "alpha": float(alpha), "beta": float(beta), "a": float(beta / (alpha + beta))}
        self.diagnostics_ = optimum.diagnostics
        return self

    def predict(self, n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        p = self.params_
        n, d = np.asarray(n_params, float), np.asarray(tokens, float)
        return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]

    def n_opt(self, compute: np.ndarray) -> np.ndarray:
        """Compute-optimal N at C FLOPs (D = C / 6N)."""
        p = self.params_
        g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / (p["alpha"] + p["beta"]))
        return g * (np.asarray(compute, float) / 6.0) ** p["a"]
