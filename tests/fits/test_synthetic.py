"""Frontier fits against learning curves generated from a known law with closed-form truth."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from scalesearch.fits.frontier import FrontierFit
from scalesearch.fits.powerlaw import PurePowerLaw
from scalesearch.fits.synthetic import KnownLaw

# Kaplan's non-additive form with exponents and N_opt(C) near the simulator's (benchmarks/estimator_form.py)
KAPLAN = KnownLaw.kaplan_form(E=1.8172, N_c=1.84e8, D_c=3.56e9, alpha_N=0.35, alpha_D=0.37)
# Chinchilla's terms with a cross term kappa sqrt(x y), outside both families
CROSS = KnownLaw(E=1.8172, A=482.01 / 1.5, B=2085.43 / 1.5, alpha=0.3478, beta=0.3658, kappa=1.0)
LAWS = pytest.mark.parametrize("law", [KnownLaw.from_chinchilla(), KAPLAN, CROSS,
                                       KnownLaw(E=1.8, A=100, B=300, alpha=0.3, beta=0.4, gamma=0.5, kappa=0.7)],
                               ids=["chinchilla", "kaplan", "cross", "mean-and-cross"])


@LAWS
def test_closed_form_frontier_matches_numerical_minimum(law):
    """N_opt, the frontier and its exponents from a numerical minimum over N, not from the closed form's algebra;
    Kaplan's form has a gamma != 1 and the same exponent formulas."""
    found = []
    for c in (1e18, 1e22):
        best = minimize_scalar(lambda log_n, c=c: law.loss(np.exp(log_n), c / (6 * np.exp(log_n))),
                               bounds=(0, 60), method="bounded", options={"xatol": 1e-10})
        assert np.exp(best.x) == pytest.approx(law.n_opt(c), rel=1e-4)
        assert best.fun == pytest.approx(law.frontier_loss(c), rel=1e-9)
        assert law.frontier_loss(c) == pytest.approx(law.E + (law.c0 / c) ** law.alpha_c, rel=1e-9)
        assert law.n_opt(c) == pytest.approx((c / law.c_n) ** law.beta_opt, rel=1e-9)
        found.append((np.log(c), best.x, np.log(best.fun - law.E)))
    (c1, n1, l1), (c2, n2, l2) = found
    assert (n2 - n1) / (c2 - c1) == pytest.approx(law.beta_opt, rel=1e-5)
    assert -(l2 - l1) / (c2 - c1) == pytest.approx(law.alpha_c, rel=1e-6)


def test_kaplan_form_and_cross_term_are_the_equations_they_name():
    n, d = 1e8, 2e9
    assert KAPLAN.loss(n, d) == pytest.approx(1.8172 + ((1.84e8 / n) ** (0.35 / 0.37) + 3.56e9 / d) ** 0.37, rel=1e-12)
    x, y = 482.01 / 1.5 / n**0.3478, 2085.43 / 1.5 / d**0.3658
    assert CROSS.loss(n, d) == pytest.approx(1.8172 + x + y + (x * y) ** 0.5, rel=1e-12)
    assert (KAPLAN.beta_opt, KAPLAN.alpha_c) == pytest.approx((0.37 / 0.72, 0.35 * 0.37 / 0.72))


def test_henighan_row_gives_its_exponents(henighan_table):
    row = henighan_table.iloc[1]  # Image 8x8
    law = KnownLaw.from_henighan_row(row)
    assert law.beta_opt == pytest.approx(row["Nopt_beta"])
    assert law.alpha_c == pytest.approx(row["L_C_alpha"])
    assert law.c_n == pytest.approx(row["Nopt_Cn_pfdays"] * 8.64e19, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
@LAWS
def test_frontier_recovers_known_exponents(seed, law):
    """Noise 0.3% per point, sizes a factor 2 apart. Tolerances: alpha_C is set by the frontier's height, which
    the noise moves by ~0.3% over 6 decades of compute, so a few thousandths; the N_opt exponent is read from which
    of the discrete sizes attains the hull, a step of log 2 in log N over ~0.7 decades of compute, so a few
    hundredths (and the discreteness alone costs ~0.005, see the noise-free case). The frontier fit assumes no
    form of L(N, D), so the non-additive ones are read as well as Chinchilla's."""
    curves = law.curves(np.geomspace(1e6, 1e9, 11), c_max=1e20, points_per_decade=10, noise=0.003,
                        rng=np.random.default_rng(seed), c_min=1e14)
    fit = FrontierFit().fit(curves)
    assert fit.ok_
    assert abs(fit.params_["alpha_C"] - law.alpha_c) < 0.008
    assert abs(fit.params_["beta"] - law.beta_opt) < 0.04
    assert abs(fit.params_["L_inf"] - law.E) < 0.1
    on_frontier = fit.frontier_.runs_on_frontier()
    assert on_frontier["n_params"].is_monotonic_increasing and on_frontier["c_from"].is_monotonic_increasing


def test_pure_power_law_with_noise_in_x_regresses_x_on_y():
    """Noise in x attenuates the slope of y on x (errors in variables); regressing x on the exact y does not."""
    rng = np.random.default_rng(0)
    y = np.geomspace(1e5, 1e9, 400)
    x = (y ** (1 / 0.64)) * np.exp(0.8 * rng.standard_normal(len(y)))  # y = x^0.64, x noisy
    forward = PurePowerLaw().fit(x, y).params_["beta"]
    reverse = PurePowerLaw(noise_in="x").fit(x, y)
    assert forward < 0.63 and reverse.params_["beta"] == pytest.approx(0.64, abs=0.01)
    assert reverse.predict(np.array([reverse.params_["x_n"]])) == pytest.approx(1.0)
