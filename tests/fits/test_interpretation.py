"""The multimodal and math analyses of the report recover a known truth, and say when the runs cannot tell.

Runs are made up as the training job would log them (one row per run: N and its last metrics), from a truth
chosen here: I(text; image) = lambda log(N / N_c) nats per image (Henighan et al. 2020, §5), and a math
extrapolation loss that follows the training loss with no N of its own (their finding) or with one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.math_extrapolation import extrapolation_vs_training
from scalesearch.fits.multimodal import CaptionMetrics, mutual_information

IMAGE_TOKENS = 192.0
LAMBDA, N_C = 6.0, 2e3  # nats per image per e-fold of N, and where I reaches zero
NOISE = 0.3  # nats per image, per run


def caption_runs(rng: np.random.Generator, sizes: np.ndarray) -> pd.DataFrame:
    """Image losses (nats per image token) without a caption and with one, whose gap is I / image tokens."""
    uncaptioned = 3.0 + 20.0 * sizes ** -0.2
    information = LAMBDA * np.log(sizes / N_C) + rng.normal(0.0, NOISE, len(sizes))
    m = CaptionMetrics()
    return pd.DataFrame({"run": [f"r{i}" for i in range(len(sizes))], "n_params": sizes,
                         m.uncaptioned: uncaptioned, m.captioned: uncaptioned - information / IMAGE_TOKENS})


def test_mutual_information_and_infogain_recover_the_log_law():
    runs = caption_runs(np.random.default_rng(0), np.repeat(np.geomspace(1e4, 1e7, 7), 2))
    result = mutual_information(runs, IMAGE_TOKENS, n_bootstrap=200, seed=1)
    lam, n_c = result.mutual_information_fit["lambda"], result.mutual_information_fit["N_c"]
    log_n = np.log(runs["n_params"].to_numpy())
    ols_se = NOISE / np.sqrt(np.sum((log_n - log_n.mean()) ** 2))  # the slope's sampling sd, by formula
    assert 0.6 < lam.se / ols_se < 1.5  # the bootstrap over runs sees the same spread
    assert abs(lam.value - LAMBDA) < 4 * ols_se and lam.contains(lam.value)
    assert abs(np.log(n_c.value / N_C)) < 4 * ols_se / LAMBDA * np.log(1e7 / N_C)
    # Infogain is the information as a share of the uncaptioned image's: the tokens cancel.
    share = (runs[CaptionMetrics().uncaptioned] - runs[CaptionMetrics().captioned]) / runs[CaptionMetrics().uncaptioned]
    np.testing.assert_allclose(result.per_run.sort_values("run")["infogain"].to_numpy(),
                               share.to_numpy()[np.argsort(runs["run"].to_numpy())], rtol=1e-12)
    assert result.infogain_fit["lambda"].value > 0


def test_mutual_information_needs_both_losses_and_three_sizes():
    runs = caption_runs(np.random.default_rng(0), np.geomspace(1e4, 1e7, 7))
    with pytest.raises(FitInputError, match="image_given_caption"):
        mutual_information(runs.drop(columns=[CaptionMetrics().captioned]), IMAGE_TOKENS)
    with pytest.raises(FitInputError, match=">= 3 sizes"):
        mutual_information(runs.iloc[:2], IMAGE_TOKENS)


def math_runs(rng: np.random.Generator, n_effect: float) -> pd.DataFrame:
    """Runs of several sizes and lengths: train loss from both, extrapolation loss from train loss (and N)."""
    sizes = np.repeat(np.geomspace(1e4, 1e6, 6), 3)
    tokens = np.tile([1e7, 4e7, 1.6e8], 6)
    train = 0.5 + 50 * sizes ** -0.3 + 300 * tokens ** -0.3
    extrapolate = np.exp(0.4 + 1.5 * np.log(train) + n_effect * np.log(sizes) + rng.normal(0, 0.01, len(sizes)))
    return pd.DataFrame({"n_params": sizes, "train_loss": train, "eval/extrapolate_loss": extrapolate})


@pytest.mark.parametrize("n_effect", [0.0, -0.05])
def test_math_extrapolation_follows_training_loss_and_finds_what_n_adds(n_effect):
    result = extrapolation_vs_training(math_runs(np.random.default_rng(2), n_effect))["extrapolate"]
    b, c = result["slope_vs_train_loss"], result["slope_vs_n_params_at_equal_train_loss"]
    assert b["ci_low"] < 1.5 < b["ci_high"]
    assert c["ci_low"] < n_effect < c["ci_high"]
    assert (c["ci_low"] < 0 < c["ci_high"]) == (n_effect == 0.0)  # N's own effect is found only where it exists


def test_math_extrapolation_needs_more_runs_than_the_regression_has_terms():
    with pytest.raises(FitInputError, match="needs >= 4 runs"):
        extrapolation_vs_training(math_runs(np.random.default_rng(2), 0.0).iloc[:3])
    with pytest.raises(FitInputError, match="'train_loss'"):
        extrapolation_vs_training(math_runs(np.random.default_rng(2), 0.0).drop(columns=["train_loss"]))
