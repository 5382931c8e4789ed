"""The simulator's truth, written out from the papers' equations rather than from fits/synthetic.py."""

import numpy as np
import pytest

from scalesearch.search.simulator import SimulatedLaw
from scalesearch.spec import SimulateSpec

N, TOKENS = 1e8, np.geomspace(1e8, 1e11, 7)


def test_default_truth_is_besiroglus_chinchilla_law():
    law = SimulatedLaw(SimulateSpec(noise=0, run_noise=0))
    expected = 1.8172 + 482.01 / N**0.3478 + 2085.43 / TOKENS**0.3658
    assert law.curve(N, None, TOKENS, "s") == pytest.approx(expected, rel=1e-12)


def test_gamma_gives_kaplans_non_additive_form():
    """A = N_c^alpha_N, B = D_c^alpha_D, gamma = alpha_D: Kaplan et al. (2020) eq. 1.5 with a floor E."""
    n_c, d_c, a_n, a_d = 1.84e8, 3.56e9, 0.35, 0.37
    law = SimulatedLaw(SimulateSpec(A=n_c**a_n, B=d_c**a_d, alpha=a_n, beta=a_d, gamma=a_d, noise=0, run_noise=0))
    expected = 1.8172 + ((n_c / N) ** (a_n / a_d) + d_c / TOKENS) ** a_d
    assert law.curve(N, None, TOKENS, "s") == pytest.approx(expected, rel=1e-12)
    assert law.truth.beta_opt == pytest.approx(a_d / (a_n + a_d))
