"""Compute spent until the frontier exponents are accurate: grid, IsoFLOP, Optuna+ASHA and scalesearch (issue 5).

    python benchmarks/search_efficiency.py [--seeds 5] [--quick] [--json] [--trace] [--throughput-trials 500]
                                           [--concurrent 2] [--ladder-factor 10] [--lr-sensitivity 0.05]
                                           [--run-noise 0.002]
                                           [--truth chinchilla|kaplan|cross] [--estimator frontier|chinchilla_mean]

**Truth and accuracy.** Every method sees the same simulator (``search/simulator.py`` with ``SimulateSpec``'s
defaults: Besiroglu et al.'s Chinchilla law, learning-rate optimum falling as ``N^-0.25`` with sensitivity 0.05,
noise 0.3% per report and 0.2% per run) and the same range of sizes ``N in [3e7, 3e9]`` (where ``N_opt(C)`` runs
from 1.5e17 to 1.1e21 FLOPs). A method is accurate when its ``beta`` (N_opt exponent) is within 0.03 and its
``alpha_C`` within 0.02 of the closed-form truth (0.5126, 0.1783), with a fit the library calls ``ok``. Its figure
is the compute (FLOPs, summed over trials) from which it is accurate **and stays so** to the end of its ladder or
run: a method that is right by chance at one step and wrong at the next is not counted as there. Seeds are noise
seeds (``search.seed``, which also seeds the Tune methods' samplers); figures are medians over seeds, and the
ratios are of the medians. A method that is not accurate by its last step counts as infinite compute.

**The four methods.**

- (a) **grid** (the paper's): ``--grid-sizes`` (7) log-spaced sizes over the range, each trained to ``C_max``, for
  ``C_max`` on a ladder (4 a decade, 1e19 .. 1e22); compute ``K * C_max``. Frontier fit (``fit_law(...,
  "frontier")``: ``alpha_C`` from the hull of ``L(C)``, ``beta`` from the crossings).
- (b) **IsoFLOP** (Chinchilla's approach 2): budgets ascending (3 a decade, 3e17 .. 1e21, all inside the range's
  ``N_opt``), added one at a time; at each, 5 sizes a factor 2 apart, centred on the true ``N_opt(C)`` (an
  oracle: generous, a practitioner without it trains more sizes) and kept inside the range, each trained to
  exactly that budget. A parabola in ``log N`` through the final losses gives the minimum (``N_opt``, ``L_min``)
  of each budget whose vertex lies inside its sizes; ``beta`` is the slope of ``log N_opt`` on ``log C``
  (``PurePowerLaw``), ``alpha_C`` the exponent of ``L_min(C) = L_inf + (C0/C)^alpha_C``
  (``PowerLawWithConstant``, >= 4 budgets). Compute: the sum over the budgets so far of 5 x budget.
- ``isoflop_read_by_<estimator>``: the same IsoFLOP runs (one per size and budget) read by (d)'s estimator on
  every report of every run, as (d) is read: like against like. With ``--estimator chinchilla_mean`` it shows
  what that reading owes to the simulator, where every report of every run is a point of the truth's
  ``L(N, D)`` (on real runs, reports part-way through a decaying schedule are not).
- The truth's exponents are the same at every scale, so (a) and (b) as above may get them from the lower part of
  the range only (a grid at ``C_max`` = 3e20 never puts its two largest sizes on the frontier). ``*_whole_range``
  asks them for what (c) and (d) deliver, the frontier over the whole range up to ``C_max`` = 1e21 (where
  ``N_opt`` is the range's top): the grid with ``K`` = 4, 5, 6, 7, 9, 11, 13 sizes trained to 1e21, IsoFLOP with
  4 .. 12 budgets spread over 3e17 .. 1e21. Both readings are reported, with their ratios.
- (a) and (b) train every size at its optimal learning rate (the paper took them from an earlier sweep, Table 5;
  that sweep's compute is not counted) and their compute is fixed by design, so they are evaluated on the
  simulator's curves directly (``trials.simulated_curve``, exactly what a simulated Tune trial would report);
  no Tune run is needed.
- (c) **Optuna + ASHA** as a user would set it up today, through real Ray Tune: ``OptunaSearch`` (TPE, seeded)
  over ``n_params`` and ``lr`` (log-uniform, same ranges), ``ASHAScheduler(time_attr="compute", max_t=C_max,
  grace_period=C_max/1000, reduction_factor=4)`` minimising the held-out loss, 2 trials at a time; the frontier
  fit on every curve it produced. "More samples until accurate" is read off one run of ``--asha-samples``: TPE
  and ASHA are sequential and asynchronous, so a run of k samples is the first k trials of a longer one.
- (d) **scalesearch**: ``run_search`` on a ``simulate`` spec (same ``C_max``, ranges, reports, concurrency;
  ``n_params_limits`` = the range, so range control cannot look beyond what the others were given; its own
  searcher, scheduler and refits with the default bootstrap) with a **compute ladder** (``LADDER``,
  search/ladder.py): per-trial caps 1e18, 1e19, 1e20, then ``C_max``, each raised once the frontier at it is
  settled, starting on the low end of the range (``LADDER_START_RANGE``, 3e7..2.7e8; range control and the
  ladder move it up to the limits). The search ends by itself once the frontier at ``C_max`` is settled; its
  precision stop is turned off so that otherwise the run goes on to ``--search-trials`` (or 30 ``C_max`` of
  compute; continuations of trials count as trials); where it **would have stopped by precision** (the first
  refit of >= 6 runs whose 95% CIs are narrower than the default targets, beta 0.06 and alpha_C 0.04, by the
  search's own ``control.precision_reached``) is read from the refits it logged to MLflow
  (``search/refits.json``), with its error there.
- (c) and (d) are evaluated the same way: after every finished trial, the frontier fit (for (d): its
  ``search.estimator``'s fit, ``--estimator``) on all curves so far (running trials' partial curves included),
  at the compute spent so far (every trial's latest report). For (d) this is the fit a search refitting after
  every trial would hold.
- ``--estimator chinchilla_mean``: (d) with ``search.estimator: chinchilla_mean``, its refits (range control,
  precision stop) and its reading ``L(N, D)`` fitted to every report as a generalised mean of Chinchilla's terms
  (``ChinchillaLaw(free_gamma=True)``, a form that holds both Chinchilla's and Kaplan's). The other estimators
  read the same snapshots (``scalesearch_read_by_*``): the frontier fit; **approach 3** (Chinchilla's additive
  ``L(N, D)``), not a method to adopt but a control: it is right early where the truth has exactly its form, and
  with Kaplan's form (same exponents) 0.05 off on beta and 0.08 on alpha_C even on a full grid
  (benchmarks/estimator_form.py). ``--truth kaplan`` runs every method on Kaplan's non-additive form
  (``KnownLaw.kaplan_form``, frontier exponents within 0.002 of the default truth's, N_opt within 10%),
  ``--truth cross`` on Chinchilla's terms with a cross term (``kappa = 1``, outside the mean's family; the same
  exponents, N_opt within 4%).

**Speed** (same run): the ``FrontierScheduler``'s time per ``on_trial_result`` call (median and 95th
percentile), and simulated trials per second through Tune of a search of ``--throughput-trials`` trials
(scalesearch's own search without the compute ladder, which would end it by itself, precision stop off, wall time
of the Tune experiment and the final fit; Ray start and the MLflow store's creation are not counted); the
comparison's searches give the decision times with the ladder. Goal: 500 trials in 5 minutes on the 2-core
machine.

``--quick``: one seed, 8 trials for (c) and (d), no separate throughput run (the comparison's own search gives
it): a smoke test of every part, too short for (c) or (d) to be accurate. Most of its time is Ray's start and
the two Tune runs: 68 s on the 2-core machine at load 4-5, about 3 minutes while it was shared at load 15-30.
``--seeds 0 --throughput-trials 500``: the throughput run alone. ``--json``: the figures per method (``compute``, ``beta_error``, ``alpha_C_error``), the ratios and
the speed as the last line. ``--trace``: scalesearch's fit (no bootstrap) after every finished trial, with its
errors, on stderr. ``--concurrent 1``: (c) and (d) run one trial at a time, so their figures repeat exactly from run
to run; with 2 (the default, as a user runs) the order in which two trials' reports reach the driver depends on
timing, and so do the search's decisions and figures (benchmarks/RESULTS.md). ``--ladder-factor``: the rise of
scalesearch's cap per level. ``--lr-sensitivity 0``: the learning rate no longer matters, as if every method got
the optimal one (a) and (b) are given, so what is left of the gap is the search's design, not its lr search.
``--run-noise 0``: no run-to-run offset, so runs differ only by their points' noise (what averaging many runs, as
IsoFLOP's parabolas do, gains over the envelope's minimum of a few).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from estimator_form import TRUTHS, approach3_estimates
from scalesearch.fits import FitFailedError, FitInputError, fit_law
from scalesearch.fits.powerlaw import PowerLawWithConstant, PurePowerLaw
from scalesearch.job import ensure_ray
from scalesearch.search.control import precision_reached
from scalesearch.search.recorder import REFITS_FILE
from scalesearch.search.run import _tune_env, run_search
from scalesearch.search.scheduler import COMPUTE, LOSS, FrontierScheduler
from scalesearch.search.simulator import SimulatedLaw
from scalesearch.search.state import SearchState, curve_id
from scalesearch.search.trials import make_trainable, simulated_curve
from scalesearch.spec import SimulateSpec, StopSpec, parse_spec

SIMULATE: dict = {}  # the simulate section of every spec (--lr-sensitivity, --truth); the lr optimum does not change
SIM = SimulatedLaw(SimulateSpec())  # --truth kaplan replaces it
TRUTH = {"beta": SIM.truth.beta_opt, "alpha_C": SIM.truth.alpha_c}
ESTIMATOR = {"name": "frontier"}  # scalesearch's search.estimator (--estimator); (d) is read with it
TOLERANCE = {"beta": 0.03, "alpha_C": 0.02}
N_RANGE = (3e7, 3e9)
LR_RANGE = (3e-5, 3e-3)
C_MAX = 1e21
REPORTS_PER_DECADE, FIRST_REPORT = 8, 1e-4
CONCURRENT = 2
STOP_TARGETS = StopSpec()  # the precision a search stops at by default: CI widths beta 0.06, alpha_C 0.04
ISOFLOP_BUDGETS = np.geomspace(3e17, 1e21, 11)  # (b)'s, 3 a decade inside the range's N_opt
# scalesearch's compute ladder: per-trial caps 1e18, 1e19, 1e20, C_max, starting on the low end of the range.
LADDER = {"start_flops": 1e18, "factor": 10.0}
LADDER_START_RANGE = (N_RANGE[0], 9 * N_RANGE[0])


def sim_spec(name: str, seed: int, c_max: float = C_MAX, **search):
    """A ``simulate`` spec on the common truth, range and reports; ``search`` overrides the search section."""
    stop = {"beta_ci_width": None, "flops": 30 * C_MAX, **search.pop("stop", {})}
    return parse_spec({
        "name": name,
        "budget": {"flops": c_max, "reports_per_decade": REPORTS_PER_DECADE, "first_report_fraction": FIRST_REPORT},
        "search": {"backend": "simulate", "n_params": list(N_RANGE), "n_params_limits": list(N_RANGE),
                   "initial_sizes": 5, "hyperparameters": {"lr": {"low": LR_RANGE[0], "high": LR_RANGE[1]}},
                   "max_concurrent_trials": CONCURRENT, "seed": seed, "stop": stop, **search},
        "resources": {"cpus_per_worker": 0.5}, "simulate": SIMULATE,
    })


# Accuracy -------------------------------------------------------------------------------------------------------

def errors(estimates: dict | None) -> dict:
    """|estimate - truth| per exponent (NaN without an ok fit) and whether both are within tolerance."""
    found = {name: abs(estimates[name] - TRUTH[name]) if estimates else math.nan for name in TRUTH}
    return {**{f"{name}_error": e for name, e in found.items()},
            "accurate": all(found[name] <= TOLERANCE[name] for name in TRUTH)}


def frontier_estimates(table) -> dict | None:
    """beta and alpha_C of the library's frontier fit (no bootstrap), None where it fails or is not ok."""
    try:
        fit = fit_law(table, "frontier")
    except (FitInputError, FitFailedError):
        return None
    if not fit.ok:
        return None
    return {name: fit.estimator.params_[name] for name in TRUTH}


