"""Chinchilla's approach 3: ``L(N, D) = E + A/N^alpha + B/D^beta`` (Hoffmann et al. 2022, Besiroglu et al. 2024).

Fitted as ``log L = logsumexp(a - alpha log N, b - beta log D, e)`` with ``A, B, E = exp(a, b, e)``, Huber
``delta = 1e-3`` summed over points, L-BFGS-B from Hoffmann's grid of starts (appendix D.2). The compute-optimal
split follows in closed form: ``N_opt = G (C/6)^a`` with ``a = beta/(alpha+beta)``,
``G = (alpha A / (beta B))^(1/(alpha+beta))``, and the compute frontier ``L*(C) = E + (C0/C)^alpha_C`` with
``alpha_C = alpha beta/(alpha+beta)`` (fits/synthetic.py), so ``a`` and ``alpha_C`` compare with the frontier
fit's ``beta`` and ``alpha_C``.

``free_gamma``: the generalised mean ``E + ((A/N^alpha)^(1/gamma) + (B/D^beta)^(1/gamma))^gamma``, fitted as
``logsumexp(gamma logsumexp(u_N/gamma, u_D/gamma), e)`` with ``log gamma`` a sixth parameter, warm-started from
the additive fit (``gamma = 1``). It holds Kaplan et al. (2020)'s non-additive form as well (``gamma = alpha_D``),
and ``a`` and ``alpha_C`` keep their formulas whatever ``gamma`` (fits/synthetic.py). Why: the additive form read
a Kaplan-form truth 0.05 off in ``a`` and 0.08 in ``alpha_C`` on a full grid of runs; the mean reads both forms
(benchmarks/estimator_form.py).
"""

from __future__ import annotations

import numpy as np

from scalesearch.fits.estimator import FittedLaw
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.optimize import grid_starts, huber_sum, logsumexp_terms, minimize_multistart
from scalesearch.fits.synthetic import KnownLaw

HOFFMANN_GRID = (
    np.arange(0.0, 30.0, 5.0),  # a = log A
    np.arange(0.0, 30.0, 5.0),  # b = log B
    np.arange(-1.0, 1.5, 0.5),  # e = log E
    np.arange(0.0, 2.5, 0.5),  # alpha
    np.arange(0.0, 2.5, 0.5),  # beta
)
BOUNDS = [(-20.0, 60.0), (-20.0, 60.0), (-10.0, 10.0), (0.0, 5.0), (0.0, 5.0)]
NAMES = ("A", "B", "E", "alpha", "beta")
LOG_GAMMA_BOUNDS = (np.log(0.05), np.log(5.0))
# free_gamma's starts from the additive fit: gamma, and a scale for log A, log B, alpha, beta (a smaller gamma
# sharpens the mean, so the terms' exponents and scales that fit the same curves shrink with it)
GAMMA_STARTS = [(gamma, scale) for gamma in (0.25, 0.5, 1.0) for scale in (1.0, 0.5)]


class ChinchillaLaw(FittedLaw):
    """The fitted law; ``params_`` holds ``E, A, B, alpha, beta`` and the derived exponents ``a`` (of N_opt)
    and ``alpha_C`` (of the frontier).

    ``max_starts``: optimise from the 256 grid points with the lowest objective rather than all 4,500 (the full
    sweep costs ~65 s on 2 cores and reaches the same optimum on the Chinchilla data); None sweeps the grid.
    ``reduce="mean"`` averages the Huber loss instead of summing it, only to show why summing matters.
    """

    param_names = ("E", "A", "B", "alpha", "beta", "a", "alpha_C")

    def __init__(self, huber_delta: float | None = 1e-3, reduce: str = "sum", max_starts: int | None = 256,
                 free_gamma: bool = False):
        self.huber_delta = huber_delta
        self.reduce = reduce
        self.max_starts = max_starts
        self.free_gamma = free_gamma
        if free_gamma:
            self.param_names = (*ChinchillaLaw.param_names, "gamma")

    def _objective(self, log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray):
        scale = 1.0 if self.reduce == "sum" else 1.0 / len(log_loss)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            """theta = (a, b, e, alpha, beta[, log gamma]); without log gamma, gamma = 1."""
            a, b, e, alpha, beta = theta[:5]
            gamma = np.exp(theta[5]) if len(theta) > 5 else 1.0
            u_n, u_d = a - alpha * log_n, b - beta * log_d
            mean, s = logsumexp_terms(np.stack([u_n, u_d]) / gamma)
            inner = gamma * mean
            log_fit, w = logsumexp_terms(np.stack([inner, np.full_like(log_n, e)]))
            loss, dloss = huber_sum(log_fit - log_loss, self.huber_delta)
            d_inner = dloss * w[0]
            grad = [d_inner @ s[0], d_inner @ s[1], dloss @ w[1], -d_inner @ (s[0] * log_n),
                    -d_inner @ (s[1] * log_d)]
            if len(theta) > 5:  # d inner / d log gamma = inner - (s_N u_N + s_D u_D)
                grad.append(d_inner @ (inner - s[0] * u_n - s[1] * u_d))
            return scale * loss, scale * np.array(grad)
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
            if self.free_gamma:
                optimum = minimize_multistart(objective, (*NAMES, "gamma"), [*BOUNDS, LOG_GAMMA_BOUNDS],
                                              np.array([*start, np.log(init["gamma"])]))
            else:
                optimum = minimize_multistart(objective, NAMES, BOUNDS, np.array(start))
        else:
            starts, on_edge = grid_starts(HOFFMANN_GRID)
            optimum = minimize_multistart(objective, NAMES, BOUNDS, starts, on_edge, self.max_starts)
            if self.free_gamma:
                a, b, e, alpha, beta = optimum.x
                starts = np.array([[a * k, b * k, e, alpha * k, beta * k, np.log(g)] for g, k in GAMMA_STARTS])
                optimum = minimize_multistart(objective, (*NAMES, "gamma"), [*BOUNDS, LOG_GAMMA_BOUNDS], starts)
        a, b, e, alpha, beta = optimum.x[:5]
        self.params_ = {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
                        "alpha": float(alpha), "beta": float(beta), "a": float(beta / (alpha + beta)),
                        "alpha_C": float(alpha * beta / (alpha + beta))}
        if self.free_gamma:
            self.params_["gamma"] = float(np.exp(optimum.x[5]))
        self.diagnostics_ = optimum.diagnostics
        return self

    def law(self) -> KnownLaw:
        """The fitted law as a truth, whose closed forms give predictions and N_opt (fits/synthetic.py)."""
        p = self.params_
        return KnownLaw(E=p["E"], A=p["A"], B=p["B"], alpha=p["alpha"], beta=p["beta"], gamma=p.get("gamma", 1.0))

    def predict(self, n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return self.law().loss(n_params, tokens)

    def n_opt(self, compute: np.ndarray) -> np.ndarray:
        """Compute-optimal N at C FLOPs (D = C / 6N)."""
        return self.law().n_opt(compute)
