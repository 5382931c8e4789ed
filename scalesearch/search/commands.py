"""``scalesearch run SPEC`` starts an adaptive search; ``scalesearch resume NAME`` continues one whose driver died."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXIT_OK = 0


def _print_outcome(outcome) -> int:
    from scalesearch.search.control import MIN_RUNS_TO_FIT, part_alone

    fit = outcome.fit or {}
    print(f"{outcome.trials} trials, {outcome.spent_flops:.3g} FLOPs; MLflow parent run {outcome.parent_run_id}")
    if fit and "why" not in fit:
        if alone := part_alone(fit):
            print(f"{alone}; the whole frontier did not hold: {fit['refused']['frontier']}")
        print(json.dumps({name: fit[name] for name in ("beta", "alpha_C", "L_inf", "C0", "C_n") if name in fit},
                         indent=1))  # an L(N, D) estimator's summary has no C0 or C_n; a part alone lacks the other's
        for problem in fit.get("problems", []):
            print(f"  flagged: {problem}")
    else:
        print(f"no frontier fit: {fit.get('why', f'fewer than {MIN_RUNS_TO_FIT} trials')}")
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    from scalesearch.search.run import run_search
    from scalesearch.spec import load_spec

    return _print_outcome(run_search(load_spec(args.spec), tracking_uri=args.tracking_uri, storage=args.storage,
                                     ray_address=args.address))


def resume_command(args: argparse.Namespace) -> int:
    from scalesearch.search.run import resume_search

    return _print_outcome(resume_search(args.name, storage=args.storage, ray_address=args.address))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run an adaptive compute-optimal search",
                              description="Run the search a spec describes (its `search:` section) as a Ray Tune "
                                          "experiment: Optuna proposes sizes and hyperparameters, the frontier "
                                          "scheduler stops trials that left the frontier, and the search ends when "
                                          "its budget is spent or beta and alpha_C are known well enough.")
    p.add_argument("spec", type=Path, help="YAML spec with a search section (see search_spaces/)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or ./mlflow.db)")
    p.add_argument("--storage", type=Path, help="where Tune keeps the search (default ./runs)")
    p.add_argument("--address", help="Ray cluster address (default $RAY_ADDRESS, else a local instance)")
    p.set_defaults(func=run_command)

    p = subparsers.add_parser("resume", help="continue a search after its driver stopped",
                              description="Continue the search NAME from Tune's saved state: finished trials are "
                                          "not run again, running ones resume from their last checkpoint, and "
                                          "their MLflow runs continue.")
    p.add_argument("name", help="the search's name (the spec's `name`)")
    p.add_argument("--storage", type=Path, help="where Tune keeps the search (default ./runs)")
    p.add_argument("--address", help="Ray cluster address (default $RAY_ADDRESS, else a local instance)")
    p.set_defaults(func=resume_command)
