"""The search's own decisions between trials: refit the frontier, move the range of N, and end the search.

- Refit: ``L(C)`` and ``N_opt(C)`` with a bootstrap over trials (the fits library), every few finished trials
  and at each rise of a compute ladder's cap, on every curve; read from the frontier (where the whole does not hold,
  L(C) alone or N_opt(C) alone, as the report reads it: ``FRONTIER_FALLBACKS``), or with ``search.estimator:
  chinchilla_mean`` from ``L(N, D)`` fitted to every report (benchmarks/RESULTS.md: far less compute to the same
  accuracy where that form holds, and wrong where it does not). Fitting only the curves near the envelope was
  tried: where a near curve stopped early, the envelope at the higher compute points has fewer curves, and the
  simulated search of tests/search/test_search.py lost its fit (1 interior size left on the hull; on every
  curve: beta 0.47).
- Range control: grow the range upwards while the largest size tried is still the best at the second highest
  compute reached (at the highest, often one curve alone has a report: it leads there by default), or the fitted
  ``N_opt(C_max)`` is within a factor ``HEADROOM`` of the range's top; grow it downwards while the
  smallest size is the best at the lowest compute, until a compute ladder's cap first rises (from then on the
  ladder moves the lower end up, search/ladder.py). Each step moves an end by ``RANGE_STEP``, within the limits.
- Stop: the compute (FLOPs, PF-days) or GPU-hour budget is spent, or the 95% CIs of ``beta`` and ``alpha_C`` are
  narrower than asked (``precision_reached``) on an ``ok`` fit with the range settled. Not on a fit of fewer
  than ``MIN_RUNS_FOR_RUN_NOISE`` runs: there the bootstrap leaves run-to-run noise out (fits/curve_bootstrap.py)
  and its CIs are too narrow; on the simulator a search of 5 ladder trials stopped at its first refit with
  alpha_C 0.03 off the truth (benchmarks/RESULTS.md, search efficiency). Nor on the live refit's few resamples
  (``search.bootstrap``, 100 by default), whose interval ends move by 10-20% of a width from one bootstrap seed to
  the next (benchmarks/RESULTS.md, session 22): a refit that passes is done again with the report's
  ``REPORT_RESAMPLES`` (``confirmed``), and the search ends only if that one passes too; a lucky draw, checked
  every few trials, would otherwise end it early. ``SearchStopper`` hands the verdict to Tune.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ray.tune.stopper import Stopper

from scalesearch.fits import FitFailedError, FitInputError, fit_law
from scalesearch.fits.bootstrap import REPORT_RESAMPLES
from scalesearch.fits.curve_bootstrap import MIN_RUNS_FOR_RUN_NOISE
from scalesearch.fits.inputs import standardize
from scalesearch.fits.laws import FRONTIER_FALLBACKS, LawFit
from scalesearch.search.state import SearchState
from scalesearch.spec import SearchSpec, StopSpec

HEADROOM = 2.0  # the largest size should be at least this many times N_opt(C_max)
RANGE_STEP = 3.0
MIN_RUNS_TO_FIT = 4
# An estimator's parameters under the names the search reads (beta: the N_opt exponent, alpha_C, L_inf); the
# L(N, D) law's own alpha and beta (of N and D) are kept as alpha_N and beta_D.
READ_AS = {"frontier": {}, "chinchilla_mean": {"a": "beta", "E": "L_inf", "alpha": "alpha_N", "beta": "beta_D"}}


def refit(state: SearchState, spec: SearchSpec, seed: int = 0, n_bootstrap: int | None = None) -> dict | None:
    """Fit the frontier to the curves so far (``spec.estimator``, ``n_bootstrap`` resamples, default
    ``spec.bootstrap``); the fit's summary is appended to ``state.fits``, its parameters under the frontier fit's
    names (``READ_AS``)."""
    table = state.table()
    if table["run"].nunique() < MIN_RUNS_TO_FIT:
        return None
    resamples = n_bootstrap or spec.bootstrap
    summary = {"spent_flops": state.spent_flops, "trials": len(state.curves), "resamples": resamples}
    refused: dict[str, str] = {}  # why each part of the frontier tried before did not hold
    try:
        table = standardize(table)  # tokens from compute, for L(N, D)
    except FitInputError as err:
        refused[spec.estimator] = str(err)
    else:
        for label, law in FRONTIER_FALLBACKS if spec.estimator == "frontier" else ((spec.estimator, spec.estimator),):
            try:
                fit = fit_law(table, law, n_bootstrap=resamples, seed=seed)
            except (FitInputError, FitFailedError) as err:
                refused[label] = str(err)
                continue
            summary |= _fit_summary(fit, table, spec.estimator, label, refused)
            state.fits.append(summary)
            return summary
    summary |= {"ok": False, "why": next(iter(refused.values())), "refused": refused}
    state.fits.append(summary)
    return summary


def _fit_summary(fit: LawFit, table: pd.DataFrame, estimator: str, label: str, refused: dict[str, str]) -> dict:
    """A refit's figures under the frontier fit's names (``READ_AS``); ``label`` names the part of the frontier
    it fitted where the whole did not hold (``refused``: why), and ``n_opt_at_max`` is NaN without N_opt(C)."""
    c_max = float(table["compute"].max())
    runs = fit.estimator.curves_.runs if estimator == "frontier" else table["run"].unique()
    has_n_opt = fit.law != "compute"
    return {"ok": bool(fit.ok), "problems": fit.problems, "runs": len(runs), "estimator": estimator,
            "law": label, **({"refused": refused} if refused else {}), "c_max": c_max,
            "n_opt_at_max": float(fit.estimator.n_opt(np.array([c_max]))[0]) if has_n_opt else float("nan"),
            **{READ_AS[estimator].get(name, name): e.to_dict() for name, e in fit.estimates().items()}}


def part_alone(fit: dict) -> str | None:
    """Which part of the frontier a refit fitted alone ('L(C) alone', 'N_opt(C) alone'), or None for the whole
    (refits saved before parts were fitted alone say nothing)."""
    law = fit.get("law", "frontier")
    return None if law in ("frontier", fit.get("estimator")) else law


def _best_at(state: SearchState, compute: float) -> float | None:
    """N of the trial with the lowest loss at ``compute`` among those that reached it."""
    best, best_n = np.inf, None
    for curve in state.curves.values():
        loss = float(curve.loss_at(np.array([compute]))[0])
        if np.isfinite(loss) and loss < best:
            best, best_n = loss, curve.n_params
    return best_n


def update_range(state: SearchState, spec: SearchSpec, fit: dict | None) -> bool:
    """Move the ends of ``state.n_range`` as the module docstring says; True if it moved."""
    curves = [c for c in state.curves.values() if len(c.compute) > 1]
    if len(curves) < 2:
        return False
    sizes = [c.n_params for c in curves]
    lo, hi = state.n_range
    lim_lo, lim_hi = spec.limits
    top = sorted(c.spent for c in curves)[-2]  # reached by two curves at least
    bottom = max(min(c.compute[0] for c in curves), min(c.compute[1] for c in curves))
    n_opt_high = fit is not None and fit.get("ok") and fit["n_opt_at_max"] * HEADROOM > hi
    if (_best_at(state, top) == max(sizes) or n_opt_high) and hi < lim_hi:
        hi = min(lim_hi, hi * RANGE_STEP)
    if _best_at(state, bottom) == min(sizes) and lo > lim_lo and state.level == 0:
        lo = max(lim_lo, lo / RANGE_STEP)
    moved = (lo, hi) != state.n_range
    state.n_range = (lo, hi)
    return moved


def ci_width(fit: dict, name: str) -> float:
    """The width of the 95% CI of ``name`` in a refit's summary; NaN where the fit gave none."""
    estimate = fit.get(name) or {}
    width = estimate.get("ci_high", np.nan) - estimate.get("ci_low", np.nan)
    return float(width) if np.isfinite(width) else np.nan


