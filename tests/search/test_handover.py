"""The handover (search/handover.py) through a real simulated search in Ray Tune: it comes once, with the first
trial to end once the search has no more than one trial left to run, which is what lets the demo start the next
domain early."""

from __future__ import annotations

import multiprocessing

from ray.tune import Callback

from scalesearch.search.handover import Handover
from scalesearch.search.run import run_search
from scalesearch.spec import parse_spec
from tests.search.test_search import sim_spec

TRIALS = 5


class Probe(Callback):
    """Counts trials started and ended itself, and at each event notes how many run and whether the handover has
    arrived."""

    def __init__(self, conn):
        self.conn, self.started, self.ended, self.events = conn, set(), set(), []

    def __getstate__(self) -> dict:
        return {**self.__dict__, "conn": None}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started.add(trial.trial_id)
        self.events.append(("start", len(self.started - self.ended), self.conn.poll()))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ended.add(trial.trial_id)
        self.events.append(("end", len(self.started - self.ended), self.conn.poll()))


def test_the_handover_comes_once_with_the_first_end_after_the_last_start(tmp_path, ray_local):
    spec = sim_spec("sim-handover", stop={"flops": 1e23, "max_trials": TRIALS, "beta_ci_width": None})
    spec["simulate"] = {"seconds_per_report": 0.02}  # trials overlap in time, as real ones do
    received, sent = multiprocessing.get_context("spawn").Pipe(duplex=False)
    probe = Probe(received)
    run_search(parse_spec(spec), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", storage=tmp_path / "runs",
               callbacks=[Handover(sent, TRIALS, 2), probe])

    assert len(probe.started) == TRIALS
    last_start = [i for i, (kind, _, _) in enumerate(probe.events) if kind == "start"][-1]
    first = next(i for i, (_, _, arrived) in enumerate(probe.events) if arrived)
    # It came with a trial's end, no later than the first end after the last start, so no slot stood idle waiting
    # for it (it may come before the last trial starts, once that one is the only one left to run) ...
    assert probe.events[first][0] == "end" and first <= last_start + 1, probe.events
    # ... and never while the search could still fill both slots: from then on it runs one trial at a time.
    assert all(running <= 1 for _, running, _ in probe.events[first:]), probe.events
    assert received.recv() is True and not received.poll()  # once
