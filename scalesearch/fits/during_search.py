"""The frontier as the adaptive search sees it part-way: :func:`frontier_estimate`.

After each round of reports the search asks how tightly ``beta`` and ``alpha_C`` are known (their interval widths)
and whether the sizes tried bracket the frontier (grow the range of N up or down). Part-way through, the data
often cannot support a fit yet (too few runs, no crossings): then the answer says so (``ok`` False, the reasons,
NaN values) instead of raising, and never carries a confident number from a fit that failed. Malformed input
(missing columns, non-finite or non-positive values, several domains) still raises FitInputError.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import Estimate
from scalesearch.fits.curve_bootstrap import bootstrap_frontier
from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.inputs import FitFailedError, FitInputError, standardize

PARAMETERS = FrontierFit.param_names


@dataclass(frozen=True)
class FrontierEstimate:
    """The frontier fit of the curves so far, with bootstrap intervals and what the search needs to decide."""

    ok: bool  # False: do not trust the numbers; ``problems`` says why
    problems: tuple[str, ...]
    estimates: dict[str, Estimate]  # L_inf, C0 (FLOPs), alpha_C, C_n (FLOPs), beta; NaN where there is no fit
    frontier_runs: pd.DataFrame  # run, n_params, c_from, c_to, grid_points: who is on the frontier, where
    excluded_runs: tuple[str, ...]  # curves that do not fall
    # Where two or more runs reach the compute (Frontier.leader_where_shared): the largest N leads at the last such
    # point (it has overtaken every other size: try larger N); the smallest leads at the first (try smaller N).
    largest_size_leads_at_end: bool
    smallest_size_leads_at_start: bool
    failed_resamples: int
    noise: dict | None  # the point and run noise the bootstrap measured

    @property
    def beta(self) -> Estimate:
        return self.estimates["beta"]

    @property
    def alpha_C(self) -> Estimate:  # noqa: N802 - the law's name for it
        return self.estimates["alpha_C"]

    def ci_width(self, name: str) -> float:
        e = self.estimates[name]
        return e.ci_high - e.ci_low

    def to_dict(self) -> dict:
        return {"ok": self.ok, "problems": list(self.problems),
                "estimates": {k: {**e.to_dict(), "ci_width": self.ci_width(k)} for k, e in self.estimates.items()},
                "frontier_runs": self.frontier_runs.to_dict("records"), "excluded_runs": list(self.excluded_runs),
                "largest_size_leads_at_end": self.largest_size_leads_at_end,
                "smallest_size_leads_at_start": self.smallest_size_leads_at_start,
                "failed_resamples": self.failed_resamples, "noise": self.noise}


def frontier_estimate(curves: pd.DataFrame, n_bootstrap: int = 100, seed: int = 0,
                      level: float = 0.95) -> FrontierEstimate:
    """Fit L(C) and N_opt(C) to ``curves`` (columns run, n_params, compute in FLOPs, loss in nats/token; tokens
    and domain optional, one domain only) and bootstrap ``n_bootstrap`` simulated searches (curve_bootstrap.py)."""
    table = standardize(curves)
    if "domain" in table.columns and table["domain"].nunique() > 1:
        raise FitInputError(f"frontier_estimate takes one domain at a time, got {sorted(table['domain'].unique())}")
    try:
        fit = FrontierFit().fit(table)
        result = bootstrap_frontier(fit, n_bootstrap, seed, level)
    except (FitInputError, FitFailedError) as error:
        nothing = Estimate(np.nan, np.nan, np.nan, np.nan)
        return FrontierEstimate(False, (str(error),), {name: nothing for name in PARAMETERS}, pd.DataFrame(), (),
                                False, False, 0, None)
    problems = []
    if not fit.ok_:
        problems.append(f"the L(C) fit is flagged: {fit.diagnostics_.to_dict()}")
    problems += result.problems
    if result.noise["run_sd_note"].startswith("not estimated"):
        problems.append(f"run-to-run noise {result.noise['run_sd_note']}: the intervals may be too narrow")
    first, last = fit.frontier_.leader_where_shared()
    sizes = fit.curves_.n_params
    return FrontierEstimate(
        ok=not problems, problems=tuple(problems), estimates=result.estimates(),
        frontier_runs=fit.frontier_.runs_on_frontier(), excluded_runs=tuple(fit.excluded_runs_),
        largest_size_leads_at_end=bool(last == sizes.max()), smallest_size_leads_at_start=bool(first == sizes.min()),
        failed_resamples=result.n_failed, noise=result.noise)
