"""Bootstrap over runs: resample whole runs (trials) with replacement and refit, for SEs and CIs.

Runs, not points, are the unit because the points of one learning curve share the run's seed, data order and
hyperparameters: resampling points would treat one lucky run as many independent observations and give CIs
that are far too narrow. Resampled duplicates get fresh run ids so a frontier sees them as separate curves.

**Intervals: the percentile interval of the draws, read about the truth they were drawn from.** A scheme whose
resamples are simulated about a truth of their own (curve_bootstrap.py: the smoothed curves, whose fit is not the
fit to the data) gives that truth's parameters as the ``reference``; the draws are moved by ``estimate /
reference`` (``estimate - reference`` where either is <= 0) before their quantiles are read, so the interval
says where refits fall about the truth they came from, placed at the estimate. Moving by a ratio keeps scales
(``C0``, ``C_n``) positive, and a monotone formula applied to the draws (a forecast) gets the formula's interval.
Why not a bias-corrected interval (BC, ``bias_corrected=True``; the basic interval behaves alike): it moves the
interval by the refits' median offset from the reference, and on curves from a known law that offset was noise,
correlated against the estimate's error, so BC covered alpha_C 0.915 and beta 0.870 of 200 seeds where this
interval covered 0.965 and 0.950 (benchmarks/RESULTS.md). Any of these intervals contains the estimate exactly
when at least ``(1 - level)/2`` of the (moved) draws fall on each side of it; where fewer do, the refits sit
to one side of their own truth (a fit too unstable for its interval to mean much) and the report flags it.
BCa is not offered: its acceleration needs a jackknife over runs, and dropping a run removes a size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import norm

from scalesearch.fits.inputs import FitFailedError, FitInputError

Statistic = Callable[[pd.DataFrame], dict[str, float]]
FIT_FAILURES = (FitInputError, FitFailedError, FloatingPointError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap standard error and percentile interval (module docstring)."""

    value: float
    se: float
    ci_low: float
    ci_high: float

    def contains(self, truth: float) -> bool:
        return self.ci_low <= truth <= self.ci_high

    def scaled(self, factor: float) -> Estimate:
        """The estimate of ``factor`` times the quantity (factor > 0), e.g. nats per token to nats per item."""
        return Estimate(self.value * factor, self.se * factor, self.ci_low * factor, self.ci_high * factor)

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def describe(self, missing: str = "no interval", shifted: str = "!: outside its own bootstrap CI") -> str:
        """``value [low, high]`` to three decimals, for a line of text; ``missing`` or ``shifted`` in brackets
        where the interval is withheld or does not contain the value."""
        if not (np.isfinite(self.ci_low) and np.isfinite(self.ci_high)):
            return f"{self.value:.3f} ({missing})"
        flag = "" if self.contains(self.value) else f" ({shifted})"
        return f"{self.value:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}]{flag}"


@dataclass(frozen=True)
class BootstrapResult:
    point: dict[str, float]
    samples: pd.DataFrame  # one row per resample, a column per quantity; NaN where the refit failed
    level: float = 0.95
    scheme: str = "runs resampled with replacement"
    noise: dict | None = None  # the noise a simulating scheme measured and added
    reference: dict[str, float] | None = None  # the parameters of the truth the resamples were drawn about
    withheld: dict[str, str] = field(default_factory=dict)  # quantity -> why it gets a value but no SE or interval
    caveats: dict[str, str] = field(default_factory=dict)  # quantity -> why its interval is to be read with care

    def to_dict(self) -> dict:
        return {"resamples": len(self.samples), "failed": self.n_failed, "level": self.level,
                "scheme": self.scheme, "noise": self.noise, "interval": INTERVAL, "withheld": dict(self.withheld),
                "caveats": dict(self.caveats)}

    @property
    def n_failed(self) -> int:
        return int(self.samples.isna().all(axis=1).sum())

    @property
    def too_many_failed(self) -> bool:
        """More than ``(1 - level)/2`` of the refits failed: no interval can be read (``estimate_from_draws``)."""
        return self.n_failed > (1 - self.level) / 2 * len(self.samples)

    @property
    def problems(self) -> list[str]:
        """Why intervals are missing or to be read with care: too many failed refits, and each quantity withheld
        or with a caveat, with its reason."""
        found = [f"{self.n_failed} of {len(self.samples)} bootstrap refits failed (> {(1 - self.level) / 2:.1%}): "
                 "no intervals"] if self.too_many_failed else []
        reasons: dict[str, list[str]] = {}  # one line per reason: a law's parameters share theirs
        for name, why in (self.withheld | self.caveats).items():
            reasons.setdefault(why, []).append(name)
        return found + [f"{', '.join(names)}: {why}" for why, names in reasons.items()]

    def estimates(self) -> dict[str, Estimate]:
        return {name: Estimate(self.point[name], np.nan, np.nan, np.nan) if name in self.withheld
                else self.derived(lambda p, name=name: p[name]) for name in self.point}

    def derived(self, formula: Callable) -> Estimate:
        """``formula`` (parameters -> value; a mapping or the table of draws) at the point, with its interval
        from the same draws: how every derived value (``a``, a forecast) gets its CI."""
        point = float(formula(self.point))
        draws = np.asarray(formula(self.samples), float) if set(self.point) <= set(self.samples) else np.array([])
        reference = None if self.reference is None else float(formula(self.reference))
        return estimate_from_draws(point, draws, self.level, reference)


