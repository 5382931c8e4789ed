"""Run-to-run noise in the frontier bootstrap: estimated where L(N, D) describes the curves, not where it does
not; a resample that fits one of L(C) and N_opt(C) and not the other counts against the other's intervals alone."""

from dataclasses import replace

import numpy as np
import pandas as pd

import pytest

from scalesearch.fits.curve_bootstrap import beside_an_unfitted_law, bootstrap_frontier, curve_noise, unfitted_laws
from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.synthetic import KnownLaw

CHINCHILLA = KnownLaw.from_chinchilla()
SIZES = np.geomspace(1e6, 1e9, 11)


def chinchilla_curves(run_noise: float, seed: int = 3) -> pd.DataFrame:
    return CHINCHILLA.curves(SIZES, c_max=1e20, points_per_decade=10, noise=0.003, run_noise=run_noise,
                             rng=np.random.default_rng(seed), c_min=1e14)


def test_run_noise_is_estimated_where_l_of_n_d_describes_the_curves():
    noise = curve_noise(FrontierFit().fit(chinchilla_curves(run_noise=0.02)))
    assert noise.run_sd_note.startswith("from 11 runs")
    assert 0.01 < noise.run_sd < 0.04


def test_run_noise_reads_the_tokens_trained_on_where_compute_is_not_6n():
    """budget.count full: C grows faster than 6N tokens, more so for smaller models (their unembedding), so
    C / 6N would misplace each run on L(N, D) (13x the point noise here, and no run noise); the table's tokens
    do not."""
    curves = chinchilla_curves(run_noise=0.02)
    curves["compute"] *= 1 + np.sqrt(3e7 / curves["n_params"])  # 6.5x 6N at N = 1e6, 1.2x at 1e9
    noise = curve_noise(FrontierFit().fit(curves))
    assert noise.run_sd_note.startswith("from 11 runs")
    assert 0.01 < noise.run_sd < 0.04


def test_run_noise_is_not_estimated_where_the_curves_are_not_l_of_n_d():
    """Tiny models start from the uniform loss and fall steeply before any power law holds: a transient that
    L(N, D) cannot follow. Read as run noise, the runs' offsets from the surface would be its misfit."""
    curves = chinchilla_curves(run_noise=0.0)
    tokens = curves["compute"] / (6 * curves["n_params"])
    start = tokens.groupby(curves["run"]).transform("min")
    curves["loss"] *= 1 + 0.5 * np.exp(-tokens / (30 * start))  # an early plateau, longer for larger runs
    noise = curve_noise(FrontierFit().fit(curves))
    assert noise.run_sd == 0.0
    assert "does not describe these curves" in noise.run_sd_note


def test_a_resample_that_crosses_too_rarely_keeps_l_of_c_and_counts_against_beta_alone():
    fit = FrontierFit().fit(chinchilla_curves(run_noise=0.0))
    assert np.isfinite(fit.params_["beta"])
    free = len(SIZES) - 3  # each smaller run far above the next larger one: only the three largest cross
    raised = [y + max(free - i, 0) for i, y in enumerate(fit.curves_.log_loss)]
    frontier, params = fit.refit(raised)
    assert len(frontier.crossing_n) == 2
    assert np.isnan(params["beta"]) and np.isnan(params["C_n"]) and np.isfinite(params["alpha_C"])


def test_a_resample_whose_hull_loses_its_interior_sizes_keeps_n_opt_and_counts_against_l_of_c_alone():
    """The same concave bend added to every curve: at each compute the sizes keep their order, so the crossings
    and N_opt(C) stay as they were (a quadratic in log C passes the quadratic smoothing unchanged), but the
    envelope bends downwards and its lower convex hull is its two ends, attained by the smallest and largest
    sizes: no interior size is left for L(C)."""
    fit = FrontierFit().fit(chinchilla_curves(run_noise=0.0))
    middle = np.mean(np.concatenate(fit.curves_.log_compute))
    bent = [y - 0.2 * (c - middle) ** 2 for y, c in zip(fit.curves_.log_loss, fit.curves_.log_compute)]
    frontier, params = fit.refit(bent)
    assert len(frontier.fit_indices()) == 0
    assert np.isnan(params["alpha_C"]) and np.isnan(params["L_inf"]) and np.isnan(params["C0"])
    assert params["beta"] == pytest.approx(fit.params_["beta"], rel=1e-9)


@pytest.mark.parametrize("law, lost, kept", [("N_opt(C)", ["C_n", "beta"], "alpha_C"),
                                             ("L(C)", ["L_inf", "C0", "alpha_C"], "beta")])
def test_too_many_resamples_without_one_law_withhold_its_intervals_but_not_the_others(law, lost, kept):
    fit = FrontierFit().fit(chinchilla_curves(run_noise=0.0))
    result = bootstrap_frontier(fit, 40, seed=0)
    samples = result.samples.copy()
    samples.loc[:4, lost] = np.nan  # 5 of 40 resamples without the law, the other one fitted in all
    withheld = unfitted_laws(replace(result, samples=samples))
    assert set(withheld) == set(lost) and "5 of 40 resamples" in withheld[lost[-1]]
    assert law in withheld[lost[-1]]
    assert unfitted_laws(result) == {}
    # The other law keeps its interval, with a caveat: its frontier is fragile (covered 0.86-0.96 of seeds).
    caveats = beside_an_unfitted_law(withheld)
    assert kept in caveats and "fragile" in caveats[kept] and law in caveats[kept]
    assert beside_an_unfitted_law({}) == {}
    estimates = replace(result, samples=samples, withheld=withheld).estimates()
    assert np.isnan(estimates[lost[-1]].ci_low) and np.isfinite(estimates[kept].ci_low)
    one = result.samples.copy()
    one.loc[:0, lost] = np.nan  # 1 of 40 (2.5%) still gives an interval
    assert unfitted_laws(replace(result, samples=one)) == {}
