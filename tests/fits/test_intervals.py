"""The bootstrap's intervals: percentiles read about the truth the resamples were drawn from; BC for comparison."""

import numpy as np
import pytest
from scipy.stats import norm

from scalesearch.fits.bootstrap import estimate_from_draws
from scalesearch.fits.curve_bootstrap import bootstrap_frontier
from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.synthetic import KnownLaw

NORMAL = norm.ppf((np.arange(4000) + 0.5) / 4000)  # standard normal draws without Monte Carlo noise


def test_bc_takes_out_a_bias_that_the_percentile_interval_doubles():
    """Refits half an sd above the estimate say the estimate is half an sd above the truth: BC centres the
    interval that much below it (-0.5 +- 1.96 sd), where the percentile interval would sit at +0.5 +- 1.96."""
    e = estimate_from_draws(0.0, 0.5 + NORMAL, bias_corrected=True)
    assert (e.ci_low, e.ci_high) == pytest.approx((-2.46, 1.46), abs=0.03)
    assert e.contains(e.value) and e.se == pytest.approx(1.0, rel=0.01)
    unbiased = estimate_from_draws(0.0, NORMAL, bias_corrected=True)
    assert (unbiased.ci_low, unbiased.ci_high) == pytest.approx((-1.96, 1.96), abs=0.01)


def test_an_interval_excludes_the_estimate_only_when_nearly_all_refits_fall_on_one_side():
    for bias_corrected in (False, True):
        assert not estimate_from_draws(0.0, 2.2 + NORMAL, bias_corrected=bias_corrected).contains(0.0)  # (!)
        assert estimate_from_draws(0.0, 1.8 + NORMAL, bias_corrected=bias_corrected).contains(0.0)


def test_draws_about_a_reference_are_read_relative_to_it():
    """Draws centred on their own truth (the reference) carry no bias: the interval is centred on the estimate,
    moved multiplicatively for positive values (a scale such as C0 stays positive)."""
    e = estimate_from_draws(2.0, 4.0 * np.exp(0.1 * NORMAL), reference=4.0)
    assert np.sqrt(e.ci_low * e.ci_high) == pytest.approx(2.0, rel=1e-3)
    assert e.ci_low > 0


@pytest.fixture(scope="module")
def frontier_bootstrap():
    curves = KnownLaw.from_chinchilla().curves(np.geomspace(1e6, 1e9, 11), c_max=1e20, points_per_decade=10,
                                               noise=0.003, rng=np.random.default_rng(3), c_min=1e14)
    return bootstrap_frontier(FrontierFit().fit(curves), 60, seed=3)


def test_frontier_bootstrap_reads_its_draws_about_the_fit_to_the_smoothed_curves(frontier_bootstrap):
    """The refits are read about their own truth, so the interval is placed at the estimate and contains it."""
    result = frontier_bootstrap
    assert result.reference is not None and result.reference["alpha_C"] != result.point["alpha_C"]
    assert result.to_dict()["interval"] == "percentile, draws moved to the bootstrap's reference"
    for name, e in result.estimates().items():
        assert e.contains(e.value), (name, e)


def test_derived_values_get_their_interval_from_the_same_draws(frontier_bootstrap):
    """A monotone formula of one parameter gives that parameter's interval transformed (percentiles respect it);
    Chinchilla's a = beta/(alpha+beta) and the forecasts go through the same ``derived``."""
    result = frontier_bootstrap
    c0 = result.estimates()["C0"]
    log_c0 = result.derived(lambda p: np.log(p["C0"]))
    assert (log_c0.ci_low, log_c0.ci_high) == pytest.approx((np.log(c0.ci_low), np.log(c0.ci_high)), rel=1e-4)
    assert result.derived(lambda p: p["beta"]) == result.estimates()["beta"]


def test_failed_refits_widen_the_interval_and_too_many_leave_none():
    """A failed refit (NaN) counts as lying beyond whichever end that widens: dropping it would narrow the
    interval. Past (1 - level)/2 failed, an end is unknown and no interval (nor SE) is given."""
    draws = NORMAL[::40]  # 100 draws
    dropped = estimate_from_draws(0.0, draws[1:])
    kept = estimate_from_draws(0.0, np.r_[draws[1:], np.nan])
    assert kept.ci_low < dropped.ci_low and kept.ci_high > dropped.ci_high
    assert np.isfinite(estimate_from_draws(0.0, np.r_[draws[2:], np.nan, np.nan]).ci_low)
    none = estimate_from_draws(0.0, np.r_[draws[3:], np.full(3, np.nan)])
    assert np.isnan([none.se, none.ci_low, none.ci_high]).all() and none.value == 0.0