# How (d)'s snapshots are read: with its search.estimator, and by the others as controls
READERS = {"frontier": frontier_estimates, "approach3": approach3_estimates,
           "chinchilla_mean": lambda table: approach3_estimates(table, free_gamma=True)}


def accurate_from(steps: list[tuple[float, Callable[[], dict | None]]]) -> dict:
    """The compute from which every later step is accurate, scanning backwards (estimates are lazy: once a step
    is inaccurate, the earlier ones do not matter); with the errors at the last step."""
    compute, last = math.inf, None
    for spent, estimate in reversed(steps):
        found = errors(estimate())
        last = found if last is None else last
        if not found["accurate"]:
            break
        compute = spent
    return {"compute": compute, **{k: v for k, v in (last or errors(None)).items() if k != "accurate"},
            "end_compute": steps[-1][0] if steps else math.nan}


# (a) grid and (b) IsoFLOP: the simulator's curves directly ------------------------------------------------------

def curve_table(spec, sizes, run_prefix: str = "") -> list:
    """Each size trained to the spec's budget at its optimal learning rate: rows for the fits library."""
    rows = []
    for n in sizes:
        points, _, losses = simulated_curve(spec, {"n_params": float(n), "lr": SIM.lr_optimum(n)})
        rows += [{"run": f"{run_prefix}N{n:.4g}", "n_params": float(n), "compute": c, "loss": loss}
                 for c, loss in zip(points, losses)]
    return rows


