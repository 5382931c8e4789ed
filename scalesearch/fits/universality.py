"""Are the exponents universal across domains? A joint fit with shared exponents against per-domain fits.

Henighan et al. (2020) found ``beta ~ 0.7`` for N_opt(C) in every domain. Here:

- **Joint fit.** ``beta``: least squares on every domain's crossings (frontier.py) with one slope and one
  intercept per domain (each domain keeps its own ``C_n``). ``alpha_C``: the L(C) law on every domain's hull
  points with one exponent and each domain's own ``L_inf`` and ``C0`` (Huber on log L, summed, as in the
  per-domain fits), started from the per-domain fits.
- **Test** (a parametric bootstrap test; why not a likelihood ratio on the points: the hull points of one domain
  are interpolations of the same few report points, strongly correlated, so a point-level likelihood counts
  them as independent and rejects on noise). Statistic ``T = sum_d (b_d - b_shared)^2 / var_d`` with ``var_d``
  the bootstrap variance of domain d's own exponent. Each resample simulates every domain's runs anew
  (curve_bootstrap.py) and refits per domain and jointly; ``T*`` is the same sum over the resample's deviations
  from those of the resamples' own truth, ``(b*_d - r_d) - (b*_shared - r_shared)`` with ``r`` the fits to the
  noise-free smoothed curves (curve_bootstrap.py's reference; the fit to the data is not the truth the resamples
  were drawn about): the spread the noise alone gives the deviations, the distribution of T if the exponents
  were equal. Intervals are read about ``r`` too. ``p = (1 + #{T* >= T}) / (B + 1)``.
- **Failed joint refits** are kept: each counts as a ``T*`` at or above ``T`` (so failures can only raise ``p``)
  and in the intervals by bootstrap.estimate_from_draws' rule (no interval past 2.5% failed); with more than half
  failed there is no test.
- **Report.** The shared exponent with its percentile interval; each domain's deviation ``b_d - b_shared`` with
  its interval. "Not rejected" does not mean the exponents are equal: it means the data cannot tell them apart
  at the test's level; the deviations' intervals say how large a difference would still go unseen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import FIT_FAILURES, Estimate, estimate_from_draws
from scalesearch.fits.curve_bootstrap import CurveNoise, curve_noise
from scalesearch.fits.frontier import Frontier, FrontierFit
from scalesearch.fits.inputs import FitFailedError, FitInputError
from scalesearch.fits.optimize import minimize_multistart
from scalesearch.fits.powerlaw import ALPHA_BOUNDS, PowerLawWithConstant

EXPONENTS = ("alpha_C", "beta")


def shared_beta(frontiers: dict[str, Frontier]) -> float:
    """The N_opt exponent of one slope through every domain's crossings, each domain with its own intercept:
    log C regressed on log N, whose values are exact (PurePowerLaw's ``noise_in="x"``), and inverted."""
    x = [np.log(f.crossing_compute) for f in frontiers.values()]
    y = [np.log(f.crossing_n) for f in frontiers.values()]
    covariance = sum(np.sum((xd - xd.mean()) * (yd - yd.mean())) for xd, yd in zip(x, y))
    return float(sum(np.sum((yd - yd.mean()) ** 2) for yd in y) / covariance)


def shared_alpha_c(frontiers: dict[str, Frontier], starts: dict[str, dict[str, float]],
                   huber_delta: float | None = 1e-3) -> float:
    """The L(C) exponent shared by every domain's hull points, each domain with its own L_inf and C0."""
    points = {d: (np.log(f.compute[f.fit_indices()]), np.log(f.loss[f.fit_indices()])) for d, f in frontiers.items()}
    shift = float(np.mean(np.concatenate([log_c for log_c, _ in points.values()])))
    parts = [PowerLawWithConstant(huber_delta).log_objective(log_c - shift, log_y) for log_c, log_y in points.values()]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        alpha, total, grad = theta[-1], 0.0, np.zeros_like(theta)
        for k, part in enumerate(parts):
            value, g = part(np.array([theta[2 * k], theta[2 * k + 1], alpha]))
            total += value
            grad[2 * k:2 * k + 2] = g[:2]
            grad[-1] += g[2]
        return total, grad

    start = [v for d in points for v in (np.log(starts[d]["L_inf"]), np.log(starts[d]["C0"]) - shift)]
    start.append(float(np.mean([starts[d]["alpha_C"] for d in points])))
    names = [f"{name}_{d}" for d in points for name in ("L_inf", "C0")] + ["alpha_C"]
    bounds = [(-50.0, 50.0), (-200.0, 200.0)] * len(points) + [ALPHA_BOUNDS]
    return float(minimize_multistart(objective, names, bounds, np.array(start)).x[-1])


def shared_exponents(frontiers: dict[str, Frontier], starts: dict[str, dict[str, float]],
                     exponents: tuple[str, ...] = EXPONENTS) -> dict[str, float]:
    """The joint fit's value of each of ``exponents`` ('alpha_C', 'beta')."""
    fits = {"alpha_C": lambda: shared_alpha_c(frontiers, starts), "beta": lambda: shared_beta(frontiers)}
    return {e: fits[e]() for e in exponents}


@dataclass(frozen=True)
class UniversalityTest:
    """One exponent across domains: the shared value, each domain's own and its deviation, and the test."""

    exponent: str
    shared: Estimate
    per_domain: dict[str, Estimate]
    deviation: dict[str, Estimate]  # b_d - b_shared
    statistic: float
    p_value: float
    resamples: int
    level: float = 0.05

    @property
    def rejected(self) -> bool:
        """Universality rejected at ``level``: the exponents differ by more than the noise explains."""
        return bool(self.p_value < self.level)

    def verdict(self) -> str:
        s = self.shared
        if self.rejected:
            apart = [d for d, e in self.deviation.items() if not e.contains(0.0)]
            return (f"Universality of {self.exponent} is rejected at the {self.level:.0%} level (bootstrap test, "
                    f"p = {self.p_value:.3g}): the domains' exponents differ by more than their noise explains"
                    + (f" (deviating: {', '.join(apart)})" if apart else "")
                    + f"; the joint fit's {s.value:.4g} [{s.ci_low:.4g}, {s.ci_high:.4g}] is a compromise between "
                    "them, not the law of each.")
        return (f"Universality of {self.exponent} is not rejected at the {self.level:.0%} level (bootstrap test, "
                f"p = {self.p_value:.3g}): the exponents are consistent with one shared value, {s.value:.4g} "
                f"[{s.ci_low:.4g}, {s.ci_high:.4g}]. This does not show they are equal; differences inside each "
                "domain's deviation interval cannot be told from noise.")

    def to_dict(self) -> dict:
        return {"exponent": self.exponent, "shared": self.shared.to_dict(),
                "per_domain": {d: e.to_dict() for d, e in self.per_domain.items()},
                "deviation": {d: e.to_dict() for d, e in self.deviation.items()},
                "statistic": self.statistic, "p_value": self.p_value, "level": self.level,
                "resamples": self.resamples, "rejected": self.rejected, "verdict": self.verdict(),
                "test": "parametric bootstrap of the runs; T = sum_d (b_d - b_shared)^2 / var_d"}


def universality_test(fits: dict[str, FrontierFit], n_resamples: int = 200, seed: int = 0, level: float = 0.05,
                      exponents: tuple[str, ...] = EXPONENTS) -> dict[str, UniversalityTest]:
    """Test ``exponents`` for universality across the domains of ``fits`` (>= 2 frontier fits)."""
    if len(fits) < 2 or n_resamples < 20:
        raise FitInputError(f"universality needs >= 2 domains and >= 20 resamples, got {sorted(fits)} and "
                         f"{n_resamples}")
    domains = list(fits)
    starts = {d: f.params_ for d, f in fits.items()}
    point = shared_exponents({d: f.frontier_ for d, f in fits.items()}, starts, exponents)
    noises = {d: curve_noise(f) for d, f in fits.items()}
    reference = reference_exponents(fits, noises, exponents)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_resamples):
        try:
            refits = {d: fits[d].refit(noises[d].draw(rng)) for d in domains}
        except FIT_FAILURES:
            rows.append({})
            continue
        own = {f"{e}:{d}": refits[d][1][e] for d in domains for e in exponents}
        # A domain's refit may fit one law and not the other (FrontierFit.refit): an exponent some domain lacks
        # has no joint value in this resample.
        fitted = [e for e in exponents if all(np.isfinite(own[f"{e}:{d}"]) for d in domains)]
        try:
            shared = shared_exponents({d: frontier for d, (frontier, _) in refits.items()},
                                      {d: params for d, (_, params) in refits.items()}, tuple(fitted))
        except FIT_FAILURES:
            shared = {}
        rows.append({**own, **{f"{e}:shared": shared.get(e, np.nan) for e in exponents}})
    draws = pd.DataFrame(rows, columns=[f"{e}:{d}" for e in exponents for d in [*domains, "shared"]])
    failed = int(draws.isna().all(axis=1).sum())
    if failed > n_resamples // 2:
        raise FitFailedError(f"{failed} of {n_resamples} joint bootstrap refits failed: no test")
    return {e: _test(e, fits, point[e], draws, reference, level) for e in exponents}


