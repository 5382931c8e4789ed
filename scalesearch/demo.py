"""``scalesearch demo``: the main job. An adaptive search with real CPU training in each demo domain
(``search_spaces/demo/<domain>.yaml``), one after the other on the local Ray instance, logged to one MLflow
experiment; then the report of all of them in ``reports/demo/`` and its headline numbers.

Each domain's search runs in its own process, a driver of the same Ray instance, so that the next domain can start
as soon as the one before has started its last trial and left a slot free (search/handover.py), not only when
that last trial ends. Text goes first by default: the first domain's trials run as they would alone, and which
trials a search runs moves with their timing (Optuna suggests from the trials that have ended), so the one domain
whose fit has intervals at this scale keeps the trials it has when run alone (benchmarks/RESULTS.md, session 20).

Each invocation is its own experiment (``demo-<time>``) so that two demos are never mixed in one fit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path

from scalesearch.shapes import get_family
from scalesearch.spec import Spec, load_spec

DEMO_DIR = Path(__file__).resolve().parent.parent / "search_spaces" / "demo"
DOMAINS = ("text", "image", "math")  # text's trials unaffected by the overlap (module docstring)
EXIT_OK, EXIT_FAILED = 0, 1


class DemoError(RuntimeError):
    """A domain's search failed; the others ran to their end and are in MLflow."""


def demo_spec(domain: str, stamp: str, budget: float = 1.0, gpus: int = 0, trials: int | None = None) -> Spec:
    """The demo spec of ``domain``, its compute scaled by ``budget`` (sizes by ``budget ** 0.5``, about where the
    compute-optimal size moves), at most ``trials`` trials if given and, with ``gpus``, one GPU per trial and as
    many trials at once."""
    from scalesearch.job import model_for  # Ray Train: not for `scalesearch --help`

    path = DEMO_DIR / f"{domain}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in DEMO_DIR.glob("*.yaml"))
        raise ValueError(f"no demo for domain {domain!r}; the demo domains are {known}")
    spec = load_spec(path)
    s, grow = spec.search, budget ** 0.5
    smallest = get_family(spec.model.family).n_params_min  # a smaller budget cannot go below the family

    def scaled(sizes: tuple[float, float]) -> tuple[float, float]:
        low, high = (max(n * grow, smallest) for n in sizes)
        return low, max(high, 2 * low)

    def scaled_ladder(sizes: int | list[float]) -> int | list[float]:
        """Listed sizes move with the range, each to its nearest shape, once; if fewer than two shapes are left,
        as many log-spaced sizes instead."""
        if isinstance(sizes, int):
            return sizes
        kept = sorted({float(model_for(spec, max(n * grow, smallest)).n_params) for n in sizes})
        return kept if len(kept) >= 2 else len(sizes)

    ladder, (low, high) = scaled_ladder(s.initial_sizes), scaled(s.n_params)
    if isinstance(ladder, list):  # shapes may round a listed size beyond the scaled range
        low, high = min(low, ladder[0]), max(high, ladder[-1])
    limits = scaled(s.limits)
    search = type(s).model_validate({**s.model_dump(),
        "n_params": (low, high), "n_params_limits": (min(limits[0], low), max(limits[1], high)),
        "initial_sizes": ladder,
        "stop": {**s.stop.model_dump(), "flops": s.stop.flops * budget, "max_trials": trials or s.stop.max_trials},
        **({"max_concurrent_trials": gpus} if gpus else {})})
    resources = spec.resources.model_copy(update={"use_gpu": True, "cpus_per_worker": 1.0, "num_workers": 1,
                                                  "rules": []}) if gpus else spec.resources
    return spec.model_copy(update={
        "name": f"{spec.name}-{stamp}", "search": search, "resources": resources,
        "budget": spec.budget.model_copy(update={"flops": spec.budget.flops * budget}),
        "tracking": spec.tracking.model_copy(update={"experiment": f"demo-{stamp}"})})


