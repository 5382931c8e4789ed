"""Starting, resuming and finishing a search: the Tune experiment, its MLflow parent run, and the final fit.

A search named ``NAME`` lives in ``<storage>/NAME`` (Tune's experiment directory, default ``./runs/NAME``) with
``search.json`` beside Tune's state: the spec, the tracking URI and the parent run, which is all that
``scalesearch resume NAME`` needs after the driver was killed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ray
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from scalesearch.data import make_domain, prepare
from scalesearch.job import ensure_ray, job_params, on_cluster
from scalesearch.search.control import SearchStopper, refit
from scalesearch.search.ladder import ComputeLadder
from scalesearch.search.recorder import SearchRecorder, load_curves
from scalesearch.search.scheduler import FrontierScheduler
from scalesearch.search.searcher import FrontierSearch
from scalesearch.search.state import SearchState
from scalesearch.search.stops import stop_board
from scalesearch.search.trials import gpus_of, job_for_trial, make_trainable, trial_resources
from scalesearch.shapes import get_family
from scalesearch.spec import Spec, SpecError, parse_spec
from scalesearch.tracking import check_tracking, resolve_tracking_uri, start_run

SEARCH_FILE = "search.json"
# Without Tune's file loggers its result summary warns about each trial; MLflow is the record here.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
# Tune saves its experiment state every 10 s or more by default; a killed driver would lose that much (DESIGN §7).
# Tune's own result.json/CSV/TensorBoard loggers are off: MLflow holds every report. Tune's own Ctrl-C handler is
# off: with it, Tune returns from fit() as if the search had ended, and the search would say it finished.
TUNE_ENV = {"TUNE_GLOBAL_CHECKPOINT_S": "0.5", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
            "TUNE_DISABLE_SIGINT_HANDLER": "1"}


@contextmanager
def _tune_env() -> Iterator[None]:
    """Tune reads these settings from the environment when an experiment starts; set them for this one only."""
    saved = {key: os.environ.get(key) for key in TUNE_ENV}
    os.environ.update(TUNE_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class SearchError(RuntimeError):
    """A search that cannot start or resume; the message says why and what to do."""


@dataclass(frozen=True)
class SearchOutcome:
    name: str
    parent_run_id: str
    finished: str
    fit: dict | None
    trials: int
    spent_flops: float


def check_search(spec: Spec) -> None:
    """Everything that can be wrong before a trial starts: missing section, budget, domain, resources."""
    if spec.search is None:
        raise SpecError("the spec has no search section: add `search: {n_params: [N_min, N_max], ...}` "
                        "(see search_spaces/demo/text.yaml), or use `scalesearch train` for one job")
    make_domain(spec.domain.name, **spec.domain.options)  # an unknown domain or option fails here
    if spec.search.backend == "ray_train":
        family = get_family(spec.model.family)
        low, high = spec.search.limits
        if low < family.n_params_min or high > family.n_params_max:
            raise SpecError(f"search.n_params_limits [{low:.3g}, {high:.3g}] leave what family "
                            f"{spec.model.family!r} can build, [{family.n_params_min:.3g}, "
                            f"{family.n_params_max:.3g}]: narrow the limits (or n_params)")
    budget = spec.search.stop.budget_flops
    if budget is not None and budget < spec.budget.flops:
        raise SpecError(f"search.stop budget {budget:.3g} FLOPs is smaller than one trial's budget.flops "
                        f"{spec.budget.flops:.3g}: raise the search budget or lower budget.flops")


def check_resources(spec: Spec, ray_address: str | None = None) -> None:
    """On the local Ray instance, every size in the range limits must fit on its node, and so must
    ``max_concurrent_trials`` trials at once: an oversubscribed node leaves Ray Train worker groups waiting for
    CPUs that a placement group of a waiting trial holds (seen as trials that never report).

    Not checked on a cluster (``ray_address`` or ``$RAY_ADDRESS`` given): an autoscaling cluster starts the node
    types it needs.
    """
    if on_cluster(ray_address):
        return
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    largest: dict[str, float] = {}
    for n in spec.search.limits:
        bundle = trial_resources(spec, {"n_params": n}).required_resources
        worker = spec.resources.for_n_params(n)
        need = bundle if spec.search.backend == "simulate" else {
            "CPU": bundle["CPU"] + worker.cpus_per_worker * max(1, worker.num_workers),
            **({"GPU": float(max(1, worker.num_workers))} if worker.use_gpu else {})}
        if not any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
            raise SpecError(f"resources for N={n:.3g}: {need} fit on no node of this Ray cluster "
                            f"({[{k: v for k, v in node.items() if k in ('CPU', 'GPU')} for node in nodes]}); "
                            "change resources (or its rules) in the spec, or connect to a cluster that has them")
        largest = {k: max(v, largest.get(k, 0.0)) for k, v in need.items()}
    concurrent = spec.search.max_concurrent_trials
    total = {k: sum(node.get(k, 0.0) for node in nodes) for k in largest}
    if any(concurrent * v > total[k] + 1e-9 for k, v in largest.items()):
        raise SpecError(f"search.max_concurrent_trials = {concurrent} trials of up to {largest} each do not fit "
                        f"this Ray instance ({total}); lower max_concurrent_trials or the resources per worker "
                        "(a training trial's own process takes 0.01 CPU besides its workers)")


def _trial_params(spec: Spec, config: dict, fingerprint: str, tokens_per_item: dict) -> dict:
    if spec.search.backend == "simulate":
        return {**config, "backend": "simulate", "domain": spec.domain_label, "law": spec.simulate.model_dump_json()}
    return job_params(job_for_trial(spec, config), fingerprint, tokens_per_item)


def _components(spec: Spec, uri: str, parent_run_id: str, storage: Path, cache_dir: str | None,
                fingerprint: str, tokens_per_item: dict) -> tuple:
    ladder = spec.search.ladder
    state = SearchState(n_range=tuple(spec.search.n_params), cap=ladder.start_flops if ladder else None)
    recorder = SearchRecorder(spec, state, uri, parent_run_id,
                              trial_params=lambda config: _trial_params(spec, config, fingerprint, tokens_per_item),
                              gpus_of=lambda n: gpus_of(spec, n))
    return state, recorder, make_trainable(spec, str(storage), cache_dir)


def _tuner(spec: Spec, state: SearchState, recorder: SearchRecorder, trainable, storage: Path,
           callbacks: list | None = None) -> tune.Tuner:
    s = spec.search
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=FrontierSearch(s, state),
            scheduler=FrontierScheduler(state, spec.budget.flops, spec.budget.reports_per_decade, s.margin,
                                        s.patience, spec.name if s.backend == "ray_train" else None,
                                        ComputeLadder(s, spec.budget.flops, s.margin) if s.ladder else None),
            num_samples=s.stop.max_trials, max_concurrent_trials=s.max_concurrent_trials,
            reuse_actors=s.backend == "simulate"),
        run_config=tune.RunConfig(name=spec.name, storage_path=str(storage), stop=SearchStopper(state, s),
                                  callbacks=[recorder, *(callbacks or [])], verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=1)),
    )


def _data(spec: Spec) -> tuple[str | None, str, dict]:
    if spec.search.backend == "simulate":
        return None, "simulated", {}
    domain = make_domain(spec.domain.name, **spec.domain.options)
    return str(prepare(domain).parent), domain.fingerprint(), domain.tokens_per_item


def run_search(spec: Spec, tracking_uri: str | None = None, storage: str | Path | None = None,
               ray_address: str | None = None, callbacks: list | None = None) -> SearchOutcome:
    """Run the adaptive search ``spec`` describes until it ends by itself; returns why and the last fit.
    ``callbacks``: more Tune callbacks to watch the search (a benchmark's trace); not restored by a resume."""
    check_search(spec)
    uri = resolve_tracking_uri(tracking_uri or spec.tracking.uri)
    check_tracking(uri)
    storage = Path(storage or Path.cwd() / "runs").resolve()
    home = storage / spec.name
    if (home / SEARCH_FILE).exists():
        raise SearchError(f"a search named {spec.name!r} exists in {home}: continue it with `scalesearch resume "
                          f"{spec.name}`, or give the spec another name")
    ensure_ray(ray_address, worker_output=False)
    check_resources(spec, ray_address)
    cache_dir, fingerprint, tokens_per_item = _data(spec)

    client = MlflowClient(uri)
    parent = start_run(client, spec.experiment, run_name=f"search-{spec.name}",
                       params={"spec": spec.model_dump_json(), "backend": spec.search.backend,
                               "domain": spec.domain_label, "budget_flops": spec.search.stop.budget_flops,
                               "flops_count": spec.budget.count, "n_params_range": list(spec.search.n_params)},
                       tags={"scalesearch.role": "search", "scalesearch.status": "running"})
    home.mkdir(parents=True, exist_ok=True)
    (home / SEARCH_FILE).write_text(json.dumps({"spec": spec.model_dump(mode="json"), "tracking_uri": uri,
                                                "parent_run_id": parent, "storage": str(storage)}, indent=1))
    state, recorder, trainable = _components(spec, uri, parent, storage, cache_dir, fingerprint, tokens_per_item)
    print(f"search {spec.name!r}: MLflow run {parent} in {uri}; Tune experiment {home}")
    return _finish(spec, _tuner(spec, state, recorder, trainable, storage, callbacks), uri, parent, storage)


def resume_search(name: str, storage: str | Path | None = None, ray_address: str | None = None) -> SearchOutcome:
    """Continue a search whose driver stopped: finished trials stay done, running ones resume from checkpoints."""
    home = Path(storage or Path.cwd() / "runs").resolve() / name
    if not (home / SEARCH_FILE).exists():
        raise SearchError(f"no search named {name!r} in {home.parent} (no {SEARCH_FILE}); pass --storage where "
                          "it was started")
    saved = json.loads((home / SEARCH_FILE).read_text())
    spec = parse_spec(saved["spec"], str(home / SEARCH_FILE))
    uri, parent, storage = saved["tracking_uri"], saved["parent_run_id"], Path(saved["storage"])
    check_tracking(uri)
    ensure_ray(ray_address, worker_output=False)
    cache_dir, fingerprint, tokens_per_item = _data(spec)
    if not tune.Tuner.can_restore(str(home)):
        raise SearchError(f"{home} holds no Tune experiment state yet (the driver died before the first "
                          "checkpoint): start the search again after removing that directory")
    _, _, trainable = _components(spec, uri, parent, storage, cache_dir, fingerprint, tokens_per_item)
    # The scheduler, searcher and recorder come back from Tune's pickles, sharing one state as before; the
    # recorder's saved state brings back the trial-to-run map and re-reads the curves from MLflow.
    tuner = tune.Tuner.restore(str(home), trainable, resume_unfinished=True, resume_errored=True)
    MlflowClient(uri).set_tag(parent, "scalesearch.status", "running")
    MlflowClient(uri).update_run(parent, "RUNNING")
    print(f"resuming search {name!r}: MLflow run {parent}")
    return _finish(spec, tuner, uri, parent, storage)


def _finish(spec: Spec, tuner: tune.Tuner, uri: str, parent: str, storage: Path) -> SearchOutcome:
    """Run the Tune experiment to its end, then fit the frontier on everything MLflow holds for the search."""
    client = MlflowClient(uri)
    # Before any trial asks for it; held here, since an actor without a handle is collected.
    board = stop_board(spec.name) if spec.search.backend == "ray_train" else None
    try:
        with _tune_env():
            results = tuner.fit()
        search_run = client.get_run(parent)  # its tags as the recorder left them at the experiment's end
        children = client.search_runs([search_run.info.experiment_id], max_results=50000,
                                      filter_string=f"tags.mlflow.parentRunId = '{parent}'")
        # Tune stops on its own signals (SIGINT, SIGUSR1) and returns as if done: with a trial running, or between
        # two, before the search ended itself (a reason) or had all its trials (continuations count as trials).
        ended = "scalesearch.finished_reason" in search_run.data.tags
        if any(run.data.tags.get("scalesearch.status") == "running" for run in children) or (
                not ended and len(results) < spec.search.stop.max_trials):
            raise KeyboardInterrupt
    except BaseException as err:
        client.set_tag(parent, "scalesearch.status", "interrupted")
        client.set_terminated(parent, "KILLED")
        if isinstance(err, KeyboardInterrupt):
            raise KeyboardInterrupt(f"search {spec.name!r} interrupted; continue it with `scalesearch resume "
                                    f"{spec.name} --storage {storage}`") from None
        raise
    finally:
        del board  # the trials are done with it
    children = [run for run in children if run.data.tags.get("scalesearch.status") != "lost"]
    state = SearchState(n_range=tuple(spec.search.n_params))
    load_curves(client, {r.data.tags["scalesearch.trial_id"]: r.info.run_id for r in children}, state)
    fit = refit(state, spec.search, seed=spec.search.seed)
    finished = (search_run.data.tags.get("scalesearch.finished_reason")
                or f"no more trials ({spec.search.stop.max_trials} at most)")
    client.log_dict(parent, {"finished": finished, "final_fit": fit}, "search/final_fit.json")
    client.log_batch(parent, tags=[RunTag("scalesearch.status", "finished"),
                                   RunTag("scalesearch.finished_reason", finished)])
    client.set_terminated(parent, "FINISHED")
    print(f"search {spec.name!r} ended: {finished}")
    return SearchOutcome(spec.name, parent, finished, fit, len(children), state.spent_flops)