def reference_exponents(fits: dict[str, FrontierFit], noises: dict[str, CurveNoise],
                        exponents: tuple[str, ...]) -> dict[str, float]:
    """Each domain's and the shared exponents of the resamples' truth, the noise-free smoothed curves (as in
    curve_bootstrap.py): the draws' deviations are read about these, not about the fit to the data. The estimate
    stands in where a domain's refit of its smoothed curves fails or lacks one of the exponents."""
    fitted, own = {}, {}
    for d, fit in fits.items():
        try:
            frontier, params = fit.refit(list(noises[d].smoothed))
        except FIT_FAILURES:
            frontier, params = fit.frontier_, {}
        if not all(np.isfinite(params.get(e, np.nan)) for e in exponents):
            frontier, params = fit.frontier_, fit.params_
        fitted[d] = (frontier, params)
        own |= {f"{e}:{d}": params[e] for e in exponents}
    shared = shared_exponents({d: f for d, (f, _) in fitted.items()}, {d: p for d, (_, p) in fitted.items()},
                              exponents)
    return own | {f"{e}:shared": shared[e] for e in exponents}


def _test(exponent: str, fits: dict[str, FrontierFit], shared: float, draws: pd.DataFrame,
          reference: dict[str, float], level: float) -> UniversalityTest:
    """The test of one exponent; a failed joint refit is a NaN row. Failures count against rejection: each as a
    ``T*`` at or above ``T``, and by estimate_from_draws' rule in the intervals."""
    own = {d: f.params_[exponent] for d, f in fits.items()}
    column = {d: draws[f"{exponent}:{d}"].to_numpy(float) for d in [*fits, "shared"]}
    ref = {d: reference[f"{exponent}:{d}"] for d in [*fits, "shared"]}
    per_domain = {d: estimate_from_draws(own[d], column[d], reference=ref[d]) for d in fits}
    deviation = {d: estimate_from_draws(own[d] - shared, column[d] - column["shared"],
                                        reference=ref[d] - ref["shared"]) for d in fits}
    variance = {d: per_domain[d].se ** 2 for d in fits}
    unknown = [d for d in fits if not np.isfinite(variance[d])]
    if unknown:
        failed = int(np.sum(~np.isfinite(column["shared"])))
        raise FitFailedError(f"{failed} of {len(draws)} joint refits failed, too many for an interval of "
                             f"{exponent} in {', '.join(unknown)}: no test (more resamples, or more runs)")
    statistic = sum((own[d] - shared) ** 2 / variance[d] for d in fits)
    null = sum(((column[d] - ref[d]) - (column["shared"] - ref["shared"])) ** 2 / variance[d] for d in fits)
    at_least = int(np.sum(null >= statistic)) + int(np.sum(~np.isfinite(null)))
    p_value = (1 + at_least) / (len(draws) + 1)
    return UniversalityTest(exponent, estimate_from_draws(shared, column["shared"], reference=ref["shared"]),
                            per_domain, deviation, float(statistic), float(p_value), len(draws), level)
