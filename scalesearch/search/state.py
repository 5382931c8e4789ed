"""What a search knows while it runs: every trial's learning curve so far, the range of N, stops and fits.

One ``SearchState`` is shared by the scheduler (which stops trials), the searcher (which scores finished trials
for Optuna), and the recorder callback (which logs to MLflow, refits, and saves the state with Tune's
experiment checkpoints). All comparisons are at equal compute, interpolated in log-log space along each curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Config keys of a trial that continues an earlier one (a compute ladder's next level, search/ladder.py): the
# trial whose curve it extends, and the compute that curve had reached.
CONTINUES, CONTINUES_AFTER = "continues", "continues_after_flops"


SAME_SIZE = 1.25  # sizes within this factor are one size (hyperparameter variants of it)

# How stop reasons begin (the scheduler writes them; the ladder reads them): a larger model crossed below this
# one; this one was projected never to reach the frontier within the cap; the ladder's cap stopped it.
LEFT, PROJECTED, AT_CAP = "left the frontier", "will not reach the frontier", "reached the ladder's compute cap"


def curve_id(trial_id: str, config: dict) -> str:
    """The curve a trial's reports belong to: its own, or the one it continues."""
    return config.get(CONTINUES, trial_id)


@dataclass
class Curve:
    """One trial's reports: compute (FLOPs), held-out loss and tokens trained on, in the order they came."""

    n_params: float
    config: dict = field(default_factory=dict)  # the trial's config: what a continuation runs again
    compute: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    # NaN where a report did not say; under budget.count full, compute is not 6 N tokens, and L(N, D) needs D.
    tokens: list[float] = field(default_factory=list)
    warmup_tokens: float = 0.0  # where the learning-rate warm-up ended, as the trial's reports said (fits/frontier.py)
    gpu_seconds: float = 0.0
    # (log compute, log loss) as arrays, made once per new report: the scheduler interpolates every curve at
    # every decision, and most curves have ended.
    _logs: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    def add(self, compute: float, loss: float, tokens: float | None = None) -> None:
        if self.compute and compute <= self.compute[-1]:  # a resumed trial repeats reports after its checkpoint
            return
        self.compute.append(compute)
        self.loss.append(loss)
        self.tokens.append(math.nan if tokens is None else float(tokens))
        self._logs = None

    @property
    def logs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._logs is None:  # add() clears it
            self._logs = (np.log(self.compute), np.log(self.loss))
        return self._logs

    @property
    def spent(self) -> float:
        return self.compute[-1] if self.compute else 0.0

    def loss_at(self, compute: np.ndarray) -> np.ndarray:
        """Loss interpolated in log-log space; NaN outside the compute this curve has reached."""
        c, l_ = self.logs
        x = np.log(np.asarray(compute, float))
        out = np.exp(np.interp(x, c, l_)) if len(c) else np.full_like(x, np.nan)
        return np.where((x >= c[0] - 1e-12) & (x <= c[-1] + 1e-12), out, np.nan) if len(c) else out


