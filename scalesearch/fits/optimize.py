"""Multi-start L-BFGS-B on a summed Huber loss of log residuals, with the diagnostics every fit reports.

Why this shape (Hoffmann et al. 2022, Besiroglu et al. 2024): scaling laws are fitted to ``log L`` because losses
of very different sizes should count alike; the Huber loss with a small delta is robust to the odd bad run; the
loss is **summed** over points, not averaged, because with the mean the gradient is so small that L-BFGS stops on
its tolerance far from the optimum (Chinchilla: alpha 0.29 instead of 0.35). The objective is not convex, so the
optimiser starts from every point of a grid and keeps the best end; a best start on the grid's edge, a parameter on
its bound, or an optimiser that never moved are reported, never hidden.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
# L-BFGS-B's tiny BLAS calls run ~5x slower when OpenBLAS spreads them over threads: keep them on one. The
# controller is made once because finding the BLAS libraries costs more than a warm-started fit.
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class FitDiagnostics:
    """How a fit ended. ``ok`` is False for any result that should not be trusted as a number."""

    converged: bool
    at_bound: tuple[str, ...]
    best_start_on_grid_edge: bool
    moved_from_start: bool
    n_starts: int
    objective: float
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.converged and not self.at_bound and not self.best_start_on_grid_edge and self.moved_from_start

    def to_dict(self) -> dict:
        return {"ok": self.ok, "converged": self.converged, "at_bound": list(self.at_bound),
                "best_start_on_grid_edge": self.best_start_on_grid_edge,
                "moved_from_start": self.moved_from_start, "n_starts": self.n_starts,
                "objective": self.objective, "message": self.message}


@dataclass(frozen=True)
class Optimum:
    x: np.ndarray
    diagnostics: FitDiagnostics


def huber_sum(residuals: np.ndarray, delta: float | None) -> tuple[float, np.ndarray]:
    """Summed Huber loss divided by delta, and its derivative per residual; ``delta=None``: least squares.

    Dividing by delta changes no optimum, but L-BFGS-B stops when the objective falls by less than 2e-9 of
    ``max(|f|, 1)``: the raw sum (~1e-3 on the Chinchilla data) would stop resample refits almost where they
    start, with bootstrap SEs ten times too small. Scaled, the sum is O(1 per point) and the tolerance bites late.
    """
    if delta is None:
        return float(0.5 * residuals @ residuals), residuals
    small = np.abs(residuals) <= delta
    loss = np.where(small, 0.5 * residuals**2 / delta, np.abs(residuals) - 0.5 * delta)
    return float(loss.sum()), np.clip(residuals, -delta, delta) / delta


def logsumexp_terms(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log sum_k exp(terms[k])`` over axis 0, and the softmax weights that are its derivative."""
    top = terms.max(axis=0)
    weights = np.exp(terms - top)
    total = weights.sum(axis=0)
    return top + np.log(total), weights / total


def grid_starts(axes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every point of the product of ``axes``, and whether it lies on the grid's edge along any axis."""
    axes = [np.asarray(axis, float) for axis in axes]
    starts = np.array(list(itertools.product(*axes)))
    on_edge = np.zeros(len(starts), bool)
    for column, axis in enumerate(axes):
        if len(axis) > 1:
            on_edge |= (starts[:, column] == axis.min()) | (starts[:, column] == axis.max())
    return starts, on_edge


def minimize_multistart(objective: Objective, names: Sequence[str], bounds: Sequence[tuple[float, float]],
                        starts: np.ndarray, on_edge: np.ndarray | None = None,
                        max_starts: int | None = None) -> Optimum:
    """Minimise ``objective`` (value, gradient) with L-BFGS-B from each row of ``starts``; keep the best end.

    ``on_edge`` marks starts on the edge of their grid (None: a warm start, which has no grid); the result is
    flagged when only edge starts reach the best end, since then a wider grid might find a better one. With
    ``max_starts`` the objective is evaluated at every start and only the best half that many edge starts and
    interior starts are optimised: a cheap screen that keeps the grid's reach (and the edge check) where a full
    sweep costs too much.
    """
    starts = np.atleast_2d(np.asarray(starts, float))
    on_edge = np.zeros(len(starts), bool) if on_edge is None else np.asarray(on_edge, bool)
    if max_starts is not None and len(starts) > max_starts:
        values = np.array([objective(s)[0] for s in starts])
        keep = np.concatenate([np.flatnonzero(group)[np.argsort(values[group])[:max_starts // 2]]
                               for group in (on_edge, ~on_edge)])
        starts, on_edge = starts[keep], on_edge[keep]
    lows = np.array([b[0] for b in bounds])
    highs = np.array([b[1] for b in bounds])
    with _BLAS.limit(limits=1, user_api="blas"):
        results = [minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
                   for start in np.clip(starts, lows, highs)]
    ends = np.array([r.fun if np.isfinite(r.fun) else np.inf for r in results])
    if not np.isfinite(ends).any():
        raise FloatingPointError("the objective was not finite from any start")
    best_index = int(np.argmin(ends))
    best = results[best_index]
    # Many starts reach the same optimum; it needs a wider grid only if no interior start reaches it.
    reached_best = ends <= best.fun + 1e-6 * abs(best.fun) + 1e-12
    scale = 1e-6 * (1 + np.abs(best.x))
    at_bound = tuple(name for name, x, lo, hi, tol in zip(names, best.x, lows, highs, scale)
                     if abs(x - lo) < tol or abs(x - hi) < tol)
    diagnostics = FitDiagnostics(
        converged=bool(best.success), at_bound=at_bound, best_start_on_grid_edge=bool(on_edge[reached_best].all()),
        moved_from_start=bool(np.any(np.abs(best.x - starts[best_index]) > scale)),
        n_starts=len(starts), objective=float(best.fun), message=str(best.message))
    return Optimum(x=best.x, diagnostics=diagnostics)
