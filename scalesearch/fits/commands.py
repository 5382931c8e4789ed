"""The ``scalesearch fit`` and ``scalesearch report`` subcommands; ``register`` adds them to the CLI's parser.

Exit codes: 0 ok; 2 bad input (the message names the column or run); 3 a fit failed or is degenerate (the
result is still printed, flagged).
"""

from __future__ import annotations

import argparse
import json
import sys

from scalesearch.fits.inputs import FitFailedError, FitInputError, read_table
from scalesearch.fits.laws import REPORTED, fit_domains
from scalesearch.fits.universality import universality_test

EXIT_OK, EXIT_BAD_INPUT, EXIT_FIT_FAILED = 0, 2, 3


def _column_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        standard, sep, source = pair.partition("=")
        if not sep or not standard or not source:
            raise FitInputError(f"--column {pair!r}: write STANDARD=YOURS, e.g. run=trial_id")
        mapping[standard] = source
    return mapping


def run_fit(args: argparse.Namespace) -> int:
    try:
        table = read_table(args.table, _column_mapping(args.column))
        fits = fit_domains(table, args.law, args.bootstrap, args.seed)
    except FitInputError as error:
        print(f"bad input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FitFailedError as error:
        print(f"fit failed: {error}", file=sys.stderr)
        return EXIT_FIT_FAILED
    result = {"law": args.law, "domains": {d: f.to_dict() for d, f in fits.items()}}
    if args.law in ("frontier", "compute") and len(fits) >= 2 and args.bootstrap > 1:
        exponents = ("alpha_C", "beta") if args.law == "frontier" else ("alpha_C",)
        result["shared"] = {e: universality_test(fits, e).to_dict() for e in exponents}
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        for domain, fit in fits.items():
            print(f"{args.law} law, domain {domain}: {'ok' if fit.ok else 'FLAGGED'} "
                  f"{fit.estimator.diagnostics_.to_dict()}")
            for name, e in fit.estimates().items():
                print(f"  {name:8s} {e.value:12.5g}  se {e.se:10.3g}  95% CI [{e.ci_low:.5g}, {e.ci_high:.5g}]")
        for exponent, test in result.get("shared", {}).items():
            print(f"shared {exponent}: {test['shared']['value']:.4g} p={test['p_value']:.3g} "
                  f"rejected={test['rejected']}")
    return EXIT_OK if all(f.ok for f in fits.values()) else EXIT_FIT_FAILED


def run_report(args: argparse.Namespace) -> int:
    from scalesearch.report import report_from_mlflow  # matplotlib and MLflow load only for this command

    try:
        out = report_from_mlflow(args.experiment, args.tracking_uri, args.out, args.bootstrap, args.seed)
    except FitInputError as error:
        print(f"bad input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"report written to {out}/report.html and logged on the search's parent run under report/")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser("fit", help="fit a scaling law to a table of runs (CSV or Parquet)")
    fit.add_argument("table", help="CSV or Parquet: run, n_params, tokens or compute, loss[, domain]")
    fit.add_argument("--law", choices=sorted(REPORTED), required=True)
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fit.add_argument("--bootstrap", type=int, default=200, help="resamples over runs for SEs and CIs (0: none)")
    fit.add_argument("--column", action="append", default=[], metavar="STANDARD=YOURS",
                     help="map a standard column to yours, e.g. run=trial_id (repeatable)")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(func=run_fit)
    report = subparsers.add_parser("report", help="write the scaling report of a search and log it to MLflow")
    report.add_argument("--experiment", required=True, help="the search's MLflow experiment name")
    report.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or sqlite:///./mlflow.db")
    report.add_argument("--out", default="reports", help="the report goes to OUT/NAME/")
    report.add_argument("--bootstrap", type=int, default=200)
    report.add_argument("--seed", type=int, default=0)
    report.set_defaults(func=run_report)