def grid(seed: int, designs: list[tuple[int, float]]) -> dict:
    """Designs (K sizes log-spaced over the range, each trained to C_max) in the order of the ladder."""
    def estimate(k: int, c_max: float) -> dict | None:
        return frontier_estimates(pd.DataFrame(curve_table(sim_spec("grid", seed, c_max), np.geomspace(*N_RANGE, k))))
    return accurate_from([(k * c, lambda k=k, c=c: estimate(k, c)) for k, c in designs])


def isoflop_sizes(budget: float, count: int = 5, ratio: float = 2.0) -> np.ndarray:
    """``count`` sizes a factor ``ratio`` apart around the true N_opt(budget), shifted to lie inside the range."""
    half = ratio ** ((count - 1) / 2)
    centre = min(max(float(SIM.truth.n_opt(budget)), N_RANGE[0] * half), N_RANGE[1] / half)
    return centre * ratio ** (np.arange(count) - (count - 1) / 2)


def isoflop_minimum(sizes: np.ndarray, final: list[float]) -> tuple[float, float] | None:
    """Chinchilla approach 2 at one budget: parabola of the final loss in log N; its vertex if inside the sizes."""
    a, b, c = np.polyfit(np.log(sizes), final, 2)
    vertex = -b / (2 * a)
    if a <= 0 or not np.log(sizes[0]) < vertex < np.log(sizes[-1]):
        return None
    return float(np.exp(vertex)), float(c - b * b / (4 * a))


