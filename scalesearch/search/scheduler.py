"""The frontier scheduler: a trial runs while it may still be on the compute frontier, and stops once it has left.

Compute (FLOPs), not iterations, is the time axis: a trial is compared with the others at its own latest
compute. A trial stops when a model at least as large is lower there by more than ``margin`` for ``patience``
reports in a row (a noise allowance); when its gap to the others' envelope, extrapolated over its last decade
of reports, stays above the margin up to the trial budget ``c_max`` (a model too large for the budget); or when
its loss is not finite. With a compute ladder (search/ladder.py) the budget is the ladder's cap, a trial stops
at the cap, and the ladder is asked after each report whether the cap rises. Every stop is recorded with its
reason in the shared ``SearchState``, under the trial's curve (a continuation extends the curve of the trial it
continues); the recorder writes it to the curve's MLflow run.
"""

from __future__ import annotations

import math

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from scalesearch.search.ladder import EPS, ComputeLadder
from scalesearch.search.state import AT_CAP, LEFT, PROJECTED, SearchState, curve_id
from scalesearch.search.stops import stop_board

LOSS, COMPUTE = "heldout_loss", "compute"


class FrontierScheduler(FIFOScheduler):
    """Stops trials that have left the compute frontier (a ``TrialScheduler`` through Tune's own interface)."""

    def __init__(self, state: SearchState, c_max: float, window: int, margin: float = 0.01, patience: int = 2,
                 stop_by_request: str | None = None, ladder: ComputeLadder | None = None):
        super().__init__()
        self.ladder = ladder
        self.state, self.c_max, self.window, self.margin, self.patience = state, c_max, window, margin, patience
        # A search name: ask that search's trials to stop (search/stops.py) instead of killing them.
        self.stop_by_request = stop_by_request
        self.strikes: dict[str, int] = {}

    @property
    def budget(self) -> float:
        """What a trial may spend now: the ladder's cap, or the trial budget."""
        return self.c_max if self.state.cap is None else self.state.cap

    def _stop(self, trial: Trial, cid: str) -> str:
        """STOP, or with a stop board post the request and let the trial end itself at its next check."""
        if self.stop_by_request is None:
            return TrialScheduler.STOP
        stop_board(self.stop_by_request).request.remote(trial.trial_id, self.state.stop_reasons[cid])
        return TrialScheduler.CONTINUE

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        if trial.status not in (Trial.TERMINATED, Trial.ERROR):  # a restored experiment adds its ended trials too
            self.state.live[curve_id(trial.trial_id, trial.config)] = trial.config["n_params"]

    def _ended(self, trial: Trial) -> None:
        self.state.live.pop(curve_id(trial.trial_id, trial.config), None)

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._ended(trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self._ended(trial)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._ended(trial)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        cid = curve_id(trial.trial_id, trial.config)
        if cid in self.state.stop_reasons:  # decided already (or before a driver restart)
            return self._stop(trial, cid)
        loss, spent = result.get(LOSS), result.get(COMPUTE)
        if result.get("diverged") or loss is None or not math.isfinite(loss):
            self.state.stop_reasons[cid] = f"diverged: loss {loss} after {result.get('tokens')} tokens"
            return self._stop(trial, cid)
        self.state.add(cid, trial.config["n_params"], spent, loss, trial.config, result.get("tokens"),
                       result.get("warmup_tokens"))
        # This report may settle the level; this trial, still running, then goes on to the new cap. The ladder
        # decides before this trial's own stop does: a trial it stopped on this report would be continued by a
        # new trial while it runs on (the stop is not yet returned).
        if self.ladder:
            self.ladder.update(self.state)
        # A report at the trial's budget is its last: it ends as having reached it, not as stopped (a stop there
        # would end nothing early, and its run would say "stopped" on a curve that went the whole way).
        reason = self.off_frontier(cid, spent) if spent < self.c_max * (1 - EPS) else None
        self.strikes[cid] = self.strikes.get(cid, 0) + 1 if reason else 0
        if reason and self.strikes[cid] >= self.patience:
            self.state.stop_reasons[cid] = reason
        if self.ladder and cid not in self.state.stop_reasons and self.ladder.reached_cap(self.state, spent):
            self.state.stop_reasons[cid] = f"{AT_CAP} {self.state.cap:.3g} FLOPs (level {self.state.level})"
        return self._stop(trial, cid) if cid in self.state.stop_reasons else TrialScheduler.CONTINUE

    def off_frontier(self, trial_id: str, spent: float) -> str | None:
        """Why this trial no longer matters to the frontier, or None while it may."""
        beaten = self.state.dominated(trial_id, self.margin)
        if beaten:
            other, excess = beaten
            return (f"{LEFT}: {excess:.1%} above trial {other} "
                    f"(N={self.state.curves[other].n_params:.3g}) at {spent:.3g} FLOPs")
        projected = self.state.projected_gap(trial_id, self.budget, self.window)
        if projected is not None and projected > math.log1p(self.margin):
            return (f"{PROJECTED} within the budget: projected {math.expm1(projected):.1%} "
                    f"above it at {self.budget:.3g} FLOPs")
        return None

    def debug_string(self) -> str:
        stopped = sum(reason.startswith(LEFT) for reason in self.state.stop_reasons.values())
        return f"FrontierScheduler: {len(self.state.curves)} curves, {stopped} stopped off the frontier"
