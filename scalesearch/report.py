"""The search report: fits per domain with CIs, the universality test, plots; HTML, Markdown, PNG and JSON.

``build_report`` works on an in-memory table (the search calls it); ``report_from_mlflow`` reads a search back and
logs the files on its parent run under ``report/``. The HTML embeds its PNGs as base64 so it is one file.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from scalesearch.fits.bootstrap import Estimate
from scalesearch.fits.extrapolation import extrapolation_check
from scalesearch.fits.inputs import FitFailedError, FitInputError, split_domains
from scalesearch.fits.laws import LawFit, fit_law
from scalesearch.fits.mlflow_source import read_search
from scalesearch.fits.universality import universality_test

PF_DAY = 8.64e19
FAILURES = (FitInputError, FitFailedError)


@dataclass
class DomainReport:
    curves: pd.DataFrame
    frontier: LawFit | str  # the fit, or why it failed
    size: LawFit | str
    extrapolation: dict | str


def _attempt(make, *args):
    try:
        return make(*args)
    except FAILURES as error:
        return f"{type(error).__name__}: {error}"


def _ci(e: Estimate, scale: float = 1.0) -> str:
    if not np.isfinite(e.se):
        return f"{e.value / scale:.3g}"
    return f"{e.value / scale:.3g} [{e.ci_low / scale:.3g}, {e.ci_high / scale:.3g}]"


def table1(domains: dict[str, DomainReport]) -> pd.DataFrame:
    """Henighan's Table 1 layout (C in PF-days), each entry with its 95% bootstrap CI in brackets."""
    rows = []
    for name, d in domains.items():
        row = {"domain": name}
        if isinstance(d.size, LawFit):
            e = d.size.estimates()
            row.update({"L(N): L_inf": _ci(e["L_inf"]), "N0": _ci(e["N0"]), "alpha_N": _ci(e["alpha_N"])})
        if isinstance(d.frontier, LawFit):
            e = d.frontier.estimates()
            row.update({"L(C): L_inf": _ci(e["L_inf"]), "C0 (PF-days)": _ci(e["C0"], PF_DAY),
                        "alpha_C": _ci(e["alpha_C"]), "C_n (PF-days)": _ci(e["C_n"], PF_DAY), "beta": _ci(e["beta"])})
        rows.append(row)
    return pd.DataFrame(rows).fillna("-")