def isoflop_estimates(minima: list[tuple[float, float, float]]) -> dict | None:
    if len(minima) < 4:
        return None
    compute, n_opt, loss = map(np.array, zip(*minima))
    try:
        beta, alpha = PurePowerLaw().fit(compute, n_opt), PowerLawWithConstant().fit(compute, loss)
    except (FitInputError, FitFailedError):
        return None
    if not (beta.ok_ and alpha.ok_):
        return None
    return {"beta": beta.params_["beta"], "alpha_C": alpha.params_["alpha"]}


def isoflop_design(seed: int, budgets: np.ndarray) -> tuple[float, list[tuple[float, float, float]], pd.DataFrame]:
    """Compute, approach 2's minima (budget, N_opt, L_min) and every report of IsoFLOP profiles at ``budgets``
    (one run per size and budget, as a practitioner trains them: a schedule is set by the run's length)."""
    minima, spent, rows = [], 0.0, []
    for budget in budgets:
        sizes = isoflop_sizes(budget)
        spent += len(sizes) * budget
        runs = pd.DataFrame(curve_table(sim_spec("isoflop", seed, budget), sizes, run_prefix=f"C{budget:.3g}/"))
        found = isoflop_minimum(sizes, runs.groupby("run", sort=False)["loss"].last().tolist())
        if found:
            minima.append((budget, *found))
        rows.append(runs)
    return spent, minima, pd.concat(rows, ignore_index=True)


