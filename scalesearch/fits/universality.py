"""Are the exponents universal across domains? A pooled exponent and Cochran's Q test of heterogeneity.

Henighan et al. (2020) found ``beta ~ 0.7`` for N_opt(C) in every domain. The test here: each domain's exponent
comes with a bootstrap-over-runs standard error; the shared exponent is their inverse-variance-weighted mean
(the maximum-likelihood common value under that Gaussian approximation) and
``Q = sum_d ((b_d - b_shared) / se_d)^2`` is chi-square with ``D - 1`` degrees of freedom if the exponent is
shared (one parameter is fitted from D estimates). Why not a likelihood-ratio test on the raw points: the hull
points of one domain come from a handful of runs and are strongly correlated, so a point-level Gaussian
likelihood would count them as independent and reject universality on noise; the bootstrap over runs measures
the variance that is really there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, norm

from scalesearch.fits.bootstrap import Estimate
from scalesearch.fits.laws import LawFit


@dataclass(frozen=True)
class UniversalityTest:
    exponent: str
    shared: Estimate
    per_domain: dict[str, Estimate]
    q_statistic: float
    degrees_of_freedom: int
    p_value: float
    level: float = 0.05

    @property
    def rejected(self) -> bool:
        """Universality rejected at ``level`` (the exponents differ by more than their errors allow)."""
        return bool(self.p_value < self.level)

    def deviations(self) -> dict[str, float]:
        """Each domain's exponent minus the shared one, in units of that domain's standard error."""
        return {d: (e.value - self.shared.value) / e.se for d, e in self.per_domain.items()}

    def to_dict(self) -> dict:
        return {"exponent": self.exponent, "shared": self.shared.to_dict(),
                "per_domain": {d: e.to_dict() for d, e in self.per_domain.items()},
                "deviation_in_se": self.deviations(), "q_statistic": self.q_statistic,
                "degrees_of_freedom": self.degrees_of_freedom, "p_value": self.p_value,
                "rejected": self.rejected, "test": "Cochran's Q with bootstrap-over-runs SEs"}


def universality_test(fits: dict[str, LawFit], exponent: str, level: float = 0.05) -> UniversalityTest:
    """Pool ``exponent`` (e.g. 'beta', 'alpha_C') over the domains' bootstrapped fits and test heterogeneity."""
    per_domain = {d: f.estimates()[exponent] for d, f in fits.items()}
    usable = {d: e for d, e in per_domain.items() if np.isfinite(e.se) and e.se > 0}
    if len(usable) < 2:
        raise ValueError(f"universality of {exponent} needs >= 2 domains fitted with a bootstrap, "
                         f"got {sorted(usable)} of {sorted(per_domain)}")
    values = np.array([e.value for e in usable.values()])
    weights = 1.0 / np.array([e.se for e in usable.values()]) ** 2
    shared = float(weights @ values / weights.sum())
    shared_se = float(weights.sum() ** -0.5)
    half_width = norm.ppf(0.975) * shared_se
    q = float(weights @ (values - shared) ** 2)
    dof = len(usable) - 1
    return UniversalityTest(exponent, Estimate(shared, shared_se, shared - half_width, shared + half_width),
                            usable, q, dof, float(chi2.sf(q, dof)), level)
