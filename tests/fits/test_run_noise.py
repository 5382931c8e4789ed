"""Run-to-run noise in the frontier bootstrap: estimated where L(N, D) describes the curves, not where it does
not; a resample that crosses too rarely for N_opt(C) still counts for L(C)."""

from dataclasses import replace

import numpy as np
import pandas as pd

from scalesearch.fits.curve_bootstrap import bootstrap_frontier, curve_noise, unfitted_n_opt
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


def test_too_many_resamples_without_n_opt_withhold_beta_but_not_alpha_c():
    fit = FrontierFit().fit(chinchilla_curves(run_noise=0.0))
    result = bootstrap_frontier(fit, 40, seed=0)
    samples = result.samples.copy()
    samples.loc[:4, ["C_n", "beta"]] = np.nan  # 5 of 40 resamples without N_opt(C), L(C) fitted in all
    withheld = unfitted_n_opt(replace(result, samples=samples))
    assert set(withheld) == {"C_n", "beta"} and "5 of 40 resamples crossed too rarely" in withheld["beta"]
    assert unfitted_n_opt(result) == {}
    estimates = replace(result, samples=samples, withheld=withheld).estimates()
    assert np.isnan(estimates["beta"].ci_low) and np.isfinite(estimates["alpha_C"].ci_low)