def isoflop(seed: int, ladder: list[np.ndarray], read: Callable | None = None) -> dict:
    """Designs (sets of budgets) in the order of the ladder, read by approach 2 or, given ``read``, by an
    estimator of (d) on every report of their runs (``isoflop_read_by_*``: like against like)."""
    designs = [isoflop_design(seed, budgets) for budgets in ladder]
    return accurate_from([(spent, (lambda t=table: read(t)) if read else (lambda m=minima: isoflop_estimates(m)))
                          for spent, minima, table in designs])


# (c) and (d): real Ray Tune --------------------------------------------------------------------------------------

class Trace(Callback):
    """Every report of a Tune run in the order the driver saw them; a snapshot of all curves at each finished
    trial (compute spent so far, the table the fits read)."""

    def __init__(self) -> None:
        self.state = SearchState(n_range=N_RANGE)
        self.snapshots: list[tuple[float, object]] = []

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if result.get(LOSS) is not None and result.get(COMPUTE) is not None:
            self.state.add(curve_id(trial.trial_id, trial.config), float(trial.config["n_params"]), result[COMPUTE],
                           result[LOSS])

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.snapshots.append((self.state.spent_flops, self.state.table()))

    def evaluated(self, read: Callable = frontier_estimates) -> dict:
        return accurate_from([(spent, lambda t=table: read(t)) for spent, table in self.snapshots])


@contextmanager
def timed(cls: type, method: str, sink: list[float]) -> Iterator[None]:
    """Time every call of ``cls.method`` (seconds into ``sink``) while the block runs."""
    original = getattr(cls, method)

    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            sink.append(time.perf_counter() - start)

    setattr(cls, method, wrapper)
    try:
        yield
    finally:
        setattr(cls, method, original)


def asha(seed: int, samples: int, storage: Path) -> dict:
    spec = sim_spec(f"asha-{seed}", seed)
    trace = Trace()
    tuner = tune.Tuner(
        make_trainable(spec, str(storage), None),
        param_space={"n_params": tune.loguniform(*N_RANGE), "lr": tune.loguniform(*LR_RANGE)},
        tune_config=tune.TuneConfig(
            metric=LOSS, mode="min", num_samples=samples, max_concurrent_trials=CONCURRENT, reuse_actors=True,
            search_alg=OptunaSearch(seed=seed),
            scheduler=ASHAScheduler(time_attr=COMPUTE, max_t=C_MAX, grace_period=C_MAX / 1000, reduction_factor=4)),
        run_config=tune.RunConfig(name=spec.name, storage_path=str(storage), callbacks=[trace], verbose=0))
    with _tune_env():
        tuner.fit()
    return {**trace.evaluated(), "trials": len(trace.state.curves)}


