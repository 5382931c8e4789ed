"""The ``scalesearch fit`` and ``scalesearch report`` subcommands; ``register`` adds them to the CLI's parser.

Exit codes: 0 ok; 1 ``report --verify``: the report differs from its store; 2 bad input (the message names the
column or run); 3 a fit failed or is flagged (the result is still printed, flagged); 5 ``report``: written, but not
logged on the search's MLflow run (the message says why and how to log it).
"""

from __future__ import annotations

import argparse
import json
import sys

from scalesearch.fits.bootstrap import REPORT_RESAMPLES
from scalesearch.fits.forecast import needed_for_reducible_loss
from scalesearch.fits.inputs import FitFailedError, FitInputError, read_table
from scalesearch.fits.laws import REPORTED, LawFit, fit_domains
from scalesearch.fits.math_extrapolation import MathMetrics
from scalesearch.fits.multimodal import CaptionMetrics
from scalesearch.fits.universality import UniversalityTest, universality_test

EXIT_OK, EXIT_DIFFERS, EXIT_BAD_INPUT, EXIT_FIT_FAILED, EXIT_NOT_LOGGED = 0, 1, 2, 3, 5
SHARED = {"frontier": ("alpha_C", "beta"), "compute": ("alpha_C",)}


def _column_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        standard, sep, source = pair.partition("=")
        if not sep or not standard or not source:
            raise FitInputError(f"--column {pair!r}: write STANDARD=YOURS, e.g. run=trial_id")
        mapping[standard] = source
    return mapping


def shared_tests(fits: dict[str, LawFit], law: str, n_bootstrap: int, seed: int) -> dict[str, UniversalityTest]:
    """The joint fit and universality test of the law's exponents, where there are >= 2 domains to share them."""
    if law not in SHARED or len(fits) < 2:
        return {}
    return universality_test({d: f.estimator for d, f in fits.items()}, n_bootstrap, seed, exponents=SHARED[law])


def forecasts(fits: dict[str, LawFit], targets: list[float]) -> dict[str, list[dict]]:
    return {d: [{"reducible_nats_per_token": t, **{k: e.to_dict() for k, e in
                                                   needed_for_reducible_loss(f, t).items()}} for t in targets]
            for d, f in fits.items()}


def run_fit(args: argparse.Namespace) -> int:
    try:
        table = read_table(args.table, _column_mapping(args.column))
        fits = fit_domains(table, args.law, args.bootstrap, args.seed)
        shared = shared_tests(fits, args.law, args.bootstrap, args.seed) if args.bootstrap >= 20 else {}
        predicted = forecasts(fits, args.target_reducible) if args.target_reducible else {}
    except FitInputError as error:
        print(f"bad input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FitFailedError as error:
        print(f"fit failed: {error}", file=sys.stderr)
        return EXIT_FIT_FAILED
    result = {"law": args.law, "domains": {d: f.to_dict() for d, f in fits.items()},
              "shared": {e: t.to_dict() for e, t in shared.items()}}
    if predicted:
        result["forecasts"] = predicted
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        for domain, fit in fits.items():
            print(f"{args.law} law, domain {domain}: {'ok' if fit.ok else 'FLAGGED'} "
                  f"{fit.estimator.diagnostics_.to_dict()}")
            for name, e in fit.estimates().items():
                print(f"  {name:8s} {e.value:12.5g}  se {e.se:10.3g}  95% CI [{e.ci_low:.5g}, {e.ci_high:.5g}]")
        for test in shared.values():
            print(test.verdict())
        for domain, rows in predicted.items():
            for row in rows:
                print(f"forecast {domain}: reducible {row['reducible_nats_per_token']:.4g} nats/token needs "
                      + ", ".join(f"{k} {v['value']:.4g} [{v['ci_low']:.4g}, {v['ci_high']:.4g}]"
                                  for k, v in row.items() if isinstance(v, dict)))
    return EXIT_OK if all(f.ok for f in fits.values()) else EXIT_FIT_FAILED


def run_report(args: argparse.Namespace) -> int:
    from scalesearch.report import ReportNotLoggedError, ReportOptions, report_from_mlflow  # matplotlib, MLflow

    options = ReportOptions(
        n_bootstrap=args.bootstrap, seed=args.seed, targets=tuple(args.target_reducible),
        captions=CaptionMetrics(args.captioned_metric, args.uncaptioned_metric),
        math=MathMetrics(args.train_metric, args.extrapolate_metric, args.interpolate_metric))
    try:
        if args.verify:
            return _verify(args.verify, args.tracking_uri)
        if not args.experiment:
            raise FitInputError("give --experiment NAME (or --verify REPORT_DIR)")
        out = report_from_mlflow(args.experiment, args.tracking_uri, args.out, options)
    except FitInputError as error:
        print(f"bad input: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ReportNotLoggedError as error:
        print(f"not logged: {error}", file=sys.stderr)
        return EXIT_NOT_LOGGED
    print(f"report written to {out}/report.html and logged on the search's parent run under report/")
    return EXIT_OK


def _verify(report_dir: str, tracking_uri: str | None) -> int:
    from scalesearch.report import verify_report

    differences = verify_report(report_dir, tracking_uri)
    for line in differences:
        print(line)
    print(f"{report_dir}: {'DIFFERS from' if differences else 'agrees with'} the MLflow store "
          f"({len(differences)} difference(s))")
    return EXIT_DIFFERS if differences else EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser("fit", help="fit a scaling law to a table of runs (CSV or Parquet)")
    fit.add_argument("table", help="CSV or Parquet: run, n_params, tokens or compute (FLOPs), loss[, domain]")
    fit.add_argument("--law", choices=sorted(REPORTED), required=True)
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fit.add_argument("--bootstrap", type=int, default=REPORT_RESAMPLES,
                     help=f"resamples for SEs and CIs (default {REPORT_RESAMPLES}; 0: none; >= 20 for the shared "
                          "exponents)")
    fit.add_argument("--column", action="append", default=[], metavar="STANDARD=YOURS",
                     help="map a standard column to yours, e.g. run=trial_id (repeatable)")
    fit.add_argument("--target-reducible", action="append", type=float, default=[], metavar="NATS",
                     help="forecast the N or C needed for this reducible loss L - L_inf (repeatable)")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(func=run_fit)
    report = subparsers.add_parser("report", help="write the scaling report of a search and log it to MLflow")
    report.add_argument("--experiment", help="the MLflow experiment of the search(es)")
    report.add_argument("--verify", metavar="REPORT_DIR",
                        help="instead of writing a report, check that REPORT_DIR/fits.json agrees with a fresh fit "
                             "of the MLflow store (same runs, same values); exit 1 where it does not")
    report.add_argument("--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or sqlite:///./mlflow.db")
    report.add_argument("--out", default="reports", help="the report goes to OUT/NAME/")
    report.add_argument("--bootstrap", type=int, default=REPORT_RESAMPLES,
                        help=f"resamples for SEs and CIs (default {REPORT_RESAMPLES})")
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("--target-reducible", action="append", type=float, default=[], metavar="NATS",
                        help="forecast for this reducible loss (repeatable; default half the KL at the largest C)")
    captions, math = CaptionMetrics(), MathMetrics()
    report.add_argument("--captioned-metric", default=captions.captioned, help="image loss given its caption")
    report.add_argument("--uncaptioned-metric", default=captions.uncaptioned, help="image loss without caption")
    report.add_argument("--train-metric", default=math.train)
    report.add_argument("--extrapolate-metric", default=math.extrapolate)
    report.add_argument("--interpolate-metric", default=math.interpolate)
    report.set_defaults(func=run_report)
