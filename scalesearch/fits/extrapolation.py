"""Hold out the largest models, fit the rest, and measure the error on what was held out.

The point of a scaling law is prediction beyond the largest run, so the report says how well the law fitted to
smaller runs predicts the larger ones: the Chinchilla law at the held-out runs' (N, D); L(N) at their best
losses; for the frontier, L(C) at the full frontier's hull points and N_opt(C) at its crossings, both beyond the
compute the smaller runs' frontier reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalesearch.fits.frontier import best_losses, lower_envelope
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.laws import fit_estimator


def _errors(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = np.abs(np.asarray(predicted, float) / np.asarray(observed, float) - 1)
    return {"points": len(error), "mean_abs_rel_error": float(error.mean()),
            "max_abs_rel_error": float(error.max())}


def extrapolation_check(table: pd.DataFrame, law: str, n_holdout_sizes: int = 2) -> dict:
    """Fit ``law`` without the ``n_holdout_sizes`` largest N and report relative errors on them."""
    sizes = np.sort(table["n_params"].unique())
    if len(sizes) <= n_holdout_sizes + 3:
        raise FitInputError(f"an extrapolation check holding out {n_holdout_sizes} sizes needs more than "
                            f"{n_holdout_sizes + 3} sizes, got {len(sizes)}")
    held = sizes[-n_holdout_sizes:]
    is_held = table["n_params"].isin(held)
    fit = fit_estimator(law, table[~is_held])
    out = {"law": law, "held_out_sizes": [float(n) for n in held], "fit_ok": bool(fit.ok_)}
    if law == "chinchilla":
        rows = table[is_held]
        out["loss"] = _errors(rows["loss"], fit.predict(rows["n_params"], rows["tokens"]))
    elif law == "size":
        best = best_losses(table)
        rows = best[best["n_params"].isin(held) & best["converged"]]
        if len(rows):
            out["loss"] = _errors(rows["loss"], fit.predict(rows["n_params"]))
    else:
        reach = fit.frontier_.compute[fit.frontier_.hull].max()
        full = lower_envelope(table)
        points = full.fit_points()
        points = points[points["compute"] > reach]
        if len(points):
            out["loss"] = _errors(points["loss"], fit.predict(points["compute"]))
        crossings = full.crossings()
        crossings = crossings[crossings["compute"] > fit.frontier_.crossing_compute.max()]
        if len(crossings) and fit.n_opt_law_ is not None:
            out["n_opt"] = _errors(crossings["n_params"], fit.n_opt(crossings["compute"]))
    if "loss" not in out and "n_opt" not in out:
        raise FitInputError("no held-out points to compare with: the largest runs add no converged or frontier "
                            "points beyond what the smaller ones cover")
    return out
