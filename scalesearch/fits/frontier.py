"""The compute frontier of a set of learning curves, and the laws read from it: L(C), N_opt(C), L(N).

- **Smoothing.** Each curve is first smoothed in (log C, log L) by a Savitzky-Golay filter (quadratic, 7 report
  points): with independent evaluation noise, the noise otherwise decides which run attains the envelope near a
  crossing and the minimum over noisy curves is biased low. On synthetic curves with 1% noise this halves the
  bias of the N_opt exponent (0.478 -> 0.490 against a truth of 0.513); the quadratic keeps the curvature.
- **Warm-up.** Where the table says how many tokens each run's learning-rate warm-up lasted (``warmup_tokens``,
  as read from MLflow), the reports before its end are left out: there every size trains at a fraction of its
  peak rate, so which one leads says how it takes the warm-up, not how it uses compute (the committed demo's
  image: 3072 led 768 at 7e8 FLOPs, inside the 4e9 of its warm-up, and the lead then passed back down to 768).
- **Envelope.** Each run's curve is interpolated linearly in (log C, log L) onto one log-spaced compute grid
  (only inside the compute the run covered); the frontier ``L*(C)`` is the minimum over runs at each grid point,
  and the run attaining it is on the frontier there. The grid runs from where a second run starts to where the
  second-to-last one ends, and a run covers a grid point within 1% of its reports (``STEP_TOLERANCE``): a point
  that one run alone reaches compares nothing, and the ends of the grid are vertices of the hull. Runs trained to
  one budget report a fraction of a step apart, so without both the last grid point belonged to whichever run
  overshot its budget most (and entered L(C) when that was an interior size: the committed demo's text, 6912 at
  3.00e11), and the first to whichever size's warm-up ended first, or whose report came 0.04% earlier (its
  math: 1200 at 1.19e9, then 432 at 1.57e9, before the other sizes' first reports after the warm-up).
- **Hull.** The lower convex hull of the envelope in log-log bridges the kinks where one curve crosses another;
  its vertices are the points where some model is compute-optimal (Henighan et al. 2020, section 2).
- **Edge sizes.** Hull points attained by the smallest or the largest size are left out of the fits: there the
  compute-optimal model was not tried (smaller or larger), so the frontier sits above the true one.
- **L(C)** is fitted to the remaining hull points. The hull is the convex minorant of the frontier, so a law
  fitted to it lies on or below the frontier points rather than through their noise from above.
- **N_opt(C)** is read from the **crossings**: where the lead on the envelope passes from one run to another and
  both curves run on either side, the two sizes tie; for a loss unimodal in log N the compute-optimal size lies
  between them, and (the minimum being close to symmetric in log N) at their geometric mean. A pure power law is
  fitted to these points, one per pair of runs (noise can make a pair cross several times: their crossings are
  averaged in log C), regressing log C on log N (the N are exact, the crossings' compute is noisy:
  PurePowerLaw's ``noise_in``). Why not the sizes attaining the hull points (Henighan's reading): those form a staircase
  whose ends depend on where the hull's vertices fall, which biased the exponent low by 0.005 on noise-free
  curves from a known law with sizes a factor 2 apart (0.5077 against 0.5126); the crossings give 0.5127. They
  also need no exclusion of the edge sizes: the tie of the two smallest sizes brackets the optimum just as well.
- **L(N)** uses each run's best loss, only for runs trained to convergence: their running-best loss fell by less
  than ``max_last_decade_drop`` (default 2%) over the last decade of compute they ran.

Smoothing and interpolation are linear in a run's log losses, so :class:`Envelope` turns them into one matrix per
run, made once: the bootstrap (``curve_bootstrap``) then recomputes the frontier of a resample with a few
matrix-vector products instead of a pass through pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from scalesearch.fits.estimator import FittedLaw
from scalesearch.fits.inputs import FitFailedError, FitInputError, validate
from scalesearch.fits.powerlaw import PowerLawWithConstant, PurePowerLaw

MIN_RUNS = 3
# Runs trained to one budget report at the same compute up to their whole steps, which differ by a fraction of a
# percent between sizes: a run covers a grid point that far outside its reports, at its end value.
STEP_TOLERANCE = np.log(1.01)


def after_warmup(curves: pd.DataFrame) -> pd.DataFrame:
    """The reports made after each run's warm-up (all of them without a ``warmup_tokens`` column): one made at
    its last step is the warm-up's product still."""
    if "warmup_tokens" not in curves.columns:
        return curves
    if "tokens" not in curves.columns:
        raise FitInputError("the table says where each run's warm-up ended (warmup_tokens) but not the tokens of "
                            "each report: add a tokens column, or drop warmup_tokens to read every report")
    return curves[curves["tokens"] > curves["warmup_tokens"]]


