"""One-variable laws: power law plus constant ``L(x) = L_inf + (x0/x)^alpha`` and pure power law ``(x/x_n)^beta``.

The first is L(N), L(C) and L(D) (Henighan et al. 2020, Table 1); the second is N_opt(C). Both are fitted in log
space: ``log L = logsumexp(log L_inf, alpha (log x0 - log x))`` keeps every parameter on a scale L-BFGS handles
(x0 for compute is ~1e10 FLOPs, its log is not), and log x is centred on the data so the grid of starts need not
know the units.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from scalesearch.fits.estimator import FittedLaw
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.optimize import FitDiagnostics, Objective, huber_sum, minimize_multistart

ALPHA_BOUNDS = (1e-3, 5.0)


def _positive_arrays(x: np.ndarray, y: np.ndarray, minimum: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise FitInputError(f"{what}: x and y must be 1-D arrays of equal length, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise FitInputError(f"{what}: x and y must be finite and positive")
    if len(np.unique(x)) < minimum:
        raise FitInputError(f"{what} needs at least {minimum} distinct x values, got {len(np.unique(x))}")
    return x, y


class PowerLawWithConstant(FittedLaw):
    """``L(x) = L_inf + (x0/x)^alpha``, Huber (summed) on log L, L-BFGS-B from a grid of starts.

    The grid spans the exponent (0.05 ... 1.6) and the share of the smallest loss that is irreducible (1% ... 99.9%;
    Henighan's Image 8x8 floor is 99.3% of its frontier's lowest loss, and with the grid ending at 95% every such
    fit was flagged for a best start on the grid's edge); for each pair x0 is set so the law passes through the
    data's central point, so every start is plausible.
    ``L_inf`` at its lower bound means the data show no floor (a pure power law fits as well): flagged.
    """

    param_names = ("L_inf", "x0", "alpha")
    ALPHA_GRID = np.array([0.05, 0.1, 0.2, 0.4, 0.8, 1.6])
    FLOOR_SHARE_GRID = np.array([0.01, 0.3, 0.6, 0.8, 0.95, 0.99, 0.999])
    MAX_STARTS = 8  # of the 42: the 4 best edge and 4 best interior starts by objective (optimize.py)

    def __init__(self, huber_delta: float | None = 1e-3):
        self.huber_delta = huber_delta

    def log_objective(self, u: np.ndarray, log_y: np.ndarray) -> Objective:
        """Huber loss of log L over points at centred log x ``u``, and its gradient in (log L_inf, log x0, alpha)."""
        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            log_floor, log_x0, alpha = theta
            distance = log_x0 - u
            log_fit = np.logaddexp(log_floor, alpha * distance)
            power_share = np.exp(alpha * distance - log_fit)  # d log_fit / d (alpha distance); the floor's is 1 - it
            loss, dloss = huber_sum(log_fit - log_y, self.huber_delta)
            dpower = dloss @ power_share
            return loss, np.array([dloss.sum() - dpower, alpha * dpower, dloss @ (power_share * distance)])
        return objective

    def fit(self, x: np.ndarray, y: np.ndarray, init: dict[str, float] | None = None) -> PowerLawWithConstant:
        """Fit to points (x, y); ``init`` (a fitted ``params_``) warm-starts from one point instead of the grid."""
        x, y = _positive_arrays(x, y, 4, "a power law with constant")
        self.shift_ = float(np.mean(np.log(x)))
        u, log_y = np.log(x) - self.shift_, np.log(y)
        log_y_min, log_y_mid = log_y.min(), np.log(np.exp(log_y).mean())
        bounds = [(log_y_min - 12.0, log_y.max()), (u.min() - 60.0, u.max() + 60.0), ALPHA_BOUNDS]
        names = ("L_inf", "x0", "alpha")
        if init is not None:
            starts = np.array([np.log(init["L_inf"]), np.log(init["x0"]) - self.shift_, init["alpha"]])
            on_edge = None
        else:
            shares, alphas = np.meshgrid(self.FLOOR_SHARE_GRID, self.ALPHA_GRID, indexing="ij")
            floors = shares * np.exp(log_y_min)
            starts = np.column_stack([np.log(floors).ravel(),
                                      (np.log(np.exp(log_y_mid) - floors) / alphas).ravel(), alphas.ravel()])
            on_edge = (np.isin(shares, self.FLOOR_SHARE_GRID[[0, -1]])
                       | np.isin(alphas, self.ALPHA_GRID[[0, -1]])).ravel()
        optimum = minimize_multistart(self.log_objective(u, log_y), names, bounds, starts, on_edge, self.MAX_STARTS)
        log_floor, log_x0, alpha = optimum.x
        self.params_ = {"L_inf": float(np.exp(log_floor)), "x0": float(np.exp(log_x0 + self.shift_)),
                        "alpha": float(alpha)}
        self.diagnostics_ = optimum.diagnostics
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        p = self.params_
        return p["L_inf"] + (p["x0"] / np.asarray(x, float)) ** p["alpha"]


class PurePowerLaw(FittedLaw):
    """``y = (x / x_n)^beta``: a straight line in log-log, fitted by linear least squares (an exact solution).

    ``noise_in`` says which variable carries the noise; least squares regresses it on the other. Regressing y on
    a noisy x attenuates the slope towards 0 (errors in variables): N_opt(C) on the frontier's crossings is such
    a case, the crossing's N (the geometric mean of two sizes) exact, its compute noisy. There ``noise_in="x"``
    fits ``log x = log x_n + log y / beta``. On curves from Henighan's Image 8x8 row (benchmarks/fits_coverage.py,
    60 seeds) the exponent came out 0.601 regressing y on x and 0.623 the other way, against a truth of 0.64.
    """

    param_names = ("x_n", "beta")

    def __init__(self, noise_in: Literal["x", "y"] = "y"):
        self.noise_in = noise_in

    def fit(self, x: np.ndarray, y: np.ndarray) -> PurePowerLaw:
        exact, noisy = (y, x) if self.noise_in == "x" else (x, y)
        exact, noisy = _positive_arrays(exact, noisy, 3, "a pure power law")
        slope, intercept = np.polyfit(np.log(exact), np.log(noisy), 1)
        residuals = np.log(noisy) - (slope * np.log(exact) + intercept)
        degenerate = not slope > 0
        if self.noise_in == "x":
            beta, x_n = 1.0 / slope if slope != 0 else float("nan"), float(np.exp(intercept))
        else:
            beta, x_n = slope, float(np.exp(-intercept / slope)) if slope != 0 else float("nan")
        self.params_ = {"x_n": x_n, "beta": float(beta)}
        self.diagnostics_ = FitDiagnostics(
            converged=True, at_bound=("beta",) if degenerate else (), best_start_on_grid_edge=False,
            moved_from_start=True, n_starts=1, objective=float(0.5 * residuals @ residuals),
            message="non-positive exponent: y does not grow with x" if degenerate else "least squares")
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, float) / self.params_["x_n"]) ** self.params_["beta"]