def headline(fits: dict) -> list[str]:
    """Per-domain alpha_C and beta with their 95% CIs, then the verdict on each shared exponent."""
    lines = []
    for domain, result in fits["domains"].items():
        frontier = result.get("frontier") or {}
        p = frontier.get("parameters")
        if not p:
            lines.append(f"{domain}: no frontier fit ({frontier.get('error') or 'see the report'})")
            continue
        beta = _ci(p["beta"]) if "beta" in p else f"not fitted ({result['not_done'].get('frontier')})"
        alpha = _ci(p["alpha_C"]) if "alpha_C" in p else f"not fitted ({result['not_done'].get('L(C) alone')})"
        lines.append(f"{domain}: alpha_C = {alpha}, beta = {beta}"
                     + ("" if frontier.get("ok", True) else "  (flagged: the report says why)"))
    for result in (fits.get("universality") or {}).values():  # per exponent: its test, or why there is none
        lines += [result["verdict"]] + ([result["note"]] if result.get("note") else []) \
            if isinstance(result, dict) else [result]
    return lines


def _ci(saved: dict) -> str:
    from scalesearch.fits.bootstrap import Estimate  # SciPy: not for `scalesearch --help`

    return Estimate(**saved).describe("no interval: the report says why",
                                      "!: outside its own bootstrap CI, see the report")


def run_demo(domains: list[str], budget: float = 1.0, gpus: int = 0, tracking_uri: str | None = None,
             out_dir: str | Path = "reports", storage: str | Path | None = None, trials: int | None = None,
             with_store: bool = False) -> Path:
    """Search each domain in turn (the next starting once the one before leaves a slot free for good), then
    write the joint report to ``out_dir/demo``; returns its folder.
    ``with_store``: also a copy of the MLflow store and its artifacts there, which opens on any machine (how
    reports/demo/ is made)."""
    import ray

    from scalesearch.job import ensure_ray
    from scalesearch.report import ReportOptions, report_from_mlflow
    from scalesearch.search.run import check_resources, check_search
    from scalesearch.tracking import export_store, resolve_tracking_uri

    stamp = time.strftime("%Y%m%d-%H%M%S")
    specs = [demo_spec(d, stamp, budget, gpus, trials) for d in domains]
    uri = resolve_tracking_uri(tracking_uri)
    ensure_ray(worker_output=False)
    for spec in specs:  # every domain's mistakes show before the first one trains
        check_search(spec)
        check_resources(spec)
    address = ray.get_runtime_context().gcs_address
    spawn = multiprocessing.get_context("spawn")
    started, searches = time.time(), []
    for i, spec in enumerate(specs, 1):
        if searches:  # the one before has started its last trial and freed a slot, or ended
            before, ready = searches[-1]
            wait([ready, before.sentinel])
        print(f"\n=== demo {i}/{len(specs)}: {spec.domain.name} ({spec.name}); "
              f"{(time.time() - started) / 60:.1f} min so far ===", flush=True)
        ready, handover = spawn.Pipe(duplex=False)
        search = spawn.Process(target=_search, args=(spec, uri, storage, address, handover), name=spec.domain.name)
        search.start()
        searches.append((search, ready))
    for search, _ in searches:
        search.join()
    failed = [f"{search.name} (exit code {search.exitcode})" for search, _ in searches if search.exitcode]
    if failed:
        raise DemoError(f"the search of {', '.join(failed)} failed: its error is printed above. The other domains "
                        f"ran to their end and are in MLflow ({uri}, experiment {specs[0].experiment}); "
                        f"`scalesearch report --experiment {specs[0].experiment} --tracking-uri {uri}` reports on them")
    print(f"\n=== report: fitting {len(specs)} domain(s) ===", flush=True)
    out = report_from_mlflow(specs[0].experiment, uri, out_dir, ReportOptions(), name="demo")
    fits = json.loads((out / "fits.json").read_text())
    print(f"\ndemo done in {(time.time() - started) / 60:.1f} min")
    print("\n".join(headline(fits)))
    print(f"\nreport: {out / 'report.html'}")
    store = f" --backend-store-uri {uri}" if uri.startswith("sqlite") else ""
    print(f"MLflow: mlflow ui{store}   (experiment {specs[0].experiment})")
    if with_store:
        copy = export_store(uri, out)
        print(f"a copy of the store that opens anywhere: mlflow ui --backend-store-uri sqlite:///{copy} "
              f"--artifacts-destination {copy.parent / 'mlartifacts'}")
    return out