def precision_reached(fit: dict | None, stop: StopSpec, range_moved: bool) -> str | None:
    """Why this refit is precise enough to end the search, or None (module docstring). A NaN width (an interval
    the bootstrap could not read) is never narrow enough."""
    if fit is None or not fit.get("ok") or range_moved or stop.beta_ci_width is None:
        return None
    if fit.get("runs", 0) < MIN_RUNS_FOR_RUN_NOISE:  # CIs without run-to-run noise: too narrow to stop on
        return None
    beta_w, alpha_w = ci_width(fit, "beta"), ci_width(fit, "alpha_C")
    alpha_ok = stop.alpha_c_ci_width is None or alpha_w <= stop.alpha_c_ci_width
    if beta_w <= stop.beta_ci_width and alpha_ok:
        return (f"precision reached: 95% CI widths beta {beta_w:.3f} <= {stop.beta_ci_width}, "
                f"alpha_C {alpha_w:.3f} <= {stop.alpha_c_ci_width} (fit of {fit['runs']} runs, "
                f"{fit.get('resamples', '?')} resamples)")
    return None


def confirmed(state: SearchState, spec: SearchSpec, fit: dict | None, seed: int = 0) -> dict | None:
    """The refit to decide a precision stop on: ``fit`` itself, or where its intervals pass the stop's targets on
    fewer than ``REPORT_RESAMPLES`` resamples, the same refit with that many in its place (last in
    ``state.fits``; its point values are the same, only the intervals are drawn again)."""
    if fit is None or fit.get("resamples", 0) >= REPORT_RESAMPLES or not precision_reached(
            fit, spec.stop, fit.get("range_moved", False)):
        return fit
    state.fits.pop()
    again = refit(state, spec, seed, n_bootstrap=REPORT_RESAMPLES)
    if again is not None:
        again["range_moved"] = fit.get("range_moved", False)
    return again


def stop_reason(state: SearchState, spec: SearchSpec, fit: dict | None, range_moved: bool) -> str | None:
    """Why the search should end now, or None."""
    budget, stop = spec.stop.budget_flops, spec.stop
    if budget is not None and state.spent_flops >= budget:
        return f"compute budget spent: {state.spent_flops:.3g} of {budget:.3g} FLOPs"
    if stop.gpu_hours is not None and state.gpu_hours >= stop.gpu_hours:
        return f"GPU-hour budget spent: {state.gpu_hours:.2f} of {stop.gpu_hours:g}"
    return precision_reached(fit, stop, range_moved)


class SearchStopper(Stopper):
    """Ends the whole Tune experiment once the search has a reason to end (trials stop by the scheduler)."""

    def __init__(self, state: SearchState, spec: SearchSpec):
        self.state, self.spec = state, spec

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        if self.state.finished is None:
            reason = stop_reason(self.state, self.spec, None, False)  # budgets only; precision after a refit
            if reason:
                self.state.finished = reason
        return self.state.finished is not None
