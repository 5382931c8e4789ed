"""Forecasts and interpretation against an independent derivation: the frontier found by numerically minimising
the known L(N, D) over N at each compute, and the target compute found by root-finding on it."""

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from scalesearch.fits.forecast import entropy_and_kl, needed, needed_for_reducible_loss, tokens_in_item
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.laws import fit_law
from scalesearch.fits.synthetic import KnownLaw

LAW = KnownLaw.from_chinchilla()
TRUTH = {"L_inf": LAW.E, "C0": LAW.c0, "alpha_C": LAW.alpha_c, "C_n": LAW.c_n, "beta": LAW.beta_opt}


def numerical_frontier(compute: float):
    """The compute-optimal model at ``compute`` FLOPs by bounded 1-D minimisation over log N (no closed form)."""
    return minimize_scalar(lambda log_n: LAW.loss(np.exp(log_n), compute / (6 * np.exp(log_n))), bounds=(0, 60),
                           method="bounded", options={"xatol": 1e-11})


def compute_for(reducible: float) -> float:
    log_c = brentq(lambda lc: numerical_frontier(np.exp(lc)).fun - LAW.E - reducible, np.log(1e12), np.log(1e35),
                   xtol=1e-12)
    return float(np.exp(log_c))


@pytest.mark.parametrize("reducible", [0.3, 0.05])
def test_formulas_match_the_numerical_inverse_of_the_known_law(reducible):
    c = compute_for(reducible)
    forecast = needed("frontier", TRUTH, reducible)
    assert float(forecast["compute"]) == pytest.approx(c, rel=1e-6)
    assert float(forecast["n_params"]) == pytest.approx(np.exp(numerical_frontier(c).x), rel=1e-5)
    # L(N) at convergence (D -> infinity) is E + A/N^alpha: L_inf = E, N0 = A^(1/alpha), alpha_N = alpha.
    size_params = {"L_inf": LAW.E, "N0": LAW.A ** (1 / LAW.alpha), "alpha_N": LAW.alpha}
    n = brentq(lambda log_n: LAW.loss(np.exp(log_n), 1e300) - LAW.E - reducible, 0, 100)
    assert float(needed("size", size_params, reducible)["n_params"]) == pytest.approx(np.exp(n), rel=1e-8)


def test_forecast_from_fitted_curves_covers_the_truth_and_extrapolates():
    curves = LAW.curves(np.geomspace(1e6, 1e9, 11), c_max=1e20, points_per_decade=10, noise=0.003,
                        rng=np.random.default_rng(3), c_min=1e14)
    fit = fit_law(curves, "frontier", n_bootstrap=60, seed=3)
    reducible = 0.3  # the frontier reaches 0.74 at 1e20 FLOPs; 0.3 needs 1.5e22: two decades of extrapolation
    forecast = needed_for_reducible_loss(fit, reducible)
    truth_c = compute_for(reducible)
    assert forecast["compute"].ci_low < truth_c < forecast["compute"].ci_high
    assert forecast["compute"].ci_low < forecast["compute"].value < forecast["compute"].ci_high
    assert forecast["n_params"].ci_low < np.exp(numerical_frontier(truth_c).x) < forecast["n_params"].ci_high
    kl = entropy_and_kl(fit, at=1e20, tokens_per_item={"text": 32, "image": 192})
    per_token, per_item = kl["kl_nats_per_token"], kl["kl_nats_per_item"]
    assert per_token["ci_low"] < numerical_frontier(1e20).fun - LAW.E < per_token["ci_high"]
    assert per_item["value"] == pytest.approx(224 * per_token["value"])
    assert per_item["ci_high"] == pytest.approx(224 * per_token["ci_high"])
    assert kl["entropy_nats_per_item"]["value"] == pytest.approx(224 * fit.estimator.params_["L_inf"])


def test_bad_forecast_requests():
    with pytest.raises(FitInputError, match="> 0 nats"):
        needed("frontier", TRUTH, 0.0)
    with pytest.raises(FitInputError, match="not 'chinchilla'"):
        needed("chinchilla", TRUTH, 0.1)
    with pytest.raises(FitInputError, match="tokens per item"):
        tokens_in_item({"image": 0})
    assert tokens_in_item({}) is None and tokens_in_item(192) == 192