def falling_runs(curves: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The curves whose loss falls (last point below the first), and the ids of the runs left out."""
    ordered = curves.sort_values(["run", "compute"])
    ends = ordered.groupby("run")["loss"].agg(["first", "last", "size"])
    flat = ends.index[(ends["size"] < 2) | (ends["last"] >= ends["first"])].tolist()
    return ordered[~ordered["run"].isin(flat)], flat


def lower_convex_hull(x: np.ndarray, y: np.ndarray, tolerance: float = 1e-10) -> np.ndarray:
    """Indices of the vertices of the lower convex hull of points sorted by x (Andrew's monotone chain).

    Points on a straight edge are dropped up to ``tolerance``: the envelope is piecewise linear between report
    points, so without it rounding alone would decide which of a segment's grid points count as vertices.
    """
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            if (x[k] - x[j]) * (y[i] - y[j]) - (y[k] - y[j]) * (x[i] - x[j]) <= tolerance:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.array(hull, int)


@lru_cache(maxsize=256)
def smoothing_matrix(length: int, window: int) -> np.ndarray:
    """The Savitzky-Golay filter (quadratic) of a curve of ``length`` points as a matrix; short curves get a
    shorter odd window, curves under 5 points are left as they are."""
    window = min(window, length - (1 - length % 2))
    if window < 5:
        return np.eye(length)
    matrix = savgol_filter(np.eye(length), window, 2, axis=0)
    matrix.setflags(write=False)
    return matrix


@dataclass(frozen=True)
class CurveSet:
    """Learning curves as arrays, one entry per run, each sorted by compute."""

    runs: np.ndarray  # run ids
    n_params: np.ndarray
    log_compute: tuple[np.ndarray, ...]
    log_loss: tuple[np.ndarray, ...]
    # Tokens as the table gives them, else C / 6N: with budget.count full, C / 6N is not the tokens trained on.
    log_tokens: tuple[np.ndarray, ...]

    @classmethod
    def from_table(cls, curves: pd.DataFrame) -> CurveSet:
        groups = list(curves.sort_values(["run", "compute"]).groupby("run", sort=True))
        tokens = [g["tokens"] if "tokens" in g else g["compute"] / (6.0 * g["n_params"]) for _, g in groups]
        return cls(runs=np.array([run for run, _ in groups], dtype=object),
                   n_params=np.array([g["n_params"].iat[0] for _, g in groups], float),
                   log_compute=tuple(np.log(g["compute"].to_numpy(float)) for _, g in groups),
                   log_loss=tuple(np.log(g["loss"].to_numpy(float)) for _, g in groups),
                   log_tokens=tuple(np.log(t.to_numpy(float)) for t in tokens))


@dataclass(frozen=True)
class Frontier:
    """The envelope on a compute grid, who attains it, and its lower convex hull."""

    compute: np.ndarray
    loss: np.ndarray
    leader: np.ndarray  # run id attaining the envelope at each grid point
    leader_n: np.ndarray  # that run's N
    hull: np.ndarray  # indices into the grid
    sizes: tuple[float, float] = field(default=(0.0, 0.0))  # smallest and largest N among the runs
    crossing_compute: np.ndarray = field(default_factory=lambda: np.empty(0))  # one per pair of runs that tie
    crossing_n: np.ndarray = field(default_factory=lambda: np.empty(0))  # geometric mean of the pair's sizes
    crossing_runs: np.ndarray = field(default_factory=lambda: np.empty((0, 2), object))  # the pair's run ids
    runs_covering: np.ndarray = field(default_factory=lambda: np.empty(0, int))  # how many runs reach each point

    def leader_where_shared(self) -> tuple[float, float]:
        """The N leading at the first and at the last grid point that two or more runs reach (NaN if none): where
        one run alone covers the compute, leading says nothing."""
        shared = np.flatnonzero(self.runs_covering >= 2)
        if len(shared) == 0:
            return float("nan"), float("nan")
        return float(self.leader_n[shared[0]]), float(self.leader_n[shared[-1]])

    def runs_on_frontier(self) -> pd.DataFrame:
        """Each run that attains the envelope somewhere, with the compute range over which it does."""
        table = pd.DataFrame({"run": self.leader, "n_params": self.leader_n, "compute": self.compute})
        return (table.groupby(["run", "n_params"], as_index=False)
                .agg(c_from=("compute", "min"), c_to=("compute", "max"), grid_points=("compute", "size"))
                .sort_values("n_params", ignore_index=True))

    def crossings(self) -> pd.DataFrame:
        """The points N_opt(C) is fitted to: where two runs tie on the frontier (see the module docstring)."""
        return pd.DataFrame({"run_a": self.crossing_runs[:, 0], "run_b": self.crossing_runs[:, 1],
                             "compute": self.crossing_compute, "n_params": self.crossing_n})

    def fit_indices(self) -> np.ndarray:
        """Grid indices of the hull vertices attained by interior sizes: the points the laws fit."""
        n = self.leader_n[self.hull]
        return self.hull[(n > self.sizes[0]) & (n < self.sizes[1])]

    def fit_points(self) -> pd.DataFrame:
        """The hull vertices attained by interior sizes (not the smallest or largest), as a table."""
        i = self.fit_indices()
        return pd.DataFrame({"compute": self.compute[i], "loss": self.loss[i], "n_params": self.leader_n[i],
                             "run": self.leader[i]})


class Envelope:
    """The fixed part of the frontier of one set of runs: the log-spaced compute grid and, per run, the matrix
    that takes its log losses to smoothed log losses on the grid points inside the compute it covered."""

    def __init__(self, curves: CurveSet, points_per_decade: int = 20, smooth_window: int = 7):
        self.curves, self.smooth_window = curves, smooth_window
        starts, ends = sorted(lc[0] for lc in curves.log_compute), sorted(lc[-1] for lc in curves.log_compute)
        second = min(1, len(starts) - 1)  # one run alone: its own range
        lo, hi = starts[second], ends[-1 - second]
        if hi <= lo:
            raise FitInputError("no compute range is covered by two runs: the frontier compares runs where they "
                                "overlap; train the runs over a common range of compute")
        grid = np.linspace(lo, hi, max(2, int(np.ceil((hi - lo) / np.log(10) * points_per_decade)) + 1))
        inside = [(grid >= lc[0] - STEP_TOLERANCE) & (grid <= lc[-1] + STEP_TOLERANCE) for lc in curves.log_compute]
        self.covered = np.any(inside, axis=0)
        self.log_grid = grid[self.covered]
        self.columns = [np.flatnonzero(mask[self.covered]) for mask in inside]
        self.maps = []
        for lc, columns in zip(curves.log_compute, self.columns):
            identity = np.eye(len(lc))
            interpolate = np.stack([np.interp(self.log_grid[columns], lc, e) for e in identity], axis=1)
            self.maps.append(interpolate @ smoothing_matrix(len(lc), smooth_window))

    def smooth(self, log_loss: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each run's smoothed log losses at its own report points (the same filter ``frontier`` applies)."""
        return [smoothing_matrix(len(y), self.smooth_window) @ y for y in log_loss]

    def frontier(self, log_loss: Sequence[np.ndarray] | None = None) -> Frontier:
        """The frontier of the runs with ``log_loss`` (default: their own) at their report points."""
        log_loss = self.curves.log_loss if log_loss is None else log_loss
        stacked = np.full((len(self.maps), len(self.log_grid)), np.inf)
        for row, (matrix, columns, y) in enumerate(zip(self.maps, self.columns, log_loss)):
            stacked[row, columns] = matrix @ y
        best = np.argmin(stacked, axis=0)
        grid_log_loss = stacked[best, np.arange(best.size)]
        n = self.curves.n_params
        return Frontier(compute=np.exp(self.log_grid), loss=np.exp(grid_log_loss), leader=self.curves.runs[best],
                        leader_n=n[best], hull=lower_convex_hull(self.log_grid, grid_log_loss),
                        sizes=(n.min(), n.max()), runs_covering=np.isfinite(stacked).sum(axis=0),
                        **self.crossings(stacked, best))

    def crossings(self, stacked: np.ndarray, best: np.ndarray) -> dict[str, np.ndarray]:
        """Where the lead passes between two runs of different sizes that both cover the grid points on either
        side: the compute of the tie (linear in log C between the two grid points), one per pair of runs
        (Frontier's fields). A tie of two runs of one size (a search's second learning rate at a size) says that
        size leads on both sides, not that N_opt lies between two sizes; as a point at that size it would sit at
        whatever compute the two learning rates happen to cross (the committed demo's image had one)."""
        change = np.flatnonzero(best[1:] != best[:-1])
        a, b = best[change], best[change + 1]
        both = np.isfinite(stacked[a, change + 1]) & np.isfinite(stacked[b, change])
        n = self.curves.n_params
        distinct = both & (n[a] != n[b])  # two runs of one size (two learning rates) tie: that size leads either way
        change, a, b = change[distinct], a[distinct], b[distinct]
        before = stacked[a, change] - stacked[b, change]  # <= 0: a leads
        after = stacked[a, change + 1] - stacked[b, change + 1]  # > 0: b leads
        share = before / (before - after)
        log_c = self.log_grid[change] + share * (self.log_grid[change + 1] - self.log_grid[change])
        pairs, which = np.unique(np.minimum(a, b) * len(stacked) + np.maximum(a, b), return_inverse=True)
        log_c = np.bincount(which, log_c) / np.bincount(which)
        order = np.argsort(log_c)
        a, b = np.divmod(pairs[order], len(stacked))
        return {"crossing_compute": np.exp(log_c[order]), "crossing_n": np.sqrt(n[a] * n[b]),
                "crossing_runs": np.column_stack([self.curves.runs[a], self.curves.runs[b]])}


def lower_envelope(curves: pd.DataFrame, points_per_decade: int = 20, smooth_window: int = 7) -> Frontier:
    """The frontier of ``curves`` (columns run, n_params, compute, loss) on a log-spaced compute grid."""
    validate(curves)
    return Envelope(CurveSet.from_table(curves), points_per_decade, smooth_window).frontier()


def compute_law_on_frontier(frontier: Frontier, huber_delta: float | None = 1e-3,
                            init: dict[str, float] | None = None) -> PowerLawWithConstant:
    """L(C) on the frontier's interior hull points; ``init`` (a frontier fit's parameters) warm-starts it."""
    i = frontier.fit_indices()
    sizes_on_hull = len(np.unique(frontier.leader_n[i]))
    if sizes_on_hull < 2 or len(i) < 4:
        interior = (frontier.leader_n > frontier.sizes[0]) & (frontier.leader_n < frontier.sizes[1])
        leading = len(np.unique(frontier.leader_n[interior]))  # interior sizes that lead somewhere on the envelope
        remedy = ("interior sizes lead on the envelope "
                  f"({leading} sizes, {int(interior.sum())} grid points) but "
                  "lie above its lower convex hull: the envelope is not convex in log-log there (noise on a flat "
                  "frontier, or a loss that falls faster at larger compute, before L(C)'s power law sets in), and "
                  "L_inf + (C0/C)^alpha_C only curves the other way"
                  if leading >= 2 else
                  "widen the range of sizes so that the compute-optimal size is bracketed by smaller and larger runs")
        raise FitFailedError(f"only {sizes_on_hull} interior size(s) on the frontier's hull ({len(i)} points): "
                             + remedy)
    compute_init = None if init is None else {"L_inf": init["L_inf"], "x0": init["C0"], "alpha": init["alpha_C"]}
    return PowerLawWithConstant(huber_delta).fit(frontier.compute[i], frontier.loss[i], init=compute_init)


def n_opt_law_on_frontier(frontier: Frontier, need_n_opt: bool = True) -> PurePowerLaw | None:
    """N_opt(C) on the frontier's crossings; where they are too few, an error, or None without ``need_n_opt``."""
    crossings, sizes = len(frontier.crossing_n), len(np.unique(frontier.crossing_n))
    if sizes >= 3:
        return PurePowerLaw(noise_in="x").fit(frontier.crossing_compute, frontier.crossing_n)
    if not need_n_opt:
        return None
    raise FitFailedError(f"only {crossings} crossing(s) of learning curves on the frontier"
                         + (f", between {sizes} pairs of sizes" if crossings >= 3 else "")
                         + ": N_opt(C) needs >= 3; train the runs long enough for each size to overtake the next "
                         "smaller one")


def laws_on_frontier(frontier: Frontier, huber_delta: float | None = 1e-3, init: dict[str, float] | None = None,
                     need_n_opt: bool = True) -> tuple[PowerLawWithConstant, PurePowerLaw | None]:
    """L(C) on the frontier's interior hull points and N_opt(C) on its crossings; ``init`` warm-starts L(C).

    Without ``need_n_opt`` (the L(C) law alone) too few crossings give None for N_opt instead of an error.
    """
    compute_law = compute_law_on_frontier(frontier, huber_delta, init)
    return compute_law, n_opt_law_on_frontier(frontier, need_n_opt)


def params_of(compute_law: PowerLawWithConstant | None, n_opt_law: PurePowerLaw | None) -> dict[str, float]:
    c = compute_law.params_ if compute_law is not None else {"L_inf": np.nan, "x0": np.nan, "alpha": np.nan}
    n = n_opt_law.params_ if n_opt_law is not None else {"x_n": np.nan, "beta": np.nan}
    return {"L_inf": c["L_inf"], "C0": c["x0"], "alpha_C": c["alpha"], "C_n": n["x_n"], "beta": n["beta"]}


class FrontierFit(FittedLaw):
    """``L(C) = L_inf + (C0/C)^alpha_C`` and ``N_opt(C) = (C/C_n)^beta`` from learning curves (C in FLOPs).

    ``need_n_opt=False`` fits L(C) alone: then ``C_n`` and ``beta`` are NaN where the curves cross too rarely.
    ``need_compute=False`` fits N_opt(C) alone, for a frontier whose hull gives L(C) too few points of interior
    sizes while its curves cross often enough (the report's last resort): ``L_inf``, ``C0``, ``alpha_C`` are NaN.
    """

    param_names = ("L_inf", "C0", "alpha_C", "C_n", "beta")

    def __init__(self, points_per_decade: int = 20, smooth_window: int = 7, huber_delta: float | None = 1e-3,
                 need_n_opt: bool = True, need_compute: bool = True):
        self.points_per_decade = points_per_decade
        self.smooth_window = smooth_window
        self.huber_delta = huber_delta
        self.need_n_opt = need_n_opt
        self.need_compute = need_compute

    def fit(self, curves: pd.DataFrame, init: dict[str, float] | None = None) -> FrontierFit:
        validate(curves)
        kept, self.excluded_runs_ = falling_runs(after_warmup(curves))
        if kept["run"].nunique() < MIN_RUNS:
            raise FitInputError(f"the frontier needs learning curves (>= 2 points after the warm-up, loss falling) "
                                f"from >= {MIN_RUNS} runs; runs {self.excluded_runs_} do not fall and "
                                f"{kept['run'].nunique()} remain: add runs or check those for divergence")
        self.curves_ = CurveSet.from_table(kept)
        self.envelope_ = Envelope(self.curves_, self.points_per_decade, self.smooth_window)
        self.frontier_ = self.envelope_.frontier()
        if self.need_compute:
            self.compute_law_, self.n_opt_law_ = laws_on_frontier(self.frontier_, self.huber_delta, init,
                                                                  self.need_n_opt)
        else:
            self.compute_law_, self.n_opt_law_ = None, n_opt_law_on_frontier(self.frontier_)
        self.params_ = params_of(self.compute_law_, self.n_opt_law_)
        self.diagnostics_ = (self.compute_law_ or self.n_opt_law_).diagnostics_
        return self

    def refit(self, log_loss: Sequence[np.ndarray]) -> tuple[Frontier, dict[str, float]]:
        """The frontier and parameters of the same runs and report points with other log losses, warm-started
        from this fit: what the bootstrap calls. The two laws are read from different parts of the frontier (L(C)
        from the hull, N_opt(C) from the crossings), so each may fail alone: where L(C) fails or does not converge
        (a resample whose hull lost an interior size), its parameters are NaN and N_opt(C)'s stand; where the
        curves cross too rarely for N_opt(C), or their crossings' compute does not grow with size, C_n and beta
        are NaN and L(C)'s stand. The bootstrap counts a NaN against that law's intervals alone. Raises where
        both fail, or L(C) fails in a fit of L(C) alone (L(C)'s error).

        Why the crossings' slope: beta is the inverse of the slope of log C on log N. A resample whose slope is
        0 or below (beta infinite or negative) lies beyond the upper end of beta's interval, not among its values;
        taken at face value, a few such resamples once gave beta 0.48 the "interval" [-11.5, 11.9]."""
        frontier = self.envelope_.frontier(log_loss)
        n_opt_law = n_opt_law_on_frontier(frontier, need_n_opt=False)
        if n_opt_law is not None and not n_opt_law.params_["beta"] > 0:
            n_opt_law = None
        if self.compute_law_ is None:  # N_opt(C) alone
            if n_opt_law is None:
                raise FitFailedError("the resample's curves cross too rarely (or out of size order) for N_opt(C)")
            return frontier, params_of(None, n_opt_law)
        try:
            compute_law = compute_law_on_frontier(frontier, self.huber_delta, self.params_)
            if not compute_law.converged_:
                raise FitFailedError(f"L(C) did not converge: {compute_law.diagnostics_.message}")
        except (FitInputError, FitFailedError):
            if n_opt_law is None or self.n_opt_law_ is None:  # nothing this fit reads is left
                raise
            compute_law = None
        return frontier, params_of(compute_law, n_opt_law)

    @property
    def ok_(self) -> bool:
        return all(law.ok_ for law in (self.compute_law_, self.n_opt_law_) if law is not None)

    def predict(self, compute: np.ndarray) -> np.ndarray:
        if self.compute_law_ is None:
            raise FitFailedError("L(C) was not fitted: too few points of interior sizes on the frontier's hull")
        return self.compute_law_.predict(compute)

    def n_opt(self, compute: np.ndarray) -> np.ndarray:
        if self.n_opt_law_ is None:
            raise FitFailedError("N_opt(C) was not fitted: too few crossings of learning curves on the frontier")
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
