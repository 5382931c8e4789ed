"""The report's figures, each written as a PNG: per domain the learning curves with the frontier and L(C) (with
its 95% band), N_opt(C), L(N) and residuals; the exponents across domains with the shared fit; I(text; image)
and Infogain against N; math extrapolation loss against training loss."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from scalesearch.fits.laws import LawFit  # noqa: E402
from scalesearch.fits.multimodal import InformationResult  # noqa: E402
from scalesearch.fits.universality import UniversalityTest  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _band(fit: LawFit, formula, x: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """The 95% pointwise band of ``formula(samples, x)`` over the bootstrap resamples that fitted ``names``, if
    there are any (a resample may fit one of L(C) and N_opt(C) and not the other); none where too many refits
    failed, or where the law's exponent (last of ``names``) has no interval because too few resamples fitted the
    law to span it, so that the plot shows none either."""
    if fit.bootstrap is None or fit.bootstrap.too_many_failed or names[-1] in fit.bootstrap.withheld:
        return None
    samples = fit.bootstrap.samples[list(names)].dropna()
    if len(samples) < 2:
        return None
    values = formula({k: samples[k].to_numpy()[:, None] for k in samples.columns}, x[None, :])
    return tuple(np.percentile(values, [2.5, 97.5], axis=0))


def plot_domain(name: str, curves: pd.DataFrame, frontier: LawFit | None, size: LawFit | None, out: Path) -> Path:
    """Learning curves coloured by N with the frontier and L(C), N_opt(C), L(N) and residuals of one domain."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    (ax_curves, ax_nopt), (ax_size, ax_resid) = axes
    norm = LogNorm(curves["n_params"].min(), curves["n_params"].max() * 1.0001)
    for _, g in curves.sort_values("compute").groupby("run"):
        ax_curves.plot(g["compute"], g["loss"], color=plt.cm.viridis(norm(g["n_params"].iat[0])), lw=1)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax_curves, label="N (non-embedding)")
    if frontier is not None:
        est = frontier.estimator
        env, points, crossings = est.frontier_, est.frontier_.fit_points(), est.frontier_.crossings()
        grid = np.geomspace(env.compute.min(), env.compute.max() * 10, 100)
        ax_curves.plot(env.compute, env.loss, "k--", lw=1, label="frontier (envelope)")
        if est.compute_law_ is not None:
            ax_curves.plot(grid, est.predict(grid), "r", label=f"L(C), alpha_C = {est.params_['alpha_C']:.3f}")
            band = _band(frontier, lambda p, c: p["L_inf"] + (p["C0"] / c) ** p["alpha_C"], grid,
                         ("L_inf", "C0", "alpha_C"))
            if band is not None:
                ax_curves.fill_between(grid, *band, color="r", alpha=0.2, label="95% CI")
            ax_resid.scatter(points["compute"], np.log(points["loss"] / est.predict(points["compute"])), s=10,
                             label="L(C) at hull points")
        if est.n_opt_law_ is not None:
            ax_nopt.scatter(crossings["compute"], crossings["n_params"], s=12, label="crossings (geometric mean N)")
            ax_nopt.plot(grid, est.n_opt(grid), "r", label=f"N_opt ∝ C^{est.params_['beta']:.3f}")
            band = _band(frontier, lambda p, c: (c / p["C_n"]) ** p["beta"], grid, ("C_n", "beta"))
            if band is not None:
                ax_nopt.fill_between(grid, *band, color="r", alpha=0.2, label="95% CI")
            ax_resid.scatter(crossings["compute"], np.log(crossings["n_params"] / est.n_opt(crossings["compute"])),
                             s=10, marker="x", label="N_opt at crossings")
    if size is not None:
        best = size.estimator.best_losses_
        ax_size.scatter(best["n_params"], best["loss"], c=np.where(best["converged"], "C0", "0.7"), s=15)
        n_grid = np.geomspace(best["n_params"].min(), best["n_params"].max() * 10, 100)
        ax_size.plot(n_grid, size.estimator.predict(n_grid), "r",
                     label=f"L(N), alpha_N = {size.estimator.params_['alpha_N']:.3f} (grey: not converged)")
    for ax, fitted, what in ((ax_nopt, frontier is not None and frontier.estimator.n_opt_law_ is not None,
                              "N_opt(C) not fitted"),
                             (ax_size, size is not None, "L(N) not fitted"),
                             (ax_resid, frontier is not None, "no frontier fit")):
        if not fitted:  # say so, rather than leave an empty panel
            ax.text(0.5, 0.5, f"{what}:\nthe report says why", ha="center", va="center", transform=ax.transAxes,
                    color="0.4")
    titles = ["learning curves, frontier, L(C)", "N_opt(C)", "L(N) from converged runs", "log residuals"]
    for ax, title in zip(axes.flat, titles):
        ax.set_xscale("log")
        ax.set_title(f"{name}: {title}")
        if ax is not ax_resid:
            ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in (ax_curves, ax_nopt, ax_resid):
        ax.set_xlabel("compute (FLOPs)")
    ax_curves.set_ylabel("held-out loss (nats/token)")
    ax_nopt.set_ylabel("N")
    ax_size.set_xlabel("N")
    ax_resid.axhline(0, color="k", lw=0.5)
    return _save(fig, out / f"domain_{name}.png")