@dataclass
class SearchState:
    """The live frontier and the search's decisions so far."""

    n_range: tuple[float, float]
    curves: dict[str, Curve] = field(default_factory=dict)
    stop_reasons: dict[str, str] = field(default_factory=dict)
    fits: list[dict] = field(default_factory=list)  # each refit: spent compute, estimates, range
    finished: str | None = None  # why the whole search ended, once it has
    cap: float | None = None  # a compute ladder's per-trial compute cap now (None: no ladder)
    level: int = 0  # how many times the ladder's cap has risen
    queued: list[dict] = field(default_factory=list)  # configs the ladder asks the searcher to run next
    # Every size the ladder has queued: one still queued, or started with no report yet, is in no curve, and a
    # second rise before it runs would queue it again.
    proposed: set[float] = field(default_factory=set)
    # The trials Tune runs now (or has added to run next), by curve id: their N. The scheduler keeps it through
    # Tune's add, complete, error and remove hooks; ``open_below`` and the recorder's progress line read it.
    live: dict[str, float] = field(default_factory=dict)
    # A compute ladder's reading of its level (search/ladder.py): who leads at each point of its grid, j points
    # a decade below the cap (j = 0: the cap), and who is within the noise of the lead there, lowest first, as
    # last read where no smaller model could take the lead back.
    settled_leads: dict[int, list[str]] = field(default_factory=dict)

    def __getstate__(self) -> dict:
        """Saved with Tune's experiment, without ``live``: on a resume Tune adds the trials still to run again
        (``FrontierScheduler.on_trial_add``), and one that ended after the save would stay live for good."""
        return {**self.__dict__, "live": {}}

    def add(self, trial_id: str, n_params: float, compute: float, loss: float, config: dict | None = None,
            tokens: float | None = None, warmup_tokens: float | None = None) -> None:
        curve = self.curves.setdefault(trial_id, Curve(n_params, dict(config or {})))
        curve.add(compute, loss, tokens)
        if warmup_tokens is not None:
            curve.warmup_tokens = float(warmup_tokens)

    @property
    def spent_flops(self) -> float:
        return float(sum(curve.spent for curve in self.curves.values()))

    @property
    def gpu_hours(self) -> float:
        return sum(curve.gpu_seconds for curve in self.curves.values()) / 3600.0

    def dominated(self, trial_id: str, margin: float,
                  size_tolerance: float = SAME_SIZE) -> tuple[str, float] | None:
        """The larger trial that beats this one at its latest compute by more than ``margin``, if any.

        Curves of different sizes cross once: small models lead early, large ones late. So once a model at
        least as large is lower at the same compute, the smaller one has left the frontier for good. Sizes
        within ``size_tolerance`` of each other count as the same size (hyperparameter variants).
        """
        me = self.curves[trial_id]
        if not me.compute:
            return None
        c, mine = me.compute[-1], me.loss[-1]
        best: tuple[str, float] | None = None
        for other_id, other in self.curves.items():
            if other_id == trial_id or other.n_params * size_tolerance < me.n_params or len(other.compute) < 2:
                continue
            theirs = float(other.loss_at(np.array([c]))[0])
            excess = mine / theirs - 1.0
            if np.isfinite(theirs) and excess > margin and (best is None or excess > best[1]):
                best = (other_id, excess)
        return best

    def open_below(self, leaders: list[str], compute: np.ndarray, margin: float) -> np.ndarray:
        """For each pair (the curve leading, a compute): could a smaller model still take the lead there? Yes
        where a trial smaller than the leader (beyond ``SAME_SIZE``) that has reported and is not yet stopped,
        or a continuation queued to go on from where its curve ended, has not reached that compute yet and is
        not behind the leader by more than ``margin`` where it is now. Curves of two sizes cross once: one that
        a larger model is below at its latest report stays behind it, unless the two are within the noise (a
        near-tie at the cap flipped back in 1 of 5 runs of tests/search/test_ladder.py without the margin). A
        trial without reports is not asked about, no more than one the searcher has yet to propose: no search
        can wait for every trial it may still start.

        Without this, who leads at a compute depends on the order in which concurrent trials report: a larger
        model seems to lead wherever a smaller one still running has not got to yet, and takes the lead back."""
        compute = np.asarray(compute, float)
        pending = [self.curves[cid] for cid in self.live if cid in self.curves and cid not in self.stop_reasons]
        pending += [self.curves[q[CONTINUES]] for q in self.queued if q.get(CONTINUES) in self.curves]
        blocked = np.zeros(len(leaders), bool)
        for lead in set(leaders):
            other, at = self.curves[lead], np.array([cid == lead for cid in leaders])
            for curve in pending:
                theirs = other.loss_at(np.array([curve.spent]))[0]  # NaN where the leader is not there yet
                if other.n_params <= curve.n_params * SAME_SIZE or theirs * (1 + margin) < curve.loss[-1]:
                    continue
                blocked |= at & (curve.spent * (1 + 1e-9) < compute)
        return blocked

    def leading(self, grid: np.ndarray, within: float = 0.0) -> list[list[str]]:
        """At each compute of ``grid``, the curves (of two reports or more) with the lowest loss there and those
        within a factor ``1 + within`` of it, lowest first; empty where none has reached it."""
        ids = [cid for cid, c in self.curves.items() if len(c.compute) > 1]
        if not ids:
            return [[] for _ in grid]
        losses = np.vstack([self.curves[cid].loss_at(grid) for cid in ids])
        losses = np.where(np.isfinite(losses), losses, np.inf)
        order, best = np.argsort(losses, axis=0), losses.min(axis=0)
        return [[ids[i] for i in order[:, k] if losses[i, k] <= best[k] * (1 + within) < np.inf]
                for k in range(len(grid))]

    def leaders(self, low: float, high: float, per_decade: int = 20) -> list[tuple[float, float]]:
        """Who leads the envelope from ``low`` (or the first report, if later) to ``high`` compute, read on a grid
        of ``per_decade`` points a decade: (N, the compute where it takes the lead) at each change of leader, in
        order of compute."""
        curves = [c for c in self.curves.values() if len(c.compute) > 1]
        if not curves:
            return []
        low = max(low, min(c.compute[0] for c in curves))
        if high <= low:
            return []
        grid = np.geomspace(low, high, max(2, int(per_decade * np.log10(high / low)) + 1))
        found: list[tuple[float, float]] = []
        for compute, lead in zip(grid, self.leading(grid)):
            n = self.curves[lead[0]].n_params if lead else None
            if n is not None and (not found or found[-1][0] != n):
                found.append((n, float(compute)))
        return found

    def frontier_excess(self, trial_id: str) -> float:
        """How close this trial came to the others' envelope: the least of ``envelope_gap`` over its reports.

        Negative where it set the frontier, positive where it stayed above it; 0 when nobody else reached the
        same compute. This is Optuna's objective: it learns which sizes and hyperparameters reach the frontier.
        """
        if not self.curves[trial_id].compute:
            return float("inf")
        gap = self.envelope_gap(trial_id)
        gap = gap[np.isfinite(gap)]
        return float(gap.min()) if len(gap) else 0.0

    def envelope_gap(self, trial_id: str, last: int | None = None) -> np.ndarray:
        """log(loss / the others' envelope) at each of this trial's reports (the ``last`` ones only, if given);
        NaN where no other reached."""
        me = self.curves[trial_id]
        reports = slice(-last, None) if last else slice(None)
        compute, loss = np.array(me.compute[reports]), np.array(me.loss[reports])
        others = [o.loss_at(compute) for o_id, o in self.curves.items() if o_id != trial_id and len(o.compute) > 1]
        if not others:
            return np.full(len(compute), np.nan)
        return np.log(loss / np.fmin.reduce(np.vstack(others), axis=0))

    def projected_gap(self, trial_id: str, c_end: float, window: int) -> float | None:
        """The gap to the envelope extrapolated, linearly in log compute over the last ``window`` reports, to
        ``c_end``; None without ``window`` comparable reports. Curves flatten, so this is optimistic for a trial
        that is closing in: it stops only trials that will not get there even so."""
        gap = self.envelope_gap(trial_id, last=window)
        log_c = np.log(self.curves[trial_id].compute[-window:])
        if len(gap) < window or not np.isfinite(gap).all():
            return None
        slope, intercept = np.polyfit(log_c, gap, 1)
        return float(min(gap[-1], intercept + slope * np.log(c_end)))

    def table(self) -> pd.DataFrame:
        """Every report as the fits library reads it: run, n_params, compute, loss, and tokens where every
        report stated them (else the fits take C / 6N), then with each trial's warm-up as the frontier reads it."""
        kept = {trial_id: curve for trial_id, curve in self.curves.items() if curve.compute}
        if not kept:
            return pd.DataFrame(columns=["run", "n_params", "compute", "loss"])
        lengths = [len(curve.compute) for curve in kept.values()]
        table = pd.DataFrame({"run": np.repeat(np.array(list(kept), dtype=object), lengths),
                              "n_params": np.repeat([curve.n_params for curve in kept.values()], lengths),
                              "compute": np.concatenate([curve.compute for curve in kept.values()]),
                              "loss": np.concatenate([curve.loss for curve in kept.values()])})
        tokens = np.concatenate([curve.tokens for curve in kept.values()])
        if np.isfinite(tokens).all():
            table["tokens"] = tokens
            table["warmup_tokens"] = np.repeat([curve.warmup_tokens for curve in kept.values()], lengths)
        return table
