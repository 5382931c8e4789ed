"""Learning curves from a known law, for checking the fits against a truth (and for the search's simulator).

The truth is Chinchilla's form ``L(N, D) = E + A/N^alpha + B/D^beta`` with ``D = C/(6N)``, or a variant with
the same terms ``x = A/N^alpha``, ``y = B/D^beta`` combined otherwise: ``gamma != 1`` takes their generalised mean
``E + (x^(1/gamma) + y^(1/gamma))^gamma``, which holds Kaplan et al. (2020)'s non-additive form
``E + ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D`` (``KnownLaw.kaplan_form``), and ``kappa`` adds a cross term
``kappa sqrt(x y)``, outside both families. Either way ``L - E = x h(r)`` with ``r = y/x`` and
``h(r) = (1 + r^(1/gamma))^gamma + kappa sqrt(r)``: homogeneous of degree 1 in (x, y). At fixed C, ``r`` grows as
``N^(alpha+beta)``, and the loss is least where ``r h'(r)/h(r) = alpha/(alpha+beta)``, at a ratio ``r*`` that does
not depend on C (``(alpha/beta)^gamma`` in closed form without the cross term, a root found numerically with it).
So:

- ``N_opt(C) = G (C/6)^(beta/(alpha+beta))`` with ``G = (r* A/B)^(1/(alpha+beta))`` (from ``y = r* x``);
- on that optimum ``L - E = h(r*) A / N_opt(C)^alpha``, so the frontier ``L*(C)`` is a power law plus constant
  with exponent ``alpha_C = alpha beta / (alpha + beta)`` — exactly Henighan's ``L(C) = L_inf + (C0/C)^alpha_C``.

So an estimated N_opt exponent can be compared with ``beta/(alpha+beta)`` and an estimated ``alpha_C`` with
``alpha beta/(alpha+beta)``, whatever ``gamma`` and ``kappa``: they change the form of L(N, D), not the frontier's
exponents, which is what shows an estimator's debt to knowing the form (benchmarks/estimator_form.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq

FLOPS_PER_PF_DAY = 8.64e19


@dataclass(frozen=True)
class KnownLaw:
    """``L(N, D) = E + A/N^alpha + B/D^beta`` (nats/token; ``gamma`` != 1: the generalised mean of the module
    docstring, ``kappa`` != 0: its cross term), with its compute-optimal frontier in closed form."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    gamma: float = 1.0
    kappa: float = 0.0

    @classmethod
    def kaplan_form(cls, E: float, N_c: float, D_c: float, alpha_N: float, alpha_D: float) -> KnownLaw:
        """``E + ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D`` (Kaplan et al. 2020, eq. 1.5, with a floor ``E``)."""
        return cls(E=E, A=N_c**alpha_N, B=D_c**alpha_D, alpha=alpha_N, beta=alpha_D, gamma=alpha_D)

    @classmethod
    def from_chinchilla(cls) -> KnownLaw:
        """Besiroglu et al. (2024)'s refit of Chinchilla's approach 3 on 240 points."""
        return cls(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)

    @classmethod
    def from_henighan_row(cls, row: Mapping[str, float], E: float | None = None) -> KnownLaw:
        """A law whose frontier has a Table 1 row's ``a_C`` and whose N_opt has its ``beta`` and ``C_n``.

        ``alpha_C = alpha beta_H`` and ``beta_H = beta/(alpha+beta)`` give ``alpha = a_C/beta_H`` and
        ``beta = alpha beta_H/(1 - beta_H)``; ``A = N0^alpha`` puts L(N) at the row's scale and ``B`` is set so
        ``N_opt(C) = (C/C_n)^beta_H``. ``E`` defaults to the row's ``L_C_Linf``.
        """
        beta_h, a_c = float(row["Nopt_beta"]), float(row["L_C_alpha"])
        alpha = a_c / beta_h
        beta = alpha * beta_h / (1.0 - beta_h)
        floor = float(row["L_C_Linf"]) if E is None else E
        if not np.isfinite(floor):
            raise ValueError(f"the row has no L_inf ({row.get('domain', '?')}): pass E")
        a_scale = float(row["L_N_N0"]) ** alpha
        g = (6.0 / (float(row["Nopt_Cn_pfdays"]) * FLOPS_PER_PF_DAY)) ** beta_h
        b_scale = alpha * a_scale / (beta * g ** (alpha + beta))
        return cls(E=floor, A=a_scale, B=b_scale, alpha=alpha, beta=beta)

    @classmethod
    def from_frontier(cls, params: Mapping[str, float]) -> KnownLaw:
        """The law whose frontier is ``L_inf + (C0/C)^alpha_C`` with ``N_opt = (C/C_n)^beta`` (FrontierFit's
        ``params_``, C in FLOPs): the closed form above solved for ``E, A, B, alpha, beta``.

        ``alpha = alpha_C/beta_opt``, ``beta = alpha beta_opt/(1 - beta_opt)``, ``G = (6/C_n)^beta_opt``; the
        frontier's height gives ``A = (C0/6)^alpha_C G^alpha / (1 + alpha/beta)`` and G's definition
        ``B = alpha A / (beta G^(alpha+beta))``. Needs ``0 < beta_opt < 1`` and ``alpha_C > 0``.
        """
        beta_h, a_c = float(params["beta"]), float(params["alpha_C"])
        if not (0 < beta_h < 1 and a_c > 0):
            raise ValueError(f"no L(N, D) has a frontier with beta = {beta_h:.3g} and alpha_C = {a_c:.3g}: "
                             "it needs 0 < beta < 1 and alpha_C > 0")
        alpha = a_c / beta_h
        beta = alpha * beta_h / (1.0 - beta_h)
        g = (6.0 / float(params["C_n"])) ** beta_h
        a_scale = (float(params["C0"]) / 6.0) ** a_c * g**alpha / (1.0 + alpha / beta)
        b_scale = alpha * a_scale / (beta * g ** (alpha + beta))
        return cls(E=float(params["L_inf"]), A=a_scale, B=b_scale, alpha=alpha, beta=beta)

    @property
    def beta_opt(self) -> float:
        """The N_opt(C) exponent ``beta/(alpha+beta)`` (Chinchilla's ``a``, Henighan's ``beta``)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def alpha_c(self) -> float:
        """The frontier exponent ``alpha beta/(alpha+beta)`` of ``L(C) = E + (C0/C)^alpha_C``."""
        return self.alpha * self.beta / (self.alpha + self.beta)

    def h(self, r: np.ndarray | float) -> np.ndarray:
        """``(L - E)/x`` as a function of ``r = y/x`` (module docstring)."""
        r = np.asarray(r, float)
        return (1.0 + r ** (1 / self.gamma)) ** self.gamma + self.kappa * np.sqrt(r)

    @property
    def ratio(self) -> float:
        """``r* = y/x`` on the frontier: ``r h'(r)/h(r) = alpha/(alpha+beta)``."""
        if self.kappa == 0:
            return (self.alpha / self.beta) ** self.gamma
        share = self.alpha / (self.alpha + self.beta)

        def excess(log_r: float) -> float:
            r = np.exp(log_r)
            root = r ** (1 / self.gamma)
            r_dh = (1.0 + root) ** (self.gamma - 1) * root + self.kappa * np.sqrt(r) / 2  # r h'(r)
            return r_dh / float(self.h(r)) - share

        return float(np.exp(brentq(excess, -60.0, 60.0, xtol=1e-14)))

    @property
    def g(self) -> float:
        return (self.ratio * self.A / self.B) ** (1.0 / (self.alpha + self.beta))

    @property
    def c_n(self) -> float:
        """``C_n`` (FLOPs) of ``N_opt = (C/C_n)^beta_opt``."""
        return 6.0 * self.g ** (-1.0 / self.beta_opt)

    @property
    def c0(self) -> float:
        """``C0`` (FLOPs) of ``L*(C) = E + (C0/C)^alpha_C``."""
        k = float(self.h(self.ratio)) * self.A * self.g ** (-self.alpha)
        return 6.0 * k ** (1.0 / self.alpha_c)

    def loss(self, n_params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        x = self.A / np.asarray(n_params, float) ** self.alpha
        y = self.B / np.asarray(tokens, float) ** self.beta
        mean = (x ** (1 / self.gamma) + y ** (1 / self.gamma)) ** self.gamma
        return self.E + mean + self.kappa * np.sqrt(x * y)

    def n_opt(self, compute: np.ndarray) -> np.ndarray:
        return self.g * (np.asarray(compute, float) / 6.0) ** self.beta_opt

    def frontier_loss(self, compute: np.ndarray) -> np.ndarray:
        n = self.n_opt(compute)
        return self.loss(n, np.asarray(compute, float) / (6.0 * n))

    def curves(self, sizes: Sequence[float], c_max: float, points_per_decade: float = 10, noise: float = 0.01,
               rng: np.random.Generator | None = None, c_min: float | None = None,
               run_noise: float = 0.0) -> pd.DataFrame:
        """Learning curves ``L_i(C)``, one run per size, reported at log-spaced compute up to ``c_max``.

        Every run reports at the same compute points (``points_per_decade`` a decade from ``c_min``, default
        ``c_max / 1e4``), as the search's jobs do. Noise is multiplicative and log-normal:
        ``loss = truth * exp(run_noise * u + noise * z)`` with ``z`` drawn per point (evaluation noise) and ``u``
        once per run (what a run's seed, data order and hyperparameters shift its whole curve by).
        """
        rng = np.random.default_rng() if rng is None else rng
        c_min = c_max / 1e4 if c_min is None else c_min
        compute = np.geomspace(c_min, c_max, round(np.log10(c_max / c_min) * points_per_decade) + 1)
        rows = []
        for index, n in enumerate(sorted(sizes)):
            tokens = compute / (6.0 * n)
            log_noise = noise * rng.standard_normal(len(compute))
            if run_noise:
                log_noise += run_noise * rng.standard_normal()
            loss = self.loss(n, tokens) * np.exp(log_noise)
            rows.append(pd.DataFrame({"run": f"n{index:02d}_{n:.3g}", "n_params": float(n), "tokens": tokens,
                                      "compute": compute, "loss": loss}))
        return pd.concat(rows, ignore_index=True)
