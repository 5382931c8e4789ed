"""What the fitted laws say: the N and C needed for a target, the entropy and the KL, in nats per token and item.

Henighan et al. (2020), section 1: ``L_inf`` estimates the entropy of the data and ``L - L_inf`` the KL divergence
of the model from it, so a forecast is asked for a *reducible* loss ``r``. Solving the laws for it:

- L(N) = L_inf + (N0/N)^alpha_N  gives  ``N = N0 r^(-1/alpha_N)`` (a model trained to convergence);
- L(C) = L_inf + (C0/C)^alpha_C  gives  ``C = C0 r^(-1/alpha_C)``, and the size to spend it on
  ``N_opt(C) = (C/C_n)^beta``.

Every CI comes from applying the same formula to each bootstrap resample's parameters, read as the parameters'
own intervals are (``BootstrapResult.derived``).
Nats per item = nats per token x tokens per item, the item's tokens summed over its parts (``tokens_per_item``
as the domain logs it, e.g. ``{"image": 192}``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import Estimate
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.laws import LawFit

SCALE_OF = {"size": ("N0", "alpha_N"), "frontier": ("C0", "alpha_C"), "compute": ("C0", "alpha_C")}


def _derived(fit: LawFit, formula) -> Estimate:
    """``formula`` (parameters -> value) at the point fit, with the interval of its values over the resamples."""
    if fit.bootstrap is None:
        return Estimate(float(formula(fit.estimator.params_)), np.nan, np.nan, np.nan)
    return fit.bootstrap.derived(formula)


def needed(law: str, params: Mapping | pd.DataFrame, reducible: float) -> dict[str, np.ndarray]:
    """The formulas above for one parameter set (a mapping) or many (a table of resamples): ``n_params`` for the
    size law; ``compute`` (FLOPs) and, for the frontier law, the compute-optimal ``n_params`` there."""
    if law not in SCALE_OF:
        raise FitInputError(f"forecasts need a size, compute or frontier law, not {law!r}")
    if not reducible > 0:
        raise FitInputError(f"the target reducible loss must be > 0 nats/token, got {reducible}")
    scale, exponent = (np.asarray(params[name], float) for name in SCALE_OF[law])
    x = scale * reducible ** (-1.0 / exponent)
    if law == "size":
        return {"n_params": x}
    out = {"compute": x}
    if law == "frontier":
        out["n_params"] = (x / np.asarray(params["C_n"], float)) ** np.asarray(params["beta"], float)
    return out


def needed_for_reducible_loss(fit: LawFit, reducible: float) -> dict[str, Estimate]:
    """What reaching ``L - L_inf = reducible`` (nats/token) takes, by ``fit``, with bootstrap intervals."""
    names = needed(fit.law, fit.estimator.params_, reducible)
    return {name: _derived(fit, lambda p, name=name: needed(fit.law, p, reducible)[name]) for name in names}


def reducible_at(fit: LawFit, x: float) -> Estimate:
    """``L(x) - L_inf = (x0/x)^alpha`` at N (size law) or C in FLOPs (frontier, compute): the KL per token."""
    scale, exponent = SCALE_OF[fit.law]
    return _derived(fit, lambda p: (np.asarray(p[scale], float) / x) ** np.asarray(p[exponent], float))


def tokens_in_item(tokens_per_item: Mapping[str, float] | float | None) -> float | None:
    """Tokens of one item: a number, or the sum over its parts of a domain's ``tokens_per_item``."""
    if tokens_per_item is None or (isinstance(tokens_per_item, Mapping) and not tokens_per_item):
        return None
    total = float(sum(tokens_per_item.values()) if isinstance(tokens_per_item, Mapping) else tokens_per_item)
    if not total > 0:
        raise FitInputError(f"tokens per item must be > 0, got {tokens_per_item}")
    return total


def entropy_and_kl(fit: LawFit, at: float, tokens_per_item: Mapping[str, float] | float | None = None) -> dict:
    """``L_inf`` as the data's entropy and ``L(at) - L_inf`` as the model's KL from it, nats per token and item.

    ``at``: the N (size law) or C in FLOPs (frontier, compute law) where the KL is read, e.g. the largest reached.
    """
    floor, kl = fit.estimates()["L_inf"], reducible_at(fit, at)
    per_item = tokens_in_item(tokens_per_item)
    out = {"entropy_nats_per_token": floor.to_dict(), "kl_nats_per_token": kl.to_dict(), "at": at,
           "tokens_per_item": tokens_per_item, "entropy_nats_per_item": None, "kl_nats_per_item": None}
    if per_item is not None:
        out["entropy_nats_per_item"] = floor.scaled(per_item).to_dict()
        out["kl_nats_per_item"] = kl.scaled(per_item).to_dict()
    return out