def self_stop(client: MlflowClient, parent: str) -> dict:
    """Where the search would have ended by itself: the first refit it logged (search/refits.json) at which
    ``control.precision_reached`` says so with the default targets. The earliest it could: a search with the stop
    on confirms such a refit with 1,000 resamples first (``control.confirmed``), which this one, its stop off,
    never drew."""
    refits = mlflow.artifacts.load_dict(f"{client.get_run(parent).info.artifact_uri}/{REFITS_FILE}")
    for step, fit in enumerate(refits, 1):  # numbered as the parent run's fit/ metric steps
        if precision_reached(fit, STOP_TARGETS, fit.get("range_moved", False)):
            found = errors({"beta": fit["beta"]["value"], "alpha_C": fit["alpha_C"]["value"]})
            return {"compute": fit["spent_flops"], "beta_error": found["beta_error"],
                    "alpha_C_error": found["alpha_C_error"], "refit": step}
    return {"compute": math.inf, "beta_error": math.nan, "alpha_C_error": math.nan, "refit": None}


def scalesearch(seed: int, trials: int, storage: Path, uri: str, evaluate: bool = True,
                show_trace: bool = False) -> dict:
    """The search's figures; ``evaluate=False``: its speed only, with no compute cap and no compute ladder, so
    that all ``trials`` run (a ladder search ends by itself once the level at C_max is settled: 11 trials on seed
    10000); ``show_trace``: the fit after every finished trial to stderr, to see where accuracy comes from."""
    if evaluate:
        spec = sim_spec(f"scalesearch-{seed}-{trials}", seed, stop={"max_trials": trials}, ladder=LADDER,
                        n_params=list(LADDER_START_RANGE), estimator=ESTIMATOR["name"])
    else:
        spec = sim_spec(f"scalesearch-{seed}-{trials}", seed, stop={"max_trials": trials, "flops": 1e30})
    trace, decisions = Trace(), []
    with timed(FrontierScheduler, "on_trial_result", decisions):
        start = time.perf_counter()
        outcome = run_search(spec, tracking_uri=uri, storage=storage, callbacks=[trace])
        seconds = time.perf_counter() - start
    speed = {"trials": outcome.trials, "seconds": seconds, "trials_per_s": outcome.trials / seconds,
             "decisions": len(decisions), "decision_ms_median": 1e3 * statistics.median(decisions),
             "decision_ms_p95": 1e3 * float(np.percentile(decisions, 95))}
    if not evaluate:
        return {"speed": speed}
    if show_trace:
        for i, (spent, table) in enumerate(trace.snapshots, 1):
            found = READERS[ESTIMATOR["name"]](table)
            print(f"seed {seed}, trial {i:2d} ended: {spent:9.3g} FLOPs spent, " + (", ".join(
                f"{name} {found[name]:.4f} ({found[name] - TRUTH[name]:+.4f})" for name in TRUTH) if found
                else "no ok fit"), file=sys.stderr, flush=True)
    return {**trace.evaluated(READERS[ESTIMATOR["name"]]),
            "self_stop": self_stop(MlflowClient(uri), outcome.parent_run_id), "trials": outcome.trials,
            "speed": speed, "readings": {f"scalesearch_read_by_{name}": trace.evaluated(read)
                                         for name, read in READERS.items() if name != ESTIMATOR["name"]}}


# The comparison --------------------------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan  # --seeds 0: the throughput run alone


def clocked(method: Callable[..., dict], *args) -> dict:
    """The method's figures with the seconds it took (Tune runs and the fits that evaluate them)."""
    start = time.perf_counter()
    found = method(*args)
    return {**found, "seconds": time.perf_counter() - start}


def summarise(rows: list[dict]) -> dict:
    return {"compute": median([r["compute"] for r in rows]),
            "beta_error": median([r["beta_error"] for r in rows]),
            "alpha_C_error": median([r["alpha_C_error"] for r in rows]),
            "accurate_seeds": sum(math.isfinite(r["compute"]) for r in rows), "seeds": len(rows),
            "per_seed": [r["compute"] for r in rows], "seconds": sum(r["seconds"] for r in rows)}