def plot_exponents(tests: dict[str, UniversalityTest], out: Path) -> Path:
    """Each domain's exponent with its 95% CI, and the shared exponent of the joint fit with its CI band."""
    fig, axes = plt.subplots(1, len(tests), figsize=(5 * len(tests), 4), squeeze=False)
    for ax, (exponent, test) in zip(axes.flat, tests.items()):
        names = list(test.per_domain)
        values = np.array([test.per_domain[n].value for n in names])
        # A percentile-bootstrap CI need not contain the point estimate: clip the bars rather than fail.
        low = np.clip(values - np.array([test.per_domain[n].ci_low for n in names]), 0, None)
        high = np.clip(np.array([test.per_domain[n].ci_high for n in names]) - values, 0, None)
        ax.errorbar(range(len(names)), values, yerr=[low, high], fmt="o", label="per domain, 95% CI")
        ax.axhline(test.shared.value, color="r", label="shared (joint fit)")
        ax.axhspan(test.shared.ci_low, test.shared.ci_high, color="r", alpha=0.2)
        ax.set_xticks(range(len(names)), names, rotation=30)
        verdict = "rejected" if test.rejected else "not rejected"
        ax.set_title(f"{exponent}: universality {verdict}, p = {test.p_value:.3g}", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, out / "exponents.png")


def plot_information(results: dict[str, InformationResult], out: Path) -> Path:
    """I(text; image) per image and Infogain against N, with their fits lambda log(N / N_c)."""
    fig, (ax_info, ax_gain) = plt.subplots(1, 2, figsize=(10, 4))
    for domain, result in results.items():
        n = result.per_run["n_params"].to_numpy()
        grid = np.geomspace(n.min(), n.max(), 50)
        for ax, column, fit in ((ax_info, "mutual_information_nats", result.mutual_information_fit),
                                (ax_gain, "infogain", result.infogain_fit)):
            points = ax.scatter(n, result.per_run[column], s=15, label=domain)
            slope, n_c = fit["lambda"].value, fit["N_c"].value
            ax.plot(grid, slope * np.log(grid / n_c), color=points.get_facecolor()[0],
                    label=f"{slope:.3g} log(N / {n_c:.3g})")
    ax_info.set_ylabel("I(text; image), nats per image")
    ax_gain.set_ylabel("Infogain = I / L(image | no caption)")
    for ax in (ax_info, ax_gain):
        ax.set_xscale("log")
        ax.set_xlabel("N")
        ax.legend(fontsize=7)
    return _save(fig, out / "mutual_information.png")


def plot_math(domain: str, runs: pd.DataFrame, train: str, targets: dict[str, str], out: Path) -> Path:
    """Extrapolation (and interpolation) loss against training loss, coloured by N: one curve or many?"""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    norm = LogNorm(runs["n_params"].min(), runs["n_params"].max() * 1.0001)
    for marker, (split, metric) in zip("ox", targets.items()):
        ax.scatter(runs[train], runs[metric], c=runs["n_params"], cmap="viridis", norm=norm, marker=marker,
                   label=split)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="N")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"training loss ({train})")
    ax.set_ylabel("eval loss (nats/token)")
    ax.set_title(f"{domain}: eval loss against training loss")
    ax.legend(fontsize=7)
    return _save(fig, out / f"math_{domain}.png")
