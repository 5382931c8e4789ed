"""The compute frontier of a set of learning curves, and the laws read from it: L(C), N_opt(C), L(N).

- **Smoothing.** Each curve is first smoothed in (log C, log L) by a Savitzky-Golay filter (quadratic, 7 report
  points): with independent evaluation noise, the noise otherwise decides which run attains the envelope near a
  crossing and the minimum over noisy curves is biased low. On synthetic curves with 1% noise this halves the
  bias of the N_opt exponent (0.478 -> 0.490 against a truth of 0.513); the quadratic keeps the curvature.
- **Envelope.** Each run's curve is interpolated linearly in (log C, log L) onto one log-spaced compute grid
  (only inside the compute the run covered); the frontier ``L*(C)`` is the minimum over runs at each grid point,
  and the run attaining it is on the frontier there.
- **Hull.** The lower convex hull of the envelope in log-log bridges the kinks where one curve crosses another;
  its vertices are the points where some model is compute-optimal (Henighan et al. 2020, section 2).
- **Edge sizes.** Hull points attained by the smallest or the largest size are left out of the fits: there the
  compute-optimal model was not tried (smaller or larger), so the frontier sits above the true one.
- **L(C)** is fitted to the remaining hull points. The hull is the convex minorant of the frontier, so a law
  fitted to it lies on or below the frontier points rather than through their noise from above.
- **N_opt(C)** is the size attaining each of those hull points, fitted with a pure power law.
- **L(N)** uses each run's best loss, only for runs trained to convergence: their running-best loss fell by less
  than ``max_last_decade_drop`` (default 2%) over the last decade of compute they ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from scalesearch.fits.estimator import FittedLaw
from scalesearch.fits.inputs import FitFailedError, FitInputError, validate
from scalesearch.fits.powerlaw import PowerLawWithConstant, PurePowerLaw

MIN_RUNS = 3


def falling_runs(curves: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The curves whose loss falls (last point below the first), and the ids of the runs left out."""
    ordered = curves.sort_values(["run", "compute"])
    ends = ordered.groupby("run")["loss"].agg(["first", "last", "size"])
    flat = ends.index[(ends["size"] < 2) | (ends["last"] >= ends["first"])].tolist()
    return ordered[~ordered["run"].isin(flat)], flat


