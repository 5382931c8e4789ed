"""The searcher: Optuna, through Ray Tune's ``OptunaSearch``, proposes each trial's size and hyperparameters.

The sampler is Optuna's TPE with ``multivariate=True``: the good learning rate falls with N (Henighan Table 5),
so N and the hyperparameters must be modelled jointly, not one at a time; it is seeded, so a search repeats.
The first trials are a log-spaced ladder of sizes, largest first: a smaller model can only be stopped once a
larger one's curve is there to beat it. They take the middle of each hyperparameter's range; with a compute
ladder, a tuned learning rate takes it at the ladder's middle size and follows ``ladder.lr_exponent`` along N
from there (search/ladder.py's ``transfer_lr``), as the ladder's later sizes do.

What Optuna minimises is not a trial's final loss (trials stop at different compute, so those do not compare)
but its distance to the frontier at equal compute (``SearchState.frontier_excess``): negative for a trial that
set the frontier, positive for one that never reached it. The N range is read from the shared state at each
suggestion, so range control widens what Optuna samples.

With a compute ladder, the trials it queues (``state.queued``, search/ladder.py) run first: a new size is put in
Optuna's study with ``Study.enqueue_trial`` (through a study handle on the same storage), so Optuna proposes it and
learns from it; a continuation extends a trial Optuna has already been told about, so it is not Optuna's.
"""

from __future__ import annotations

import math
import pickle

import optuna
from ray.tune.search.optuna import OptunaSearch

from scalesearch.search.ladder import transfer_lr
from scalesearch.search.scheduler import LOSS
from scalesearch.search.state import CONTINUES, SearchState
from scalesearch.spec import Range, SearchSpec


def _middle(r: Range) -> float:
    if r.choices is not None:
        return r.choices[len(r.choices) // 2]
    return math.sqrt(r.low * r.high) if r.log else (r.low + r.high) / 2


class FrontierSearch(OptunaSearch):
    """``OptunaSearch`` whose objective is the trial's distance to the compute frontier."""

    def __init__(self, spec: SearchSpec, state: SearchState):
        self.spec, self.state = spec, state
        self.continuations: set[str] = set()  # trial ids that continue another trial's curve
        # The sizes of the trials waiting in Optuna's study (its points_to_evaluate, then each size the ladder
        # enqueues), in the order Optuna hands them out, and the size of the one being suggested, while it is.
        self.waiting: list[float] = list(spec.ladder_sizes)
        self.fixed_n: float | None = None
        # Optuna's own storage and study name, so that a second handle on the study can enqueue trials.
        self.storage, self.study_name = optuna.storages.InMemoryStorage(), f"scalesearch-{spec.seed}"
        sampler = (optuna.samplers.TPESampler(seed=spec.seed, multivariate=True, n_startup_trials=len(spec.ladder_sizes))
                   if spec.sampler == "tpe" else optuna.samplers.RandomSampler(seed=spec.seed))
        middle = {name: _middle(r) for name, r in spec.hyperparameters.items()}
        sizes = spec.ladder_sizes
        n_middle = math.sqrt(sizes[0] * sizes[-1])
        state.proposed.update(sizes)
        super().__init__(space=self.define_trial, metric=LOSS, mode="min", sampler=sampler,
                         study_name=self.study_name, storage=self.storage,
                         points_to_evaluate=[{"n_params": n, **transfer_lr(spec, middle, n_middle, n)}
                                             for n in sizes])

    def suggest(self, trial_id: str) -> dict | None:
        """The ladder's queued trials first (module docstring), then Optuna's."""
        if self.state.queued:
            config = self.state.queued.pop(0)
            if CONTINUES in config:
                self.continuations.add(trial_id)
                return config
            optuna.load_study(study_name=self.study_name, storage=self.storage).enqueue_trial(config)
            self.waiting.append(float(config["n_params"]))
        self.fixed_n = self.waiting.pop(0) if self.waiting else None
        try:
            return super().suggest(trial_id)
        finally:
            self.fixed_n = None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.continuations:
            super().on_trial_result(trial_id, result)

    def define_trial(self, trial: optuna.Trial) -> None:
        """Define-by-run: N in the current range, then the hyperparameters the spec tunes. A waiting size (an
        initial or a queued one) that range control has since moved out of the range widens it for its own
        trial, so that Optuna records the size the trial runs in a distribution that holds it."""
        low, high = self.state.n_range
        if self.fixed_n is not None:
            low, high = min(low, self.fixed_n), max(high, self.fixed_n)
        trial.suggest_float("n_params", low, high, log=True)
        for name, r in self.spec.hyperparameters.items():
            if r.choices is not None:
                trial.suggest_categorical(name, r.choices)
            else:
                trial.suggest_float(name, r.low, r.high, log=r.log)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self.continuations:
            return
        if result is not None and trial_id in self.state.curves:
            result = {**result, LOSS: self.state.frontier_excess(trial_id)}
        super().on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        """Optuna's study and trials; not the shared state (the recorder saves it) nor the bound space."""
        kept = {k: v for k, v in self.__dict__.items() if k not in ("state", "spec", "_space")}
        with open(checkpoint_path, "wb") as f:
            pickle.dump(kept, f)
