"""What the fitted laws say: the N and C needed for a target, entropy and KL, mutual information, extrapolation.

Henighan et al. (2020), section 1: ``L_inf`` estimates the entropy of the data (nats per token; per image,
problem or video times the tokens per item) and ``L - L_inf`` the KL divergence of the model from it, so a
forecast is asked for a *reducible* loss: ``N = N0 r^(-1/alpha_N)`` and ``C = C0 r^(-1/alpha_C)``. CIs come from
applying the same formula to every bootstrap resample of the fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import Estimate
from scalesearch.fits.laws import LawFit

SCALE_OF = {"size": ("N0", "alpha_N"), "frontier": ("C0", "alpha_C"), "compute": ("C0", "alpha_C")}


def _estimate(point: float, draws: np.ndarray, level: float = 0.95) -> Estimate:
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return Estimate(point, np.nan, np.nan, np.nan)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Estimate(float(point), float(np.std(draws, ddof=1)), float(low), float(high))


def needed_for_reducible_loss(fit: LawFit, reducible: float) -> Estimate:
    """The N (size law) or C in FLOPs (compute/frontier law) at which ``L - L_inf`` falls to ``reducible``."""
    scale, exponent = SCALE_OF[fit.law]

    def solve(params: pd.DataFrame | dict) -> np.ndarray:
        return np.asarray(params[scale], float) * reducible ** (-1.0 / np.asarray(params[exponent], float))

    point = float(solve(fit.estimator.params_))
    draws = solve(fit.bootstrap.samples) if fit.bootstrap is not None else np.array([])
    return _estimate(point, draws)


def entropy_and_kl(fit: LawFit, loss: float | None = None, tokens_per_item: int | None = None) -> dict:
    """``L_inf`` as entropy (nats/token and per item) and the reducible part of ``loss`` as a KL divergence."""
    floor = fit.estimates()["L_inf"]
    per_item = tokens_per_item or 1
    out = {"entropy_nats_per_token": floor.to_dict(),
           "entropy_nats_per_item": {k: v * per_item for k, v in floor.to_dict().items()} if tokens_per_item else None}
    if loss is not None:
        out["kl_nats_per_token"] = loss - floor.value
        out["kl_nats_per_item"] = (loss - floor.value) * per_item
    return out


def mutual_information(table: pd.DataFrame, tokens_per_image: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """``I(text; image)`` per image and Infogain against N, with Henighan's ``lambda log(N / N_c)`` fitted to I.

    ``table``: one row per run with ``n_params``, ``image_no_caption``, ``image_given_caption`` (nats/token).
    ``I = (L(image | no caption) - L(image | caption)) * tokens_per_image``; Infogain = ``I / L(image | none)``
    per image. The fit is linear in log N (least squares): I = lambda log N - lambda log N_c.
    """
    rows = table.sort_values("n_params")
    info = (rows["image_no_caption"] - rows["image_given_caption"]) * tokens_per_image
    out = pd.DataFrame({"n_params": rows["n_params"].to_numpy(), "mutual_information_nats": info.to_numpy(),
                        "infogain": (info / (rows["image_no_caption"] * tokens_per_image)).to_numpy()})
    slope, intercept = np.polyfit(np.log(out["n_params"]), out["mutual_information_nats"], 1)
    return out, {"lambda": float(slope), "N_c": float(np.exp(-intercept / slope))}


def extrapolation_vs_training(table: pd.DataFrame) -> dict[str, float]:
    """Math: does extrapolation loss follow training loss rather than N? Slopes of log-log fits on each.

    ``table``: one row per run with ``n_params``, ``train_loss``, ``extrapolate_loss``. Henighan found the
    extrapolation loss depends mainly on the training loss: the correlation with it should beat the one with N.
    """
    log_ext = np.log(table["extrapolate_loss"].to_numpy(float))
    log_train = np.log(table["train_loss"].to_numpy(float))
    log_n = np.log(table["n_params"].to_numpy(float))
    return {"slope_vs_train_loss": float(np.polyfit(log_train, log_ext, 1)[0]),
            "corr_vs_train_loss": float(np.corrcoef(log_train, log_ext)[0, 1]),
            "corr_vs_n_params": float(np.corrcoef(log_n, log_ext)[0, 1])}
