"""The laws by name, fitted to a table with bootstrap uncertainty: what the CLI and the report call.

``chinchilla``: ``L(N, D)`` on every row (N, tokens, loss); ``chinchilla_mean``: the same with its terms combined
by a generalised mean of free ``gamma`` (fits/chinchilla.py). ``frontier``: ``L(C)`` and ``N_opt(C)`` from learning
curves. ``compute``: the ``L(C)`` part alone, ``n_opt`` the ``N_opt(C)`` part alone. ``size``: ``L(N)`` on
converged runs' best losses.

The bootstrap depends on the law: the frontier laws simulate the runs anew (``curve_bootstrap``: with one run per
size, resampling runs would drop sizes); the ``chinchilla`` laws and ``size`` resample runs with replacement (a
run's points share its noise), as Besiroglu et al. (2024) did for the Chinchilla fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import BootstrapResult, Estimate, bootstrap_runs
from scalesearch.fits.chinchilla import ChinchillaLaw
from scalesearch.fits.curve_bootstrap import bootstrap_frontier
from scalesearch.fits.estimator import FittedLaw
from scalesearch.fits.frontier import FrontierFit, SizeFit
from scalesearch.fits.inputs import FitFailedError, FitInputError, split_domains

REPORTED = {
    "chinchilla": ("E", "A", "B", "alpha", "beta", "a", "alpha_C"),
    "chinchilla_mean": ("E", "A", "B", "alpha", "beta", "gamma", "a", "alpha_C"),
    "frontier": ("L_inf", "C0", "alpha_C", "C_n", "beta"),
    "compute": ("L_inf", "C0", "alpha_C"),
    "n_opt": ("C_n", "beta"),
    "size": ("L_inf", "N0", "alpha_N"),
}
# What a frontier's curves may give, tried in this order: both laws; L(C) alone (too few crossings for N_opt(C));
# N_opt(C) alone (a hull with too few interior sizes for L(C)). The report and the search's refits keep the first
# that holds.
FRONTIER_FALLBACKS = (("frontier", "frontier"), ("L(C) alone", "compute"), ("N_opt(C) alone", "n_opt"))


def fit_estimator(law: str, table: pd.DataFrame, init: dict[str, float] | None = None) -> FittedLaw:
    """Fit the law named ``law`` to ``table``; ``init`` warm-starts from a previous fit's ``params_``."""
    if law in ("chinchilla", "chinchilla_mean"):
        if "tokens" not in table.columns:
            raise FitInputError(f"the {law} law needs 'tokens' (or 'compute' and 'n_params') per row")
        return ChinchillaLaw(free_gamma=law == "chinchilla_mean").fit(table["n_params"], table["tokens"],
                                                                       table["loss"], init=init)
    if law in ("frontier", "compute", "n_opt"):
        return FrontierFit(need_n_opt=law != "compute", need_compute=law != "n_opt").fit(table, init=init)
    if law == "size":
        return SizeFit().fit(table, init=init)
    raise FitInputError(f"unknown law {law!r}; choose one of {sorted(REPORTED)}")


@dataclass(frozen=True)
class LawFit:
    """One law fitted to one domain's table: the estimator, its bootstrap, and the flag that says if it holds."""

    law: str
    domain: str
    estimator: FittedLaw
    bootstrap: BootstrapResult | None

    @property
    def problems(self) -> list[str]:
        """Why the fit or its intervals should not be trusted as they stand (empty: ok)."""
        found = [] if self.estimator.ok_ else [f"fit flagged: {self.estimator.diagnostics_.to_dict()}"]
        return found + (self.bootstrap.problems if self.bootstrap is not None else [])

    @property
    def ok(self) -> bool:
        return not self.problems

    def estimates(self) -> dict[str, Estimate]:
        names = REPORTED[self.law]
        if self.bootstrap is None:
            return {name: Estimate(self.estimator.params_[name], np.nan, np.nan, np.nan) for name in names}
        found = self.bootstrap.estimates()
        return {name: found[name] for name in names}

    def to_dict(self) -> dict:
        return {"law": self.law, "domain": self.domain, "ok": self.ok, "problems": self.problems,
                "parameters": {name: e.to_dict() for name, e in self.estimates().items()},
                "diagnostics": self.estimator.diagnostics_.to_dict(),
                "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict()}


def fit_law(table: pd.DataFrame, law: str, n_bootstrap: int = 0, seed: int = 0, domain: str = "all",
            n_jobs: int = 1) -> LawFit:
    """Fit ``law`` on the whole table, then refit ``n_bootstrap`` resamples warm-started from it."""
    estimator = fit_estimator(law, table)
    if n_bootstrap <= 0:
        return LawFit(law, domain, estimator, None)
    if isinstance(estimator, FrontierFit):
        return LawFit(law, domain, estimator, bootstrap_frontier(estimator, n_bootstrap, seed))

    def statistic(sample: pd.DataFrame) -> dict[str, float]:
        refit = fit_estimator(law, sample, init=estimator.params_)
        if not refit.converged_:
            raise FitFailedError("resample did not converge")
        return refit.params_

    result = bootstrap_runs(table, statistic, n_bootstrap, seed=seed, n_jobs=n_jobs)
    return LawFit(law, domain, estimator, BootstrapResult(estimator.params_, result.samples, result.level))


def fit_domains(table: pd.DataFrame, law: str, n_bootstrap: int = 0, seed: int = 0) -> dict[str, LawFit]:
    """``fit_law`` per domain (one entry 'all' without a domain column)."""
    return {name: fit_law(part, law, n_bootstrap, seed, domain=name) for name, part in split_domains(table).items()}
