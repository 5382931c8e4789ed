"""Universality of exponents on synthetic domains: equal exponents (not rejected) and clearly different ones
(rejected), with the shared exponent of the joint fit checked against the truth."""

import numpy as np
import pandas as pd
import pytest

from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.inputs import FitFailedError, FitInputError
from scalesearch.fits.synthetic import KnownLaw
from scalesearch.fits.universality import _test, shared_beta, universality_test

CHINCHILLA = KnownLaw.from_chinchilla()
# Same alpha and beta, so the same frontier exponents, but another entropy and other scales.
SAME_EXPONENTS = KnownLaw(E=2.5, A=3 * CHINCHILLA.A, B=CHINCHILLA.B / 2, alpha=CHINCHILLA.alpha,
                          beta=CHINCHILLA.beta)
# beta 0.55: N_opt exponent 0.613 against 0.513 and alpha_C 0.213 against 0.178, about 20 standard errors apart.
OTHER_EXPONENTS = KnownLaw(E=CHINCHILLA.E, A=CHINCHILLA.A, B=CHINCHILLA.B, alpha=CHINCHILLA.alpha, beta=0.55)


def frontier_fit(law: KnownLaw, seed: int, noise: float = 0.003) -> FrontierFit:
    curves = law.curves(np.geomspace(1e6, 1e9, 11), c_max=1e20, points_per_decade=10, noise=noise,
                        rng=np.random.default_rng(seed), c_min=1e14)
    return FrontierFit().fit(curves)


@pytest.fixture(scope="module")
def chinchilla_fit():
    return frontier_fit(CHINCHILLA, seed=11)


def test_equal_exponents_are_not_rejected_and_the_shared_value_is_the_truth(chinchilla_fit):
    tests = universality_test({"a": chinchilla_fit, "b": frontier_fit(SAME_EXPONENTS, seed=12)}, 100, seed=1)
    for exponent, truth in (("alpha_C", CHINCHILLA.alpha_c), ("beta", CHINCHILLA.beta_opt)):
        test = tests[exponent]
        assert not test.rejected, test.to_dict()
        assert test.shared.contains(truth), (exponent, test.shared, truth)
        assert all(d.contains(0.0) for d in test.deviation.values())
        assert test.verdict().startswith(f"Universality of {exponent} is not rejected at the 5% level")
        assert "does not show they are equal" in test.verdict()


def test_clearly_different_exponents_are_rejected_with_each_domains_deviation(chinchilla_fit):
    tests = universality_test({"a": chinchilla_fit, "b": frontier_fit(OTHER_EXPONENTS, seed=13)}, 100, seed=1)
    for exponent, low, high in (("alpha_C", CHINCHILLA.alpha_c, OTHER_EXPONENTS.alpha_c),
                                ("beta", CHINCHILLA.beta_opt, OTHER_EXPONENTS.beta_opt)):
        test = tests[exponent]
        assert test.rejected and test.p_value < 0.02, test.to_dict()
        # b deviates, and the two deviations are told apart. Domain a's own deviation excludes 0 for beta only:
        # the joint L(C) fit is carried by a's hull points, so the shared alpha_C sits about 1 se from a's own
        # (-0.0005, se 0.0004) and whether that interval reaches 0 is noise.
        assert test.deviation["a"].ci_high < test.deviation["b"].ci_low and test.deviation["b"].ci_low > 0
        assert test.deviation["a"].value < 0 and (exponent == "alpha_C" or test.deviation["a"].ci_high < 0)
        assert low < test.shared.value < high
        assert test.per_domain["a"].contains(low) and test.per_domain["b"].contains(high)
        assert "is rejected" in test.verdict() and "compromise" in test.verdict()


def test_shared_beta_is_the_common_slope_of_noise_free_domains():
    fits = {"a": frontier_fit(CHINCHILLA, 0, noise=0.0), "b": frontier_fit(SAME_EXPONENTS, 0, noise=0.0)}
    assert shared_beta({d: f.frontier_ for d, f in fits.items()}) == pytest.approx(CHINCHILLA.beta_opt, abs=0.002)


def test_universality_needs_two_domains(chinchilla_fit):
    with pytest.raises(FitInputError, match=">= 2 domains"):
        universality_test({"a": chinchilla_fit}, 100)


def test_an_exponent_without_intervals_is_not_tested(chinchilla_fit):
    """Where too many joint refits failed for a domain's exponent to have an interval (> 2.5% of them), there is no
    variance to weigh its deviation by: no test, rather than a p-value of failures that reads 'not rejected'."""
    fits = {"a": chinchilla_fit, "b": frontier_fit(SAME_EXPONENTS, seed=12)}
    columns = [f"{e}:{d}" for e in ("alpha_C", "beta") for d in ("a", "b", "shared")]
    draws = pd.DataFrame(np.random.default_rng(0).normal(0.5, 0.01, (40, len(columns))), columns=columns)
    draws.iloc[:2] = np.nan  # 2 of 40 failed: 5%
    reference = {c: 0.5 for c in columns}
    with pytest.raises(FitFailedError, match="2 of 40 joint refits failed.*no test"):
        _test("beta", fits, 0.5, draws, reference, 0.05)
    assert np.isfinite(_test("beta", fits, 0.5, draws.iloc[2:], reference, 0.05).p_value)


def test_beta_is_tested_where_one_domains_resamples_often_lose_l_of_c_but_not_n_opt(henighan_table):
    """Henighan's Math row on 7 sizes from 3e4: in about a third of its resamples the hull keeps too few interior
    sizes for L(C) while the crossings still give N_opt(C). Those resamples count against alpha_C alone, so beta
    keeps its test (counted as whole failures, they left beta without an interval and the test refused). Such a
    frontier is fragile: this seed's beta is 0.71 against the truth's 0.69, outside its interval (the caveat
    curve_bootstrap.beside_an_unfitted_law puts on it), so the test's verdict is not asserted."""
    law = KnownLaw.from_henighan_row(henighan_table.set_index("domain").loc["Math (Extrapolate)"])
    fits = {d: FrontierFit().fit(law.curves(np.geomspace(3e4, 1e8, 7), c_max=1e17, points_per_decade=6,
                                            noise=0.003, rng=np.random.default_rng(seed), c_min=1e13))
            for d, seed in (("steady", 1), ("fragile", 0))}
    beta = universality_test(fits, 40, seed=0, exponents=("beta",))["beta"]
    assert all(np.isfinite(e.ci_low) for e in beta.per_domain.values()), beta.to_dict()
    assert np.isfinite(beta.shared.ci_low) and 0 < beta.p_value <= 1
    with pytest.raises(FitFailedError, match="alpha_C in fragile"):
        universality_test(fits, 40, seed=0, exponents=("alpha_C",))
