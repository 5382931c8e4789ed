"""Math: does the loss on harder problems than trained on follow the training loss, or N? (Henighan et al. 2020)

Henighan found the extrapolation loss (difficulty 12, trained on 3..10) depends mainly on the training loss, not
on N. Tested here per run (its last report) by least squares
``log L_extrapolate = a + b log L_train + c log N``: ``c`` is what N adds at equal training loss, ``~0`` if the
finding holds; the same for the interpolation loss (difficulty 8). Standard errors are the ordinary
least-squares ones, the runs being independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from scalesearch.fits.bootstrap import Estimate
from scalesearch.fits.inputs import FitInputError


@dataclass(frozen=True)
class MathMetrics:
    """The MLflow metrics of the training loss and of the eval splits (nats per answer token)."""

    train: str = "train_loss"
    extrapolate: str = "eval/extrapolate_loss"
    interpolate: str = "eval/interpolate_loss"


def regression(log_target: np.ndarray, log_train: np.ndarray, log_n: np.ndarray) -> dict[str, Estimate]:
    """``log target = a + b log train + c log N``: b and c with OLS standard errors and 95% t intervals."""
    design = np.column_stack([np.ones_like(log_train), log_train, log_n])
    coef, _, rank, _ = np.linalg.lstsq(design, log_target, rcond=None)
    dof = len(log_target) - 3
    if rank < 3 or dof < 1:
        raise FitInputError(f"the regression on training loss and N needs >= 4 runs whose training losses do not "
                            f"follow from N alone; got {len(log_target)} runs, rank {rank}")
    sigma2 = np.sum((log_target - design @ coef) ** 2) / dof
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * sigma2)
    half = student_t.ppf(0.975, dof) * se
    return {name: Estimate(float(coef[i]), float(se[i]), float(coef[i] - half[i]), float(coef[i] + half[i]))
            for i, name in ((1, "slope_vs_train_loss"), (2, "slope_vs_n_params_at_equal_train_loss"))}


def extrapolation_vs_training(runs: pd.DataFrame, metrics: MathMetrics = MathMetrics()) -> dict:
    """For each eval split present: the regression above and the correlations of its log loss with log training
    loss and with log N. ``runs``: one row per run with ``n_params`` and the metrics' columns."""
    if metrics.train not in runs.columns:
        raise FitInputError(f"the runs have no {metrics.train!r} metric: the training loss is needed")
    out = {}
    for split, name in (("extrapolate", metrics.extrapolate), ("interpolate", metrics.interpolate)):
        if name not in runs.columns:
            continue
        rows = runs.dropna(subset=[name, metrics.train])
        log_target, log_train = np.log(rows[name].to_numpy(float)), np.log(rows[metrics.train].to_numpy(float))
        log_n = np.log(rows["n_params"].to_numpy(float))
        out[split] = {"metric": name, "runs": len(rows),
                      **{k: e.to_dict() for k, e in regression(log_target, log_train, log_n).items()},
                      "corr_vs_train_loss": float(np.corrcoef(log_train, log_target)[0, 1]),
                      "corr_vs_n_params": float(np.corrcoef(log_n, log_target)[0, 1])}
    if not out:
        raise FitInputError(f"the runs have neither {metrics.extrapolate!r} nor {metrics.interpolate!r}")
    return out
