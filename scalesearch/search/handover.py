"""The moment a search stops filling its trial slots: from then on, a core it leaves idle stays idle to its end.

``scalesearch demo`` runs its domains' searches one after the other on the same cores, and starts the next one at
that moment instead of at the end: a domain's last trial often runs alone for minutes (math's smallest sizes are
the slowest per FLOP), and the next domain's first trial takes the other core meanwhile.
"""

from __future__ import annotations

from multiprocessing.connection import Connection

from ray.tune import Callback
from ray.tune.experiment import Trial

LIVE = (Trial.PENDING, Trial.RUNNING, Trial.PAUSED)  # a paused trial comes back to its slot


class Handover(Callback):
    """Sends ``True`` on ``conn``, once, when the search has created all ``max_trials`` trials (the last may not
    have started yet) and fewer than ``concurrent`` of them are still live."""

    def __init__(self, conn: Connection, max_trials: int, concurrent: int):
        self.conn, self.max_trials, self.concurrent, self.sent = conn, max_trials, concurrent, False

    def __getstate__(self) -> dict:  # Tune pickles callbacks with the experiment; a pipe belongs to this driver
        return {**self.__dict__, "conn": None}

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info) -> None:
        live = sum(t.status in LIVE for t in trials if t is not trial)  # ``trial`` may still read RUNNING here
        if self.conn and not self.sent and len(trials) >= self.max_trials and live < self.concurrent:
            self.conn.send(True)
            self.sent = True

    on_trial_error = on_trial_complete
