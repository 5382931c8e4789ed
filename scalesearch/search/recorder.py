"""The driver's record of a search: MLflow child runs per trial, refits between trials, and resumable state.

A Tune ``Callback``: Tune calls it on every trial event and checkpoints its ``get_state`` with the experiment,
so after the driver is killed ``set_state`` brings back which MLflow run belongs to which trial, and the
learning curves are re-read from those runs (MLflow is the record; nothing is logged twice: points at or
below a run's last logged step are skipped when a trial repeats reports after its checkpoint). Runs are per
curve: a trial that continues another (a compute ladder's next level) logs on to that trial's run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from ray.tune import Callback
from ray.tune.experiment import Trial

from scalesearch.fits.bootstrap import Estimate
from scalesearch.search import control
from scalesearch.search.scheduler import COMPUTE, LOSS
from scalesearch.search.state import CONTINUES, SearchState, curve_id
from scalesearch.spec import Spec
from scalesearch.tracking import start_run

LOGGED_PREFIXES = ("heldout_loss", "eval/", "train_loss", "compute", "tokens", "lr", "mfu", "n_params")
FLUSH_POINTS = 500
MAX_BATCH = 1000
CLOSED = ("finished", "stopped", "diverged", "failed")  # the statuses of ended trial runs
REFITS_FILE = "search/refits.json"  # on the parent run: every refit's summary


class SearchRecorder(Callback):
    """Logs trials to MLflow under the search's parent run, refits the frontier, and decides when to end."""

    def __init__(self, spec: Spec, state: SearchState, tracking_uri: str, parent_run_id: str,
                 trial_params: Callable[[dict], dict], gpus_of: Callable[[float], int]):
        self.spec, self.state, self.uri, self.parent_run_id = spec, state, tracking_uri, parent_run_id
        self.trial_params, self.gpus_of = trial_params, gpus_of
        self.runs: dict[str, str] = {}  # curve (trial) id -> MLflow run id
        self.logged: dict[str, int] = {}  # curve id -> last step (tokens) logged
        self.pending: dict[str, list[Metric]] = {}
        self.pending_tags: dict[str, list[RunTag]] = {}  # sent with the trial's next points
        self.closed: set[str] = set()  # curve ids whose MLflow run is ended (by this driver, or before a resume)
        self.completed = 0
        self.last_fit: dict | None = None  # the last refit's, for the progress line between refits
        self.level_fitted = 0  # the compute ladder's level at the last refit: a rise refits once more
        self.started = time.time()
        self._client: MlflowClient | None = None

    def __getstate__(self) -> dict:  # Tune pickles callbacks with the experiment; a client holds connections
        return {**self.__dict__, "_client": None, "pending": {}, "pending_tags": {}}

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.uri)
        return self._client

    # Tune's events -------------------------------------------------------------------------------------------

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        cid = curve_id(trial.trial_id, trial.config)
        print(self.progress(self.last_fit), flush=True)
        if cid in self.runs:
            if CONTINUES in trial.config:  # its run ended at the ladder's cap and goes on
                self.closed.discard(cid)
                self.client.update_run(self.runs[cid], "RUNNING")
            if cid not in self.closed:
                self.client.set_tag(self.runs[cid], "scalesearch.status", "running")
            return
        config = trial.config
        name = f"{self.spec.domain_label}-N{config['n_params']:.3g}-{trial.trial_id}"
        self.runs[trial.trial_id] = start_run(
            self.client, self.spec.experiment, run_name=name, params=self.trial_params(config),
            parent_run_id=self.parent_run_id,
            tags={"scalesearch.role": "trial", "scalesearch.status": "running",
                  "scalesearch.trial_id": trial.trial_id, "scalesearch.backend": self.spec.search.backend})

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info) -> None:
        if self.state.level != self.level_fitted:  # the scheduler's ladder raised the cap on this report
            self.refit()
        tid, step = curve_id(trial.trial_id, trial.config), int(result.get("tokens", 0))
        if tid not in self.runs or tid in self.closed or step <= self.logged.get(tid, -1):
            return
        if tid not in self.logged:  # the node of its first report (node_id: simulated trials report it)
            self.pending_tags[tid] = [RunTag(f"scalesearch.{key}", str(result[key]))
                                      for key in ("node_id", "node_ip") if result.get(key)]
        curve = self.state.curves.get(tid)
        if curve is not None:
            curve.gpu_seconds += result.get("time_this_iter_s", 0.0) * self.gpus_of(curve.n_params)
        now = int(time.time() * 1000)
        self.pending.setdefault(tid, []).extend(
            Metric(key, float(value), now, step) for key, value in result.items()
            if key.startswith(LOGGED_PREFIXES) and isinstance(value, int | float))
        self.logged[tid] = step
        if sum(map(len, self.pending.values())) >= FLUSH_POINTS:
            self.flush()

    def on_checkpoint(self, iteration: int, trials: list[Trial], trial: Trial, checkpoint, **info) -> None:
        self.flush(curve_id(trial.trial_id, trial.config))  # all up to a checkpoint is in MLflow before Tune saves

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        reason = self.state.stop_reasons.get(curve_id(trial.trial_id, trial.config))
        if reason is None and self.state.finished:
            reason = f"search ended: {self.state.finished}"
        status = "diverged" if reason and reason.startswith("diverged") else "stopped" if reason else "finished"
        self._close(trial, status, reason or "reached its compute budget")
        self.completed += 1
        if self.completed % self.spec.search.refit_every == 0:
            self.refit()
        else:  # the progress line at every start and end of a trial, with the last fit
            print(self.progress(self.last_fit), flush=True)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        self._close(trial, "failed", f"error: {trial.error_file or 'see the trial log'}")

    def on_experiment_end(self, trials: list[Trial], **info) -> None:
        if self.state.finished:  # a search that ends itself has Tune end its running trials without on_trial_complete
            for trial in trials:
                self._close(trial, "stopped", f"search ended: {self.state.finished}")
        # Otherwise Tune was stopped from outside (its SIGUSR1): the trials it ended stay open, to resume.
        self.flush()
        # Every refit's summary, as the range control and the precision stop read it (benchmarks replay them).
        self.client.log_dict(self.parent_run_id, self.state.fits, REFITS_FILE)
        if self.state.finished:
            self.client.set_tag(self.parent_run_id, "scalesearch.finished_reason", self.state.finished)

    # ---------------------------------------------------------------------------------------------------------

    def _close(self, trial: Trial, status: str, reason: str) -> None:
        """End the trial's MLflow run with its status and reason, unless it has no run or is closed already."""
        cid = curve_id(trial.trial_id, trial.config)
        if cid in self.runs and cid not in self.closed:
            self.closed.add(cid)
            # The last points and the end tags in one write (each write to a SQLite store costs ~40 ms).
            self.flush(cid, tags=[RunTag("scalesearch.status", status), RunTag("scalesearch.stop_reason", reason)])
            # Stopped early is a normal end in a search; MLflow's FAILED is for what went wrong.
            self.client.set_terminated(self.runs[cid],
                                       "FAILED" if status in ("diverged", "failed") else "FINISHED")

    def flush(self, trial_id: str | None = None, tags: list[RunTag] | None = None) -> None:
        """Send the pending points and tags (of one trial, or all), ``tags`` too (of that trial), the tags with
        its last batch."""
        for tid in [trial_id] if trial_id else list(self.pending.keys() | self.pending_tags.keys()):
            points, run_tags = self.pending.pop(tid, []), self.pending_tags.pop(tid, []) + (tags or [])
            batches = [points[i:i + MAX_BATCH] for i in range(0, len(points), MAX_BATCH)]
            if run_tags and (not batches or len(batches[-1]) + len(run_tags) > MAX_BATCH):
                batches.append([])
            for i, batch in enumerate(batches):
                self.client.log_batch(self.runs[tid], metrics=batch,
                                      tags=run_tags if i == len(batches) - 1 else [])

    def refit(self) -> dict | None:
        """Refit the frontier, move the range, log the live fit on the parent run and decide whether to end."""
        self.level_fitted = self.state.level
        fit = control.refit(self.state, self.spec.search, seed=self.spec.search.seed)
        moved = control.update_range(self.state, self.spec.search, fit)
        if fit is not None:
            fit["range_moved"] = moved  # the precision stop waits for a settled range
        fit = control.confirmed(self.state, self.spec.search, fit, seed=self.spec.search.seed)
        reason = control.stop_reason(self.state, self.spec.search, fit, moved)
        if reason and self.state.finished is None:
            self.state.finished = reason
        step = len(self.state.fits)
        metrics = {"search/spent_flops": self.state.spent_flops, "search/trials": len(self.state.curves),
                   "search/n_min": self.state.n_range[0], "search/n_max": self.state.n_range[1],
                   "search/range_moved": float(moved),
                   **({"search/trial_cap": self.state.cap} if self.state.cap is not None else {})}
        if fit and fit.get("ok"):
            metrics["fit/runs"] = fit["runs"]
            for name in ("beta", "alpha_C", "L_inf"):
                if name in fit:  # a part of the frontier alone lacks the other part's
                    metrics.update({f"fit/{name}": fit[name]["value"],
                                    f"fit/{name}_ci_width": control.ci_width(fit, name)})
        now = int(time.time() * 1000)
        self.client.log_batch(self.parent_run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])
        self.last_fit = fit
        print(self.progress(fit), flush=True)
        return fit

    def progress(self, fit: dict | None) -> str:
        """One line: what runs, the compute spent, the range, the current frontier fit and the time left."""
        spent, budget = self.state.spent_flops, self.spec.search.stop.budget_flops
        sizes = ", ".join(f"{n:.3g}" for n in sorted(self.state.live.values()))
        line = (f"{self.spec.domain_label} [{len(self.runs)} trials; running N = {sizes or '-'}] "
                f"spent {spent:.3g} FLOPs")
        if budget:
            elapsed = time.time() - self.started
            minutes = elapsed * (budget - spent) / spent / 60 if spent else None
            left = ("time left unknown yet" if minutes is None
                    else f"~{minutes:.0f} min left at this rate" if minutes >= 1 else "< 1 min left at this rate")
            line += f" ({spent / budget:.0%} of budget, {left})"
        line += f" | N range {self.state.n_range[0]:.3g}..{self.state.n_range[1]:.3g}"
        if self.state.cap is not None:
            line += f", trial cap {self.state.cap:.3g} FLOPs (ladder level {self.state.level})"
        line += self.frontier_so_far()
        if fit and "why" not in fit:  # fitted; problems (an interval withheld, a flag) are in the parent run's fits
            line += f" | {fit_values(fit)}"
        elif fit:
            line += f" | no frontier fit yet ({fit['why']})"
        if self.state.finished:
            line += f" | ending: {self.state.finished}"
        return line

    def frontier_so_far(self) -> str:
        """The size that leads the envelope at the highest compute two curves reached, and the sizes that led it
        below (in order of size: near-ties between two curves flip the lead back and forth)."""
        curves = [c for c in self.state.curves.values() if len(c.compute) > 1]
        if len(curves) < 2:
            return ""
        shared = sorted(c.spent for c in curves)[-2]
        lead = self.state.leaders(0.0, shared)
        if not lead:
            return ""
        before = sorted({n for n, _ in lead} - {lead[-1][0]})
        return (f" | frontier: N {lead[-1][0]:.3g} leads at {shared:.3g} FLOPs"
                + (f" (before: {', '.join(f'{n:.3g}' for n in before)})" if before else ""))

    # Resume ---------------------------------------------------------------------------------------------------

    def get_state(self) -> dict:
        s = self.state
        return {"runs": self.runs, "completed": self.completed, "n_range": list(s.n_range),
                "stop_reasons": s.stop_reasons, "fits": json.dumps(s.fits), "finished": s.finished,
                "ladder": json.dumps({"cap": s.cap, "level": s.level, "queued": s.queued,
                                      "proposed": sorted(s.proposed),
                                      "configs": {cid: curve.config for cid, curve in s.curves.items()}})}

    def set_state(self, saved: dict) -> None:
        """After a restart: the trial-to-run map from Tune's checkpoint, the curves from MLflow."""
        self.runs, self.completed = dict(saved["runs"]), saved["completed"]
        self.state.n_range = tuple(saved["n_range"])
        self.state.stop_reasons.update(saved["stop_reasons"])
        self.state.fits[:] = json.loads(saved["fits"])
        self.state.finished = saved["finished"]
        self.logged = load_curves(self.client, self.runs, self.state)
        ladder = json.loads(saved["ladder"])
        self.state.cap, self.state.level, self.state.queued[:] = ladder["cap"], ladder["level"], ladder["queued"]
        self.state.proposed.update(ladder.get("proposed", []))  # a search saved before it was kept: none
        self.level_fitted = self.state.level
        for cid, config in ladder["configs"].items():
            if cid in self.state.curves:
                self.state.curves[cid].config = config
        self._reconcile()

    def _reconcile(self) -> None:
        """Bring what MLflow recorded after Tune last saved its state back into the search.

        A trial closed since then (Tune will run it again from its last checkpoint) keeps its stop reason, so the
        scheduler stops it at once and nothing more is logged for it. A trial started since then is unknown to the
        resumed search: its run is tagged lost, kept for the record but left out of the fits."""
        experiment = self.client.get_run(self.parent_run_id).info.experiment_id
        children = self.client.search_runs([experiment], max_results=50000,
                                           filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'")
        known = set(self.runs.values())
        for run in children:
            tags = run.data.tags
            status, tid = tags.get("scalesearch.status"), tags.get("scalesearch.trial_id")
            if run.info.run_id in known and status in CLOSED:
                self.closed.add(tid)
                if status != "finished":
                    self.state.stop_reasons.setdefault(tid, tags.get("scalesearch.stop_reason", status))
            elif run.info.run_id not in known and status == "running":
                self.client.log_batch(run.info.run_id, tags=[
                    RunTag("scalesearch.status", "lost"),
                    RunTag("scalesearch.stop_reason", "started after the driver last saved the search's state; "
                                                      "the resumed search does not know this trial")])
                self.client.set_terminated(run.info.run_id, "KILLED")


def load_curves(client: MlflowClient, runs: dict[str, str], state: SearchState) -> dict[str, int]:
    """Fill ``state`` with the learning curves logged on ``runs`` (trial id -> run id); returns last steps.
    A run without params is one whose driver died between creating it and logging them: it holds no curve."""
    last = {}
    for tid, run_id in runs.items():
        params = client.get_run(run_id).data.params
        if "n_params" not in params:
            continue
        n_params, warmup = float(params["n_params"]), float(params.get("warmup_tokens", 0))
        losses = {m.step: m.value for m in client.get_metric_history(run_id, LOSS)}
        for m in sorted(client.get_metric_history(run_id, COMPUTE), key=lambda m: m.step):
            if m.step in losses:  # on_trial_result logs at step = tokens trained on, as read_search reads it
                state.add(tid, n_params, m.value, losses[m.step], tokens=float(m.step), warmup_tokens=warmup)
                last[tid] = m.step
    return last


def fit_values(fit: dict) -> str:
    """A refit's values, each with its interval: N_opt at the highest compute, beta and alpha_C; a part of the
    frontier fitted alone (where the whole did not hold) says which."""
    values = [f"N_opt(C_max)={fit['n_opt_at_max']:.3g}"] if math.isfinite(fit["n_opt_at_max"]) else []
    values += [f"{name} {Estimate(**fit[name]).describe()}" for name in ("beta", "alpha_C") if name in fit]
    alone = control.part_alone(fit)
    return (f"{alone}: " if alone else "") + ", ".join(values)