INTERVAL = "percentile, draws moved to the bootstrap's reference"
# Resamples of a reported interval: each end of a 95% percentile interval rests on 2.5% of them, and with 200 the
# ends moved between bootstrap seeds by up to a fifth of the interval's width on the demo's curves (text's alpha_C
# low end 0.18-0.31); Efron and Tibshirani (1993, ch. 19) ask for about 1,000 (benchmarks/bootstrap_resamples.py).
REPORT_RESAMPLES = 1000


def estimate_from_draws(point: float, draws: np.ndarray, level: float = 0.95, reference: float | None = None,
                        bias_corrected: bool = False) -> Estimate:
    """``point`` with the SD of the finite ``draws`` as its SE and their percentile interval (module docstring).
    ``reference``: the value in the truth the draws were simulated about (default ``point``). ``bias_corrected``:
    the BC interval instead (quantiles ``Phi(2 z0 -+ z)``, ``z0 = Phi^-1(share of draws below the estimate)``),
    for comparison.

    A draw that is not finite is a refit that failed. Failures are not dropped: a refit fails on the odd
    resample (too few sizes on the frontier's hull, too few crossings), which lies in a tail, so dropping them
    narrows the interval. Each counts as lying beyond whichever end of the interval that widens: the ends are the
    finite draws' quantiles ``(q B - F) / (B - F)`` and ``q B / (B - F)`` (``F`` failed of ``B``). Where more
    than ``(1 - level)/2`` of the draws failed an end is unknown: no interval (NaN), nor an SE (< 2 finite draws
    likewise).
    """
    draws = np.asarray(draws, float)
    finite = draws[np.isfinite(draws)]
    failed = len(draws) - len(finite)
    if len(finite) < 2:
        return Estimate(float(point), np.nan, np.nan, np.nan)
    if reference is not None and np.isfinite(reference):
        finite = finite * (point / reference) if point > 0 and reference > 0 else finite + (point - reference)
    below = (np.sum(finite < point) + 0.5 * np.sum(finite == point)) / len(finite)
    z0 = norm.ppf(np.clip(below, 0.5 / len(finite), 1 - 0.5 / len(finite))) if bias_corrected else 0.0
    z = norm.ppf(0.5 + level / 2)
    low_q, high_q = norm.cdf([2 * z0 - z, 2 * z0 + z]) * len(draws) - [failed, 0]
    if low_q < 0 or high_q > len(finite):
        return Estimate(float(point), np.nan, np.nan, np.nan)
    low, high = np.quantile(finite, [low_q / len(finite), high_q / len(finite)])
    return Estimate(float(point), float(np.std(finite, ddof=1)), float(low), float(high))


def run_rows(table: pd.DataFrame, strata: str | None = None) -> list[list[np.ndarray]]:
    """Row positions of each run, grouped by stratum (one group without strata); computed once per bootstrap."""
    runs = table["run"].to_numpy()
    labels = table[strata].to_numpy() if strata is not None and strata in table.columns else np.zeros(len(table))
    groups = []
    for label in pd.unique(labels):
        positions = np.flatnonzero(labels == label)
        groups.append([positions[i] for i in pd.Series(positions).groupby(runs[positions], sort=False).indices.values()])
    return groups


def resample_runs(table: pd.DataFrame, rows: list[list[np.ndarray]], rng: np.random.Generator) -> pd.DataFrame:
    """One resample: in each stratum as many runs as it has, drawn with replacement, each under a fresh id."""
    picks = [group[i] for group in rows for i in rng.integers(0, len(group), len(group))]
    sample = table.iloc[np.concatenate(picks)].reset_index(drop=True)
    sample["run"] = np.repeat(np.arange(len(picks)).astype(str), [len(p) for p in picks])
    return sample


def _refit(table: pd.DataFrame, statistic: Statistic, seeds: list[np.random.SeedSequence],
           rows: list[list[np.ndarray]]) -> list[dict[str, float]]:
    out = []
    for seed in seeds:
        try:
            out.append(statistic(resample_runs(table, rows, np.random.default_rng(seed))))
        except FIT_FAILURES:
            out.append({})
    return out


def bootstrap_runs(table: pd.DataFrame, statistic: Statistic, n_resamples: int, seed: int = 0,
                   strata: str | None = None, n_jobs: int = 1, level: float = 0.95) -> BootstrapResult:
    """Apply ``statistic`` (table -> named values) to the table and to ``n_resamples`` run-level resamples.

    A resample whose refit raises a fit failure counts as failed (a NaN row), never as a number. Pass a
    statistic that warm-starts from the full-data optimum: a resample is a small perturbation of the data, so one
    L-BFGS run from there finds its optimum at a fraction of a grid's cost. Results do not depend on ``n_jobs``.
    """
    point = statistic(table)
    seeds = np.random.SeedSequence(seed).spawn(n_resamples)
    rows = run_rows(table, strata)
    if n_jobs == 1:
        fits = _refit(table, statistic, seeds, rows)
    else:
        chunks = np.array_split(np.arange(n_resamples), n_jobs)
        parts = Parallel(n_jobs=n_jobs)(delayed(_refit)(table, statistic, [seeds[i] for i in chunk], rows)
                                        for chunk in chunks)
        fits = [fit for part in parts for fit in part]
    return BootstrapResult(point=point, samples=pd.DataFrame(fits, columns=list(point)), level=level)