def _search(spec: Spec, uri: str, storage: str | Path | None, address: str, handover) -> None:
    """One domain's search, in a process of its own on the demo's Ray instance; says on ``handover`` when it
    leaves a slot free for good."""
    from scalesearch.search.handover import Handover
    from scalesearch.search.run import run_search

    signal.signal(signal.SIGUSR2, _demo_gone)
    threading.Thread(target=_signal_when_demo_dies, daemon=True).start()
    s = spec.search
    try:
        run_search(spec, tracking_uri=uri, storage=storage, ray_address=address,
                   callbacks=[Handover(handover, s.stop.max_trials, s.max_concurrent_trials)])
    except KeyboardInterrupt as err:  # Ctrl-C reaches every domain's process: each says how to resume it
        print(f"interrupted: {err}", file=sys.stderr, flush=True)
        sys.exit(130)


def _signal_when_demo_dies() -> None:
    """SIGUSR2 to this domain's process once the demo's own process is gone, killed even by SIGKILL. Not SIGINT: a
    demo started in the background (``&``, ``nohup``) ignores that, and so do the processes it starts; not SIGUSR1,
    which Ray Tune takes for its own stop."""
    wait([multiprocessing.parent_process().sentinel])
    os.kill(os.getpid(), signal.SIGUSR2)


def _demo_gone(signum: int, frame: object) -> None:
    """The search stops as on Ctrl-C (interrupted, resumable) instead of training on with no one to report on it."""
    raise KeyboardInterrupt


def demo_command(args: argparse.Namespace) -> int:
    try:
        run_demo([d.strip() for d in args.domains.split(",") if d.strip()], args.budget, args.gpus,
                 args.tracking_uri, args.out, args.storage, args.trials, args.with_store)
    except DemoError as err:
        print(f"scalesearch demo: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="the main job: adaptive searches in several domains, then the report",
        description="Run the demo search of each domain (search_spaces/demo/) with real CPU training on a local "
                    "Ray instance, logging to MLflow (./mlflow.db unless --tracking-uri or $MLFLOW_TRACKING_URI), "
                    "then fit every domain and compare their exponents in reports/demo/. Each domain starts as soon "
                    "as the one before has started its last trial. About 13-15 minutes on 2 CPU cores at --budget 1 "
                    "(measured 2026-12-05: 13.4, 13.5, 13.7 and 14.7; the same machine has run the same trials "
                    "10-20% slower on other days), less on a faster machine.")
    p.add_argument("--domains", default=",".join(DOMAINS), help=f"comma-separated (default {','.join(DOMAINS)})")
    p.add_argument("--budget", type=float, default=1.0,
                   help="multiply each search's compute by this (sizes grow as its square root); default 1")
    p.add_argument("--gpus", type=int, default=0, help="train on GPUs, one per trial, this many trials at once")
    p.add_argument("--trials", type=int, help="at most this many trials per domain (default: each spec's max_trials)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI")
    p.add_argument("--out", type=Path, default=Path("reports"), help="the report goes to OUT/demo (default reports)")
    p.add_argument("--storage", type=Path, help="where Tune keeps the searches (default ./runs)")
    p.add_argument("--with-store", action="store_true",
                   help="also copy the SQLite MLflow store and its artifacts into OUT/demo, rewritten so that "
                        "`mlflow ui --backend-store-uri sqlite:///OUT/demo/mlflow.db --artifacts-destination "
                        "OUT/demo/mlartifacts` shows them on any machine (how the committed reports/demo/ is made)")
    p.set_defaults(func=demo_command)
