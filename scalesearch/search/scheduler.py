"""The frontier scheduler: a trial runs while it may still be on the compute frontier, and stops once it has left.

Compute (FLOPs), not iterations, is the time axis: a trial is compared with the others at its own latest
compute. A trial stops when a model at least as large is lower there by more than ``margin`` for ``patience``
reports in a row (a noise allowance); when its gap to the others' envelope, extrapolated over its last decade
of reports, stays above the margin up to the trial budget ``c_max`` (a model too large for the budget); or when
its loss is not finite. Every stop is recorded with its reason in
the shared ``SearchState``; the recorder writes it to the trial's MLflow run.
"""

from __future__ import annotations

import math

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from scalesearch.search.state import SearchState
from scalesearch.search.stops import stop_board

LOSS, COMPUTE = "heldout_loss", "compute"


class FrontierScheduler(FIFOScheduler):
    """Stops trials that have left the compute frontier (a ``TrialScheduler`` through Tune's own interface)."""

    def __init__(self, state: SearchState, c_max: float, window: int, margin: float = 0.01, patience: int = 2,
                 stop_by_request: str | None = None):
        super().__init__()
        self.state, self.c_max, self.window, self.margin, self.patience = state, c_max, window, margin, patience
        # A search name: ask that search's trials to stop (search/stops.py) instead of killing them.
        self.stop_by_request = stop_by_request
        self.strikes: dict[str, int] = {}

    def _stop(self, trial: Trial) -> str:
        """STOP, or with a stop board post the request and let the trial end itself at its next check."""
        if self.stop_by_request is None:
            return TrialScheduler.STOP
        stop_board(self.stop_by_request).request.remote(trial.trial_id, self.state.stop_reasons[trial.trial_id])
        return TrialScheduler.CONTINUE

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        if trial.trial_id in self.state.stop_reasons:  # decided already (or before a driver restart)
            return self._stop(trial)
        loss, spent = result.get(LOSS), result.get(COMPUTE)
        if result.get("diverged") or loss is None or not math.isfinite(loss):
            self.state.stop_reasons[trial.trial_id] = f"diverged: loss {loss} after {result.get('tokens')} tokens"
            return self._stop(trial)
        self.state.add(trial.trial_id, trial.config["n_params"], spent, loss)
        reason = self.off_frontier(trial.trial_id, spent)
        self.strikes[trial.trial_id] = self.strikes.get(trial.trial_id, 0) + 1 if reason else 0
        if reason and self.strikes[trial.trial_id] >= self.patience:
            self.state.stop_reasons[trial.trial_id] = reason
            return self._stop(trial)
        return TrialScheduler.CONTINUE

    def off_frontier(self, trial_id: str, spent: float) -> str | None:
        """Why this trial no longer matters to the frontier, or None while it may."""
        beaten = self.state.dominated(trial_id, self.margin)
        if beaten:
            other, excess = beaten
            return (f"left the frontier: {excess:.1%} above trial {other} "
                    f"(N={self.state.curves[other].n_params:.3g}) at {spent:.3g} FLOPs")
        projected = self.state.projected_gap(trial_id, self.c_max, self.window)
        if projected is not None and projected > math.log1p(self.margin):
            return (f"will not reach the frontier within the budget: projected {math.expm1(projected):.1%} "
                    f"above it at {self.c_max:.3g} FLOPs")
        return None

    def debug_string(self) -> str:
        stopped = sum(reason.startswith("left") for reason in self.state.stop_reasons.values())
        return f"FrontierScheduler: {len(self.state.curves)} curves, {stopped} stopped off the frontier"
