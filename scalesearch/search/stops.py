"""Stop requests that a training trial acts on itself.

Tune stops a trial by killing its actor. A Ray Train trial then leaves its worker group's placement group
behind (Train V2's cleaner did not remove it here), and on a small node the next trials wait forever for those
CPUs. So the frontier scheduler of a ``ray_train`` search asks instead: it posts the trial's stop reason on a
named actor, the training loop looks at every report and every divergence check, and the job ends normally as
``stopped``, releasing everything it holds.
"""

from __future__ import annotations

import ray

ACTOR_PREFIX, NAMESPACE = "scalesearch-stops-", "scalesearch"  # a fixed namespace: Tune's trials look it up


@ray.remote(num_cpus=0)
class StopBoard:
    """Trial id -> the reason it should stop."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def request(self, trial_id: str, reason: str) -> None:
        self.reasons.setdefault(trial_id, reason)

    def reason(self, trial_id: str) -> str | None:
        return self.reasons.get(trial_id)


def stop_board(search: str) -> ray.actor.ActorHandle:
    """The search's board: the driver creates it before the first trial (it lives as long as the driver), and
    every later call, from the driver or a worker, finds it by name."""
    return StopBoard.options(name=ACTOR_PREFIX + search, namespace=NAMESPACE, get_if_exists=True).remote()


class StopRequest:
    """What a training loop asks: has the driver asked this trial to stop?"""

    def __init__(self, search: str, trial_id: str):
        self.board, self.trial_id = ray.get_actor(ACTOR_PREFIX + search, namespace=NAMESPACE), trial_id

    def __call__(self) -> bool:
        return ray.get(self.board.reason.remote(self.trial_id)) is not None