def test_a_floor_the_data_do_not_reach_gets_no_interval(henighan_table):
    """Henighan's Image 8x8 row: L_inf (3.13) is within the noise of the lowest losses fitted, so L_inf and C0
    are withheld (value only) while the exponents keep their intervals; on Chinchilla's law nothing is."""
    image = KnownLaw.from_henighan_row(henighan_table.set_index("domain").loc["Image 8x8"])
    curves = image.curves(np.geomspace(1.26e5, 1e9, 14), c_max=4.1e20, points_per_decade=10, noise=0.003,
                          rng=np.random.default_rng(0), c_min=4.1e14)
    result = bootstrap_frontier(FrontierFit().fit(curves), 40, seed=0)
    assert set(result.withheld) == {"L_inf", "C0"} and "floor not identified" in result.withheld["L_inf"]
    estimates = result.estimates()
    assert np.isnan(estimates["L_inf"].ci_low) and estimates["L_inf"].value == result.point["L_inf"]
    assert estimates["alpha_C"].contains(image.alpha_c) and estimates["beta"].contains(image.beta_opt)


def test_a_floor_the_data_reach_is_not_withheld(frontier_bootstrap):
    assert frontier_bootstrap.withheld == {}
    assert np.isfinite(frontier_bootstrap.estimates()["L_inf"].ci_low)


def test_a_resample_whose_n_opt_does_not_grow_with_compute_counts_against_beta_not_as_a_value(demo_image_curves):
    """A committed demo's image curves (a real run), read with their warm-up (without ``warmup_tokens``): one of
    their three crossings, inside the warm-up, is out of the order of size, and in some resamples the crossings'
    compute does not grow with size, so the slope of log C on log N is 0 or below and its inverse, beta, infinite
    or negative. Such a resample lies beyond the upper end of beta's interval; as a value it once made beta 0.48's
    "interval" [-11.5, 11.9]. It is counted like one that crossed too rarely: beta withheld, alpha_C's interval
    kept."""
    fit = FrontierFit().fit(demo_image_curves.drop(columns="warmup_tokens"))
    assert fit.params_["beta"] > 0
    result = bootstrap_frontier(fit, 100, seed=0)
    betas = result.samples["beta"]
    assert (betas.dropna() > 0).all()
    assert betas.isna().sum() > 0.025 * len(betas) and result.samples["alpha_C"].notna().all()
    estimates = result.estimates()
    assert np.isnan(estimates["beta"].ci_low) and "out of the order of size" in result.withheld["beta"]
    assert estimates["alpha_C"].ci_low < fit.params_["alpha_C"] < estimates["alpha_C"].ci_high


def test_the_plots_draw_no_band_where_the_report_gives_no_interval(frontier_bootstrap):
    """Over 2.5% of the refits failed: the report gives no intervals, so the plot of L(C) shows no band either
    (the committed demo's math once showed one drawn from the refits that did not fail)."""
    from dataclasses import replace

    from scalesearch.fits.laws import LawFit
    from scalesearch.fits.plots import _band

    fit = LawFit("frontier", "all", FrontierFit(), frontier_bootstrap)
    grid = np.geomspace(1e15, 1e20, 5)
    names = ("L_inf", "C0", "alpha_C")
    loss = lambda p, c: p["L_inf"] + (p["C0"] / c) ** p["alpha_C"]  # noqa: E731
    low, high = _band(fit, loss, grid, names)
    assert (low < high).all()

    samples = frontier_bootstrap.samples.copy()
    samples.iloc[: len(samples) // 10] = np.nan  # 10% failed
    failed = replace(frontier_bootstrap, samples=samples)
    assert failed.too_many_failed and np.isnan(failed.estimates()["alpha_C"].ci_low)
    assert _band(replace(fit, bootstrap=failed), loss, grid, names) is None
