"""How many resamples a report's 95% intervals need: the spread of their ends over bootstrap seeds, on real curves.

    python benchmarks/bootstrap_resamples.py [--store reports/demo] [--domains text,image] [--resamples 200,1000,2000]
                                             [--seeds 10]

A percentile interval's ends are the 2.5% and 97.5% quantiles of the refits, so with B resamples each end rests on
about 0.025 B of them (5 at B = 200): drawn again with another seed, the end moves. Efron and Tibshirani (1993,
ch. 19) ask for B near 1,000 for percentile intervals, against 50-200 for a standard error. The rule that withholds
an interval past 2.5% of failed refits (bootstrap.estimate_from_draws) reads a failure rate off the same B draws.

This script refits each domain's frontier (``fit_law(..., "frontier")``, the report's fit) on the curves of a
committed demo store, with every B and seed, and prints per domain and B the range over seeds of each exponent's
interval ends, of the failed-refit count per law, and the seconds a fit takes (median). Nothing is trained.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from scalesearch.fits import fit_law
from scalesearch.fits.mlflow_source import read_search

EXPONENTS = ("alpha_C", "beta")


def interval_ends(fit) -> dict[str, tuple[float, float]]:
    """(low, high) of each exponent's interval; NaN where the fit withholds it."""
    params = fit.to_dict().get("parameters", {})
    return {name: (params[name]["ci_low"], params[name]["ci_high"]) if name in params else (np.nan, np.nan)
            for name in EXPONENTS}


def spread(values: list[float]) -> str:
    finite = [v for v in values if np.isfinite(v)]
    missing = len(values) - len(finite)
    shown = f"{min(finite):.3f}..{max(finite):.3f}" if finite else "-"
    return shown + (f" ({missing} of {len(values)} without)" if missing else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("reports/demo"),
                        help="a committed report folder: its fits.json names the experiment in its mlflow.db")
    parser.add_argument("--domains", default="text,image")
    parser.add_argument("--resamples", default="200,1000,2000")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    saved = json.loads((args.store / "fits.json").read_text())
    curves = read_search(saved["experiment"], f"sqlite:///{(args.store / 'mlflow.db').resolve()}").curves
    print("| domain | B | alpha_C low | alpha_C high | beta low | beta high | failed refits: L(C) / N_opt(C) | "
          "seconds a fit |\n|---|---|---|---|---|---|---|---|")
    for domain in args.domains.split(","):
        table = curves[curves["domain"] == domain]
        for resamples in (int(b) for b in args.resamples.split(",")):
            ends, failed, seconds = {name: ([], []) for name in EXPONENTS}, [], []
            for seed in range(args.seeds):
                start = time.perf_counter()
                fit = fit_law(table, "frontier", resamples, seed, domain)
                seconds.append(time.perf_counter() - start)
                for name, (low, high) in interval_ends(fit).items():
                    ends[name][0].append(low)
                    ends[name][1].append(high)
                failed.append("/".join(str(int(fit.bootstrap.samples[name].isna().sum())) for name in EXPONENTS))
            cells = [spread(side) for name in EXPONENTS for side in ends[name]]
            print(f"| {domain} | {resamples} | " + " | ".join(cells) +
                  f" | {', '.join(failed)} | {statistics.median(seconds):.1f} |", flush=True)


if __name__ == "__main__":
    main()
