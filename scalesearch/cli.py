"""The ``scalesearch`` command line. Exit codes: 0 done, 1 the job failed, 2 bad input, 4 the loss diverged."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_DIVERGED = 0, 1, 2, 4

# Subcommands that live beside the code they drive; each module has ``register(subparsers)``.
COMMAND_MODULES = ("scalesearch.data.commands", "scalesearch.fits.commands", "scalesearch.search.commands",
                   "scalesearch.demo", "scalesearch.launch")


def _shape(args: argparse.Namespace) -> int:
    from scalesearch import compute
    from scalesearch.shapes import get_family, shape_for_n_params

    if args.n_params is not None:
        cfg = shape_for_n_params(args.family, args.n_params, args.aspect, args.n_ctx, args.vocab, args.n_head,
                                 args.n_layer)
    elif args.n_layer is not None and args.d_model is not None:
        cfg = get_family(args.family).shape(args.n_layer, args.d_model, args.n_ctx, args.vocab, args.n_head)
    else:
        raise ValueError("give --n-layer and --d-model, or --n-params (with --aspect)")
    fwd = compute.forward_flops_per_token(cfg)
    out = {
        "family": args.family, "n_layer": cfg.n_layer, "d_model": cfg.d_model, "d_attn": cfg.d_attn,
        "d_ff": cfg.d_ff, "n_head": cfg.n_head, "n_ctx": cfg.n_ctx, "vocab_size": cfg.vocab_size,
        "aspect": cfg.d_model / cfg.n_layer, "n_params": cfg.n_params, "n_params_total": cfg.n_params_total,
        "flops_per_token": compute.flops_per_token(cfg), "flops_per_token_full": compute.flops_per_token_full(cfg),
        "forward_flops_per_token": {"weights": fwd.weights, "attention": fwd.attention,
                                    "unembedding": fwd.unembedding},
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:>22}: {value:,}" if isinstance(value, int) else f"{key:>22}: {value}")
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from scalesearch.job import run_job
    from scalesearch.spec import load_spec

    spec = load_spec(args.spec)
    if args.num_workers is not None:
        spec = spec.model_copy(update={"resources": spec.resources.model_copy(
            update={"num_workers": args.num_workers})})
    outcome = run_job(spec, n_params=args.n_params, tracking_uri=args.tracking_uri)
    m = outcome.metrics
    print(f"\n{outcome.status}: run {outcome.run_id}, {m.get('tokens', 0):,.0f} tokens, "
          f"held-out loss {m.get('heldout_loss', float('nan')):.4f} nats/token")
    print(f"checkpoint: {outcome.checkpoint}")
    return EXIT_DIVERGED if outcome.status == "diverged" else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scalesearch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("shape", help="a model shape, its N and FLOPs per token",
                       description="Print a family's shape with its exact non-embedding N, total parameters and "
                                   "FLOPs per token (6N and the full count).")
    p.add_argument("--family", choices=["gpt", "henighan"], default="henighan")
    p.add_argument("--n-layer", type=int, help="depth (with --n-params: the depth to find a width for)")
    p.add_argument("--d-model", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--n-params", type=float, help="target non-embedding N (instead of --n-layer/--d-model)")
    p.add_argument("--aspect", type=float, default=10.0, help="d_model / n_layer for --n-params (default 10)")
    p.add_argument("--n-ctx", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_shape)

    p = sub.add_parser("train", help="train one model on Ray Train, logged to MLflow",
                       description="Train one model as SPEC says, on a local Ray instance (or $RAY_ADDRESS), "
                                   "logging to MLflow (SQLite ./mlflow.db unless --tracking-uri or "
                                   "$MLFLOW_TRACKING_URI).")
    p.add_argument("spec", type=Path, help="YAML spec (see search_spaces/)")
    p.add_argument("--n-params", type=float, help="target non-embedding N (overrides model.n_params)")
    p.add_argument("--num-workers", type=int, help="Ray Train workers (overrides resources.num_workers)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI")
    p.set_defaults(func=_train)

    for name in COMMAND_MODULES:
        import_module(name).register(sub)
    return parser


def bad_input_errors() -> tuple[type[Exception], ...]:
    """The errors that mean bad input (exit 2). Imported only once one is raised (an ``except`` clause's classes
    are evaluated then): the search's brings Ray, torch and MLflow, 4-5 s before ``--help`` could print."""
    from scalesearch.data import DataError
    from scalesearch.search.run import SearchError
    from scalesearch.spec import SpecError
    from scalesearch.tracking import TrackingError

    return SpecError, DataError, TrackingError, SearchError, ValueError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except bad_input_errors() as err:
        print(f"scalesearch {args.command}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as err:
        print(f"interrupted{f': {err}' if str(err) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
