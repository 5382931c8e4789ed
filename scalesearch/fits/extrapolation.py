"""Hold out the largest models, fit the rest, and measure the error on what was held out.

The point of a scaling law is prediction beyond the largest run, so the report says how well the law fitted to
smaller runs predicts the larger ones: the Chinchilla law at the held-out runs' (N, D); L(N) at their best
losses; L(C) on the full frontier's hull points beyond the compute the smaller runs' frontier reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalesearch.fits.frontier import best_losses, lower_envelope
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.laws import fit_estimator


def extrapolation_check(table: pd.DataFrame, law: str, n_holdout_sizes: int = 2) -> dict:
    """Fit ``law`` without the ``n_holdout_sizes`` largest N and report relative errors on them."""
    sizes = np.sort(table["n_params"].unique())
    if len(sizes) <= n_holdout_sizes + 3:
        raise FitInputError(f"an extrapolation check holding out {n_holdout_sizes} sizes needs more than "
                            f"{n_holdout_sizes + 3} sizes, got {len(sizes)}")
    held = sizes[-n_holdout_sizes:]
    is_held = table["n_params"].isin(held)
    fit = fit_estimator(law, table[~is_held])
    if law == "chinchilla":
        rows = table[is_held]
        observed, predicted = rows["loss"].to_numpy(), fit.predict(rows["n_params"], rows["tokens"])
    elif law == "size":
        best = best_losses(table)
        rows = best[best["n_params"].isin(held) & best["converged"]]
        observed, predicted = rows["loss"].to_numpy(), fit.predict(rows["n_params"])
    else:
        reach = fit.frontier_.compute[fit.frontier_.hull].max()
        points = lower_envelope(table).fit_points()
        points = points[points["compute"] > reach]
        observed, predicted = points["loss"].to_numpy(), fit.predict(points["compute"])
    if len(observed) == 0:
        raise FitInputError("no held-out points to compare with: the largest runs add no converged or frontier "
                            "points beyond what the smaller ones cover")
    error = np.abs(np.asarray(predicted) / observed - 1)
    return {"law": law, "held_out_sizes": [float(n) for n in held], "points": len(observed),
            "fit_ok": bool(fit.ok_), "mean_abs_rel_error": float(error.mean()),
            "max_abs_rel_error": float(error.max())}