def _band(fit: LawFit, compute: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if fit.bootstrap is None:
        return None
    s = fit.bootstrap.samples.dropna()
    curves = s["L_inf"].to_numpy()[:, None] + (s["C0"].to_numpy()[:, None] / compute) ** s["alpha_C"].to_numpy()[:, None]
    return tuple(np.percentile(curves, [2.5, 97.5], axis=0)) if len(s) > 1 else None


def plot_domain(name: str, d: DomainReport, out: Path) -> list[Path]:
    """Learning curves with the frontier and L(C) (CI band), N_opt(C), L(N) and residuals for one domain."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    (ax_curves, ax_nopt), (ax_size, ax_resid) = axes
    norm = LogNorm(d.curves["n_params"].min(), d.curves["n_params"].max() * 1.0001)
    for _, g in d.curves.sort_values("compute").groupby("run"):
        ax_curves.plot(g["compute"], g["loss"], color=plt.cm.viridis(norm(g["n_params"].iat[0])), lw=1)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax_curves, label="N (non-embedding)")
    if isinstance(d.frontier, LawFit):
        est, frontier = d.frontier.estimator, d.frontier.estimator.frontier_
        points = frontier.fit_points()
        ax_curves.plot(frontier.compute, frontier.loss, "k--", lw=1, label="frontier (envelope)")
        grid = np.geomspace(frontier.compute.min(), frontier.compute.max() * 10, 100)
        ax_curves.plot(grid, est.predict(grid), "r", label="L(C) fit")
        band = _band(d.frontier, grid)
        if band is not None:
            ax_curves.fill_between(grid, *band, color="r", alpha=0.2, label="95% CI")
        ax_nopt.scatter(points["compute"], points["n_params"], s=10, label="hull points")
        ax_nopt.plot(grid, est.n_opt(grid), "r", label=f"N_opt ∝ C^{est.params_['beta']:.3f}")
        ax_resid.scatter(points["compute"], np.log(points["loss"] / est.predict(points["compute"])), s=10,
                         label="L(C) on hull points")
    if isinstance(d.size, LawFit):
        best = d.size.estimator.best_losses_
        ax_size.scatter(best["n_params"], best["loss"], c=np.where(best["converged"], "C0", "0.7"), s=15)
        n_grid = np.geomspace(best["n_params"].min(), best["n_params"].max() * 10, 100)
        ax_size.plot(n_grid, d.size.estimator.predict(n_grid), "r",
                     label=f"L(N), alpha_N={d.size.estimator.params_['alpha_N']:.3f} (grey: not converged)")
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
    ax_size.set_xlabel("N")
    ax_resid.axhline(0, color="k", lw=0.5)
    fig.tight_layout()
    path = out / f"domain_{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


def plot_exponents(tests: dict[str, object], out: Path) -> list[Path]:
    """Each domain's exponent with its CI, and the shared value with its CI band."""
    if not tests:
        return []
    fig, axes = plt.subplots(1, len(tests), figsize=(5 * len(tests), 4), squeeze=False)
    for ax, (exponent, test) in zip(axes.flat, tests.items()):
        names = list(test.per_domain)
        values = np.array([test.per_domain[n].value for n in names])
        low = values - np.array([test.per_domain[n].ci_low for n in names])
        high = np.array([test.per_domain[n].ci_high for n in names]) - values
        ax.errorbar(range(len(names)), values, yerr=[low, high], fmt="o")
        ax.axhline(test.shared.value, color="r")
        ax.axhspan(test.shared.ci_low, test.shared.ci_high, color="r", alpha=0.2)
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_title(f"{exponent}: shared {test.shared.value:.3f}, p = {test.p_value:.3g}")
    fig.tight_layout()
    path = out / "exponents.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


def _json_of(d: DomainReport) -> dict:
    as_dict = {"frontier": d.frontier, "size": d.size}
    out = {k: v.to_dict() if isinstance(v, LawFit) else {"error": v} for k, v in as_dict.items()}
    if isinstance(d.frontier, LawFit):
        out["runs_on_frontier"] = d.frontier.estimator.frontier_.runs_on_frontier().to_dict("records")
        out["excluded_runs"] = list(d.frontier.estimator.excluded_runs_)
    out["extrapolation"] = d.extrapolation if isinstance(d.extrapolation, dict) else {"error": d.extrapolation}
    return out


def build_report(curves: pd.DataFrame, out_dir: str | Path, name: str, n_bootstrap: int = 200,
                 seed: int = 0) -> Path:
    """Fit every domain of ``curves``, test universality, and write report.html/.md/.json and PNGs to out_dir/name."""
    out = Path(out_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    domains = {
        d: DomainReport(part, _attempt(fit_law, part, "frontier", n_bootstrap, seed, d),
                        _attempt(fit_law, part, "size", n_bootstrap, seed, d),
                        _attempt(extrapolation_check, part, "frontier"))
        for d, part in split_domains(curves).items()}
    fronts = {d: r.frontier for d, r in domains.items() if isinstance(r.frontier, LawFit)}
    tests = {}
    if len(fronts) >= 2 and n_bootstrap > 1:
        tests = {e: universality_test(fronts, e) for e in ("beta", "alpha_C")}
    pngs = [p for d, r in domains.items() for p in plot_domain(d, r, out)] + plot_exponents(tests, out)
    summary = {"name": name, "bootstrap": {"resamples": n_bootstrap, "unit": "runs", "seed": seed},
               "rules": {"L(N) runs": "running-best held-out loss fell < 2% over the run's last decade of compute",
                         "L(C)": "fitted to the frontier's lower-convex-hull points from interior sizes",
                         "N_opt": "sizes attaining those hull points, pure power law in log-log"},
               "domains": {d: _json_of(r) for d, r in domains.items()},
               "universality": {e: t.to_dict() for e, t in tests.items()}}
    (out / "fits.json").write_text(json.dumps(summary, indent=2, default=float))
    table = table1(domains)
    lines = [f"# Scaling report: {name}", "", "## Per-domain fits (Henighan Table 1 layout, 95% CIs)", "",
             table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False), ""]
    for e, t in tests.items():
        verdict = "rejected" if t.rejected else "not rejected"
        lines += [(f"Universality of {e}: shared {_ci(t.shared)}, Q = {t.q_statistic:.2f} on "
                   f"{t.degrees_of_freedom} dof, p = {t.p_value:.3g} ({verdict} at 5%)"), ""]
    for d, r in domains.items():
        for label, part in (("frontier", r.frontier), ("size", r.size), ("extrapolation", r.extrapolation)):
            if isinstance(part, str):
                lines.append(f"- {d} {label}: {part}")
    lines += [""] + [f"![{p.stem}]({p.name})" for p in pngs]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    images = "".join(f'<h3>{html.escape(p.stem)}</h3><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
                     f'{base64.b64encode(p.read_bytes()).decode()}"/>' for p in pngs)
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line and not line.startswith(("#", "![", "|")))
    (out / "report.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title></head><body>"
        f"<h1>Scaling report: {html.escape(name)}</h1>{table.to_html(index=False)}{notes}{images}</body></html>")
    return out


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def report_from_mlflow(experiment: str, tracking_uri: str | None = None, out_dir: str | Path = "reports",
                       n_bootstrap: int = 200, seed: int = 0) -> Path:
    """Read the search ``experiment``, build its report, and log the files on the parent run under report/."""
    search = read_search(experiment, tracking_uri)
    out = build_report(search.curves, out_dir, experiment, n_bootstrap, seed)
    search.client.log_artifacts(search.parent_run_id, str(out), artifact_path="report")
    return out