def finite(value):
    """JSON has no infinity: not reached (inf) and undefined (NaN) figures become null."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def main() -> None:
    global CONCURRENT, SIM  # --concurrent sets it for sim_spec and asha, --truth the simulator
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--grid-sizes", type=int, default=7)
    parser.add_argument("--asha-samples", type=int, default=64)
    parser.add_argument("--search-trials", type=int, default=60)
    parser.add_argument("--throughput-trials", type=int, default=500, help="0: skip the throughput run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--concurrent", type=int, default=CONCURRENT,
                        help="trials at a time for (c) and (d); 1 makes their figures repeat exactly")
    parser.add_argument("--ladder-factor", type=float, default=LADDER["factor"],
                        help="scalesearch's compute ladder: the cap rises by this factor (from 1e18)")
    parser.add_argument("--lr-sensitivity", type=float, default=SimulateSpec().lr_sensitivity,
                        help="the simulator's learning-rate sensitivity, for every method; 0: any lr is optimal, "
                             "so scalesearch's lr search costs nothing (the grid and IsoFLOP get optimal lrs anyway)")
    parser.add_argument("--run-noise", type=float, default=SimulateSpec().run_noise,
                        help="the simulator's run-to-run offset (sd, multiplicative), for every method; 0: runs "
                             "differ only by their points' noise, so what a method gains by averaging many runs "
                             "(IsoFLOP's parabolas) against taking a minimum over few (the frontier's envelope) shows")
    parser.add_argument("--trace", action="store_true",
                        help="print scalesearch's beta and alpha_C (and their errors) after every finished trial")
    parser.add_argument("--truth", choices=list(TRUTHS), default="chinchilla",
                        help="the simulator's L(N, D) for every method: chinchilla (additive, the default), "
                             "kaplan (non-additive) or cross (a cross term), all with the same frontier exponents "
                             "(benchmarks/estimator_form.py)")
    parser.add_argument("--estimator", choices=["frontier", "chinchilla_mean"], default="frontier",
                        help="scalesearch's search.estimator, which (d) is read with; the others read its curves")
    args = parser.parse_args()
    ESTIMATOR["name"] = args.estimator
    CONCURRENT = args.concurrent
    truth = TRUTHS[args.truth]
    SIMULATE.update({name: getattr(truth, name)
                     for name in ("E", "A", "B", "alpha", "beta", "gamma", "kappa")})
    SIM = SimulatedLaw(SimulateSpec(**SIMULATE))
    TRUTH.update({"beta": SIM.truth.beta_opt, "alpha_C": SIM.truth.alpha_c})
    LADDER["factor"] = args.ladder_factor
    SIMULATE["lr_sensitivity"] = args.lr_sensitivity
    SIMULATE["run_noise"] = args.run_noise
    if args.quick:
        args.seeds, args.asha_samples, args.search_trials, args.throughput_trials = 1, 8, 8, 0
    budgets = ISOFLOP_BUDGETS
    ladders = {  # per method: the designs, cheapest first
        "grid": [(args.grid_sizes, c) for c in np.geomspace(1e19, 1e22, 13)],
        "isoflop": [budgets[:k] for k in range(1, len(budgets) + 1)],
        "grid_whole_range": [(k, C_MAX) for k in (4, 5, 6, 7, 9, 11, 13)],
        "isoflop_whole_range": [np.geomspace(budgets[0], budgets[-1], k) for k in range(4, 13)]}

    ensure_ray(worker_output=False)
    home = Path(tempfile.mkdtemp(prefix="search-efficiency-"))
    uri = f"sqlite:///{home / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # create the store's tables before anything is timed
    readings = [f"scalesearch_read_by_{name}" for name in READERS if name != ESTIMATOR["name"]]
    like = f"isoflop_read_by_{ESTIMATOR['name']}"  # IsoFLOP's runs read as (d) is: like against like
    baselines = (*ladders, like, "optuna_asha")
    rows: dict[str, list[dict]] = {name: [] for name in (*baselines, "scalesearch", *readings)}
    stops, speeds = [], []
    for seed in range(args.seeds):
        for name, ladder in ladders.items():
            rows[name].append(clocked((grid if name.startswith("grid") else isoflop), seed, ladder))
        rows[like].append(clocked(isoflop, seed, ladders["isoflop"], READERS[ESTIMATOR["name"]]))
        rows["optuna_asha"].append(clocked(asha, seed, args.asha_samples, home / "runs"))
        found = clocked(scalesearch, seed, args.search_trials, home / "runs", uri, True, args.trace)
        stops.append(found.pop("self_stop"))
        speeds.append(found.pop("speed"))
        for name, reading in found.pop("readings").items():
            rows[name].append({**reading, "seconds": 0.0})
        rows["scalesearch"].append(found)
        if not args.json:
            print(f"seed {seed}: " + "; ".join(f"{m} {r[-1]['compute']:.3g}" for m, r in rows.items()), flush=True)
    if args.throughput_trials:
        speeds = [scalesearch(10_000, args.throughput_trials, home / "runs", uri, evaluate=False)["speed"]]

    methods = {name: summarise(found) for name, found in rows.items()}
    ratios = {f"{ours}/{name}": methods[ours]["compute"] / methods[name]["compute"]
              if math.isfinite(methods[name]["compute"]) and math.isfinite(methods[ours]["compute"]) else None
              for ours in ("scalesearch", *readings) for name in baselines
              if ours == "scalesearch" or name != like}  # the like reading is (d)'s estimator's
    stopped = {"compute": median([s["compute"] for s in stops]),
               "beta_error": median([s["beta_error"] for s in stops]),
               "alpha_C_error": median([s["alpha_C_error"] for s in stops]), "per_seed": stops}
    speed = {"trials": sum(s["trials"] for s in speeds), "seconds": sum(s["seconds"] for s in speeds),
             "decision_ms_median": median([s["decision_ms_median"] for s in speeds]),
             "decision_ms_p95": median([s["decision_ms_p95"] for s in speeds]), "runs": speeds}
    speed["trials_per_s"] = speed["trials"] / speed["seconds"]
    figures = {"truth": TRUTH, "tolerance": TOLERANCE, "c_max": C_MAX, "n_range": N_RANGE, "seeds": args.seeds,
               "concurrent": CONCURRENT, "ladder": LADDER, "simulate": SIMULATE, "truth_form": args.truth,
               "estimator": args.estimator,
               "methods": methods, "ratios": ratios, "scalesearch_self_stop": stopped, "speed": speed}
    if args.json:
        print(json.dumps(finite(figures)))
        return
    print(f"truth beta {TRUTH['beta']:.4f}, alpha_C {TRUTH['alpha_C']:.4f}; tolerance {TOLERANCE}; "
          f"medians over {args.seeds} seeds (compute in FLOPs, inf = not accurate by its last step)")
    for name, m in methods.items():
        print(f"  {name:12s} compute {m['compute']:.3g}  beta error {m['beta_error']:.4f}  alpha_C error "
              f"{m['alpha_C_error']:.4f}  (accurate in {m['accurate_seeds']}/{m['seeds']} seeds)")
    print("  ratios " + ", ".join(f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in ratios.items()))
    print(f"  scalesearch stopped by itself at {stopped['compute']:.3g} FLOPs, beta error "
          f"{stopped['beta_error']:.4f}, alpha_C error {stopped['alpha_C_error']:.4f}")
    print(f"  speed: {speed['trials']} trials in {speed['seconds']:.0f} s = {speed['trials_per_s']:.2f} trials/s; "
          f"scheduler decision median {speed['decision_ms_median']:.2f} ms (p95 {speed['decision_ms_p95']:.2f})")


if __name__ == "__main__":
    main()
