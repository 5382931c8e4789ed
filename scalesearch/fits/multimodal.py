"""Caption and image: the mutual information ``I(text; image)`` and Infogain against N (Henighan et al. 2020, §5).

``I = L(image | no caption) - L(image | caption)`` per image: the two held-out image losses (nats per image token)
times the image's tokens. Infogain ``= I / L(image | no caption)`` per image is the share of the image's
information the caption carries (the tokens cancel). Henighan found both grow as ``lambda log(N / N_c)``: fitted
here by least squares on log N, one point per run (its last report), with intervals from a bootstrap over runs.
He measured after fine-tuning on a 50/50 mix of captioned and uncaptioned images; without that the estimate of I
came out about twice too large, so read I against the share of uncaptioned images the runs trained on.

The two losses are read from metrics named in :class:`CaptionMetrics`; the training job logs per-part losses of
each eval split as ``eval/<split>_loss/<part>`` (text_image's splits ``image_given_caption`` and
``image_without_caption``; part ``image``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import Estimate, bootstrap_runs
from scalesearch.fits.inputs import FitInputError


@dataclass(frozen=True)
class CaptionMetrics:
    """The MLflow metrics that hold the image loss (nats per image token) with and without a caption."""

    captioned: str = "eval/image_given_caption_loss/image"
    uncaptioned: str = "eval/image_without_caption_loss/image"


def log_fit(n_params: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """``values = lambda log(N / N_c)``: least squares in log N. ``N_c`` is NaN where lambda is not positive."""
    slope, intercept = np.polyfit(np.log(np.asarray(n_params, float)), np.asarray(values, float), 1)
    return {"lambda": float(slope), "N_c": float(np.exp(-intercept / slope)) if slope > 0 else float("nan")}


@dataclass(frozen=True)
class InformationResult:
    per_run: pd.DataFrame  # run, n_params, mutual_information_nats, infogain
    mutual_information_fit: dict[str, Estimate]  # lambda (nats per image per e-fold of N), N_c
    infogain_fit: dict[str, Estimate]
    image_tokens: float

    def to_dict(self) -> dict:
        return {"image_tokens": self.image_tokens, "per_run": self.per_run.to_dict("records"),
                "mutual_information_fit": {k: e.to_dict() for k, e in self.mutual_information_fit.items()},
                "infogain_fit": {k: e.to_dict() for k, e in self.infogain_fit.items()},
                "law": "I = lambda log(N / N_c), nats per image; Infogain = lambda log(N / N_c)"}


def mutual_information(runs: pd.DataFrame, image_tokens: float, metrics: CaptionMetrics = CaptionMetrics(),
                       n_bootstrap: int = 200, seed: int = 0) -> InformationResult:
    """I(text; image) and Infogain per run and their log fits; ``runs``: one row per run with ``run``,
    ``n_params`` and the two metrics' columns."""
    absent = [m for m in (metrics.captioned, metrics.uncaptioned) if m not in runs.columns]
    if absent:
        raise FitInputError(f"the runs have no metric(s) {absent}: the image losses with and without a caption are "
                            "needed (name them with --captioned-metric / --uncaptioned-metric)")
    rows = runs.dropna(subset=[metrics.captioned, metrics.uncaptioned])
    captioned, uncaptioned = (rows[m].to_numpy(float) for m in (metrics.captioned, metrics.uncaptioned))
    if not (np.all(captioned > 0) and np.all(uncaptioned > 0)):
        raise FitInputError(f"{metrics.captioned} and {metrics.uncaptioned} must be positive losses")
    if rows["n_params"].nunique() < 3:
        raise FitInputError(f"the log fit of I against N needs runs of >= 3 sizes with both image losses, got "
                            f"{rows['n_params'].nunique()}")
    information = (uncaptioned - captioned) * image_tokens
    per_run = pd.DataFrame({"run": rows["run"].to_numpy(), "n_params": rows["n_params"].to_numpy(float),
                            "mutual_information_nats": information,
                            "infogain": information / (uncaptioned * image_tokens)}).sort_values("n_params")
    fits = {}
    for column in ("mutual_information_nats", "infogain"):
        result = bootstrap_runs(per_run, lambda t, c=column: log_fit(t["n_params"], t[c]), n_bootstrap, seed)
        fits[column] = result.estimates()
    return InformationResult(per_run.reset_index(drop=True), fits["mutual_information_nats"], fits["infogain"],
                             float(image_tokens))