def lower_convex_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            if (x[k] - x[j]) * (y[i] - y[j]) - (y[k] - y[j]) * (x[i] - x[j]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.array(hull, int)


@dataclass(frozen=True)
class Frontier:
    """The envelope on a compute grid, who attains it, and its lower convex hull."""

    compute: np.ndarray
    loss: np.ndarray
    leader: np.ndarray  # run id attaining the envelope at each grid point
    leader_n: np.ndarray  # that run's N
    hull: np.ndarray  # indices into the grid
    sizes: tuple[float, float] = field(default=(0.0, 0.0))  # smallest and largest N among the runs

    def runs_on_frontier(self) -> pd.DataFrame:
        """Each run that attains the envelope somewhere, with the compute range over which it does."""
        table = pd.DataFrame({"run": self.leader, "n_params": self.leader_n, "compute": self.compute})
        return (table.groupby(["run", "n_params"], as_index=False)
                .agg(c_from=("compute", "min"), c_to=("compute", "max"), grid_points=("compute", "size"))
                .sort_values("n_params", ignore_index=True))

    def fit_points(self) -> pd.DataFrame:
        """Hull vertices attained by interior sizes (not the smallest or largest): the points the laws fit."""
        hull = pd.DataFrame({"compute": self.compute[self.hull], "loss": self.loss[self.hull],
                             "n_params": self.leader_n[self.hull], "run": self.leader[self.hull]})
        return hull[(hull["n_params"] > self.sizes[0]) & (hull["n_params"] < self.sizes[1])]


def smoothed_log_loss(log_loss: np.ndarray, window: int) -> np.ndarray:
    """Savitzky-Golay smoothing (quadratic) of one curve's log loss; short curves get a shorter odd window."""
    window = min(window, len(log_loss) - (1 - len(log_loss) % 2))
    return savgol_filter(log_loss, window, 2) if window >= 5 else log_loss


def lower_envelope(curves: pd.DataFrame, points_per_decade: int = 20, smooth_window: int = 7) -> Frontier:
    """The frontier of ``curves`` (columns run, n_params, compute, loss) on a log-spaced compute grid."""
    validate(curves)
    logs = {run: (np.log(g["compute"].to_numpy()), smoothed_log_loss(np.log(g["loss"].to_numpy()), smooth_window),
                  g["n_params"].iat[0])
            for run, g in curves.sort_values("compute").groupby("run")}
    lo = min(lc.min() for lc, _, _ in logs.values())
    hi = max(lc.max() for lc, _, _ in logs.values())
    grid = np.linspace(lo, hi, max(2, int(np.ceil((hi - lo) / np.log(10) * points_per_decade)) + 1))
    runs = list(logs)
    stacked = np.full((len(runs), len(grid)), np.inf)
    for row, (lc, ll, _) in enumerate(logs.values()):
        inside = (grid >= lc[0] - 1e-12) & (grid <= lc[-1] + 1e-12)
        stacked[row, inside] = np.interp(grid[inside], lc, ll)
    covered = np.isfinite(stacked).any(axis=0)
    best = np.argmin(stacked[:, covered], axis=0)
    grid_log_loss = stacked[:, covered][best, np.arange(best.size)]
    sizes = np.array([n for _, _, n in logs.values()])
    return Frontier(compute=np.exp(grid[covered]), loss=np.exp(grid_log_loss),
                    leader=np.array(runs, dtype=object)[best], leader_n=sizes[best],
                    hull=lower_convex_hull(grid[covered], grid_log_loss), sizes=(sizes.min(), sizes.max()))


class FrontierFit(FittedLaw):
    """``L(C) = L_inf + (C0/C)^alpha_C`` and ``N_opt(C) = (C/C_n)^beta`` from learning curves (C in FLOPs)."""

    param_names = ("L_inf", "C0", "alpha_C", "C_n", "beta")

    def __init__(self, points_per_decade: int = 20, smooth_window: int = 7, huber_delta: float | None = 1e-3):
        self.points_per_decade = points_per_decade
        self.smooth_window = smooth_window
        self.huber_delta = huber_delta

    def fit(self, curves: pd.DataFrame, init: dict[str, float] | None = None) -> FrontierFit:
        kept, self.excluded_runs_ = falling_runs(curves)
        if kept["run"].nunique() < MIN_RUNS:
            raise FitInputError(f"the frontier needs learning curves (>= 2 points, loss falling) from >= {MIN_RUNS} "
                                f"runs; runs {self.excluded_runs_} do not fall and {kept['run'].nunique()} "
                                "remain: add runs or check those for divergence")
        self.frontier_ = lower_envelope(kept, self.points_per_decade, self.smooth_window)
        points = self.frontier_.fit_points()
        if points["n_params"].nunique() < 2 or len(points) < 4:
            raise FitFailedError(f"only {points['n_params'].nunique()} interior size(s) on the frontier's hull "
                                 f"({len(points)} points): widen the range of sizes so that the compute-optimal "
                                 "size is bracketed by smaller and larger runs")
        compute_init = None if init is None else {"L_inf": init["L_inf"], "x0": init["C0"], "alpha": init["alpha_C"]}
        self.compute_law_ = PowerLawWithConstant(self.huber_delta).fit(points["compute"], points["loss"],
                                                                        init=compute_init)
        self.n_opt_law_ = PurePowerLaw().fit(points["compute"], points["n_params"])
        c, n = self.compute_law_.params_, self.n_opt_law_.params_
        self.params_ = {"L_inf": c["L_inf"], "C0": c["x0"], "alpha_C": c["alpha"], "C_n": n["x_n"],
                        "beta": n["beta"]}
        self.diagnostics_ = self.compute_law_.diagnostics_
        return self

    @property
    def ok_(self) -> bool:
        return self.compute_law_.ok_ and self.n_opt_law_.ok_

    def predict(self, compute: np.ndarray) -> np.ndarray:
        return self.compute_law_.predict(compute)

    def n_opt(self, compute: np.ndarray) -> np.ndarray:
        return self.n_opt_law_.predict(compute)


def best_losses(curves: pd.DataFrame, max_last_decade_drop: float = 0.02) -> pd.DataFrame:
    """Each run's best loss and whether it counts as converged (see the module docstring for the rule).

    A table with one row per run is a table of final losses: every run counts as converged.
    """
    rows = []
    single_points = curves.groupby("run").size().max() == 1
    for run, g in curves.sort_values("compute").groupby("run"):
        log_c, best = np.log(g["compute"].to_numpy()), np.minimum.accumulate(g["loss"].to_numpy())
        spans_decade = log_c[-1] - log_c[0] >= np.log(10)
        drop = (np.interp(log_c[-1] - np.log(10), log_c, best) / best[-1] - 1) if spans_decade else np.nan
        rows.append({"run": run, "n_params": g["n_params"].iat[0], "loss": best[-1], "last_decade_drop": drop,
                     "converged": single_points or bool(spans_decade and drop < max_last_decade_drop)})
    return pd.DataFrame(rows)


class SizeFit(FittedLaw):
    """``L(N) = L_inf + (N0/N)^alpha_N`` on the best losses of converged runs."""

    param_names = ("L_inf", "N0", "alpha_N")

    def __init__(self, max_last_decade_drop: float = 0.02, huber_delta: float | None = 1e-3):
        self.max_last_decade_drop = max_last_decade_drop
        self.huber_delta = huber_delta

    def fit(self, curves: pd.DataFrame, init: dict[str, float] | None = None) -> SizeFit:
        validate(curves)
        self.best_losses_ = best_losses(curves, self.max_last_decade_drop)
        used = self.best_losses_[self.best_losses_["converged"]]
        if used["n_params"].nunique() < 4:
            raise FitInputError(
                f"L(N) needs converged runs of >= 4 sizes, got {used['n_params'].nunique()} "
                f"({len(self.best_losses_)} runs; converged = running-best loss fell < "
                f"{self.max_last_decade_drop:.0%} over the last decade of compute): train the small runs longer")
        size_init = None if init is None else {"L_inf": init["L_inf"], "x0": init["N0"], "alpha": init["alpha_N"]}
        self.size_law_ = PowerLawWithConstant(self.huber_delta).fit(used["n_params"], used["loss"], init=size_init)
        p = self.size_law_.params_
        self.params_ = {"L_inf": p["L_inf"], "N0": p["x0"], "alpha_N": p["alpha"]}
        self.diagnostics_ = self.size_law_.diagnostics_
        return self

    def predict(self, n_params: np.ndarray) -> np.ndarray:
        return self.size_law_.predict(n_params)
