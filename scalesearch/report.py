"""The scaling report of a search: fits per domain with CIs, universality, forecasts and interpretation, the
multimodal and math checks, plots; written as HTML (one file, plots embedded), Markdown, PNGs and JSON.

``build_report`` works on an in-memory table (the search can call it); ``report_from_mlflow`` reads a search back
from MLflow and logs the files on its parent run under ``report/``. Every analysis that cannot be done on the
data (too few runs, metrics not logged, a fit that failed) is named in the report with its reason.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalesearch.fits.bootstrap import REPORT_RESAMPLES, Estimate
from scalesearch.fits.document import Document
from scalesearch.fits.extrapolation import extrapolation_check
from scalesearch.fits.forecast import entropy_and_kl, needed_for_reducible_loss, reducible_at
from scalesearch.fits.inputs import FitFailedError, FitInputError, split_domains
from scalesearch.fits.laws import FRONTIER_FALLBACKS, LawFit, fit_law
from scalesearch.fits.math_extrapolation import MathMetrics, extrapolation_vs_training
from scalesearch.fits.mlflow_source import read_search
from scalesearch.fits.multimodal import CaptionMetrics, InformationResult, mutual_information
from scalesearch.fits.plots import plot_domain, plot_exponents, plot_information, plot_math
from scalesearch.fits.universality import UniversalityTest, universality_test

PF_DAY = 8.64e19
FAILURES = (FitInputError, FitFailedError)
RULES = {"frontier": "the envelope of the runs' smoothed learning curves, read from the end of each run's "
                     "learning-rate warm-up on (before it, which size leads says how it takes the warm-up)",
         "L(N) runs": "each run's best held-out loss, runs whose running-best loss fell < 2% over their last decade "
                      "of compute (converged)",
         "L(C)": "fitted to the frontier's lower-convex-hull vertices attained by sizes other than the smallest and "
                 "largest, so it lies on or below the frontier",
         "N_opt": "at each crossing of two runs of different sizes on the frontier, the geometric mean of their "
                  "sizes; pure power law",
         "bootstrap": "frontier laws: runs simulated anew (smoothed curve + resampled residuals + a shift per run), "
                      "the refits read about the fit to the smoothed curves they were drawn from; L(N): runs "
                      "resampled with replacement; 95% percentile intervals of the refits so moved to the estimate "
                      "(not bias-corrected: on curves from a known law the refits' offset was noise, and BC "
                      "under-covered)",
         "(!)": "the estimate lies outside its own bootstrap interval: over 97.5% of the refits fall on one side of "
                "the truth they were drawn from (too few sizes or crossings for a stable fit), so that interval is "
                "not to be trusted"}

FLOP_COUNTS = {"6N": "6N FLOPs a token (Kaplan's and Henighan's convention)",
               "full": "the full FLOPs a token: 6N, attention over the context and the unembedding (Porian et al. "
                       "2024), not comparable in scale with Henighan's 6N"}

REPORT_FILES = (".html", ".md", ".json", ".png")  # what build_report writes


@dataclass(frozen=True)
class ReportOptions:
    n_bootstrap: int = REPORT_RESAMPLES
    seed: int = 0
    captions: CaptionMetrics = CaptionMetrics()
    math: MathMetrics = MathMetrics()
    targets: tuple[float, ...] = ()  # reducible losses (nats/token) to forecast; none: half the KL at C_max


@dataclass
class DomainReport:
    curves: pd.DataFrame
    trials: pd.DataFrame
    frontier: LawFit | None = None
    size: LawFit | None = None
    results: dict[str, object] = field(default_factory=dict)  # analysis -> its JSON-able result
    not_done: dict[str, str] = field(default_factory=dict)  # analysis -> why it was not done

    def attempt(self, what: str, make: Callable, *args) -> object | None:
        """``make(*args)``, or None with the reason recorded where the data cannot support it."""
        try:
            return make(*args)
        except FAILURES as error:
            self.not_done[what] = f"{type(error).__name__}: {error}"
            return None


def _ci(e: Estimate, scale: float = 1.0) -> str:
    if not np.isfinite(e.value):
        return "-"
    if not np.isfinite(e.se):
        return f"{e.value / scale:.3g}"
    shifted = "" if e.contains(e.value) else " (!)"
    return f"{e.value / scale:.3g} [{e.ci_low / scale:.3g}, {e.ci_high / scale:.3g}]{shifted}"


def table1(domains: dict[str, DomainReport]) -> pd.DataFrame:
    """Henighan's Table 1 layout (C in PF-days), each entry with its 95% bootstrap CI in brackets."""
    rows = []
    for name, d in domains.items():
        row = {"domain": name}
        if d.size is not None:
            e = d.size.estimates()
            row |= {"L(N): L_inf": _ci(e["L_inf"]), "N0": _ci(e["N0"]), "alpha_N": _ci(e["alpha_N"])}
        if d.frontier is not None:  # a law not fitted (L(C): too few hull points; N_opt(C): crossings) stays "-"
            e = d.frontier.estimates()
            row |= {"L(C): L_inf": _ci(e["L_inf"]), "C0 (PF-days)": _ci(e["C0"], PF_DAY),
                    "alpha_C": _ci(e["alpha_C"])} if "alpha_C" in e else {}
            row |= {"C_n (PF-days)": _ci(e["C_n"], PF_DAY), "beta": _ci(e["beta"])} if "beta" in e else {}
        rows.append(row)
    return pd.DataFrame(rows).fillna("-")


def _tokens_per_item(trials: pd.DataFrame) -> dict[str, float] | None:
    """The domain's tokens per item as its runs logged it; FitInputError if the runs disagree."""
    if "tokens_per_item" not in trials.columns:
        return None
    found = {json.dumps(t, sort_keys=True) for t in trials["tokens_per_item"] if isinstance(t, dict) and t}
    if len(found) > 1:
        raise FitInputError(f"the runs log different tokens_per_item: {sorted(found)}")
    return json.loads(found.pop()) if found else None


def interpretation(d: DomainReport, options: ReportOptions) -> dict:
    """Entropy and KL (per token and item) at the largest compute, and forecasts for the target reducible losses."""
    if d.frontier.law == "n_opt":
        raise FitFailedError("entropy, KL and forecasts read L(C), which the frontier did not give (above)")
    c_max = float(d.curves["compute"].max())
    per_item = _tokens_per_item(d.trials)
    out = {"entropy_and_kl": entropy_and_kl(d.frontier, c_max, per_item), "forecasts": []}
    targets = options.targets or (reducible_at(d.frontier, c_max).value / 2,)
    for target in targets:
        needed = needed_for_reducible_loss(d.frontier, target)
        out["forecasts"].append({"reducible_nats_per_token": target, **{k: e.to_dict() for k, e in needed.items()},
                                 "beyond_data_decades": float(np.log10(needed["compute"].value / c_max))})
        if d.size is not None:
            out["forecasts"][-1]["n_params_converged"] = needed_for_reducible_loss(d.size, target)["n_params"].to_dict()
    return out


def information(d: DomainReport, options: ReportOptions) -> InformationResult | None:
    captions = options.captions
    if not {captions.captioned, captions.uncaptioned} & set(d.trials.columns):
        return None
    per_item = _tokens_per_item(d.trials) or {}
    if "image" not in per_item:
        raise FitInputError(f"I(text; image) needs the image's tokens: the runs' tokens_per_item {per_item} has no "
                            "'image' part")
    return mutual_information(d.trials, per_item["image"], captions, options.n_bootstrap, options.seed)


def analyse_domain(name: str, curves: pd.DataFrame, trials: pd.DataFrame, options: ReportOptions) -> DomainReport:
    d = DomainReport(curves, trials)
    for label, law in FRONTIER_FALLBACKS:  # L(C) needs only the frontier's hull, N_opt(C) only its crossings
        d.frontier = d.attempt(label, fit_law, curves, law, options.n_bootstrap, options.seed, name)
        if d.frontier is not None:
            break
    d.size = d.attempt("size", fit_law, curves, "size", options.n_bootstrap, options.seed, name)
    for what, make in (("extrapolation", lambda: extrapolation_check(curves, "frontier")),
                       ("interpretation", lambda: interpretation(d, options) if d.frontier else None),
                       ("mutual_information", lambda: information(d, options)),
                       ("math", lambda: _math(d, options))):
        result = d.attempt(what, make)
        if result is not None:
            d.results[what] = result
    if d.frontier is None:
        d.not_done.setdefault("interpretation", "needs the frontier fit")
    return d


def _math(d: DomainReport, options: ReportOptions) -> dict | None:
    m = options.math
    if not {m.extrapolate, m.interpolate} & set(d.trials.columns):
        return None
    return extrapolation_vs_training(d.trials, m)


def _fits_json(d: DomainReport) -> dict:
    out: dict[str, object] = {}
    for law, fit in (("frontier", d.frontier), ("size", d.size)):
        out[law] = fit.to_dict() if fit is not None else {"error": d.not_done.get(law)}
    if d.frontier is not None:
        frontier = d.frontier.estimator.frontier_
        out["runs_on_frontier"] = frontier.runs_on_frontier().to_dict("records")
        out["crossings"] = frontier.crossings().to_dict("records")
        out["excluded_runs"] = list(d.frontier.estimator.excluded_runs_)
    for what, result in d.results.items():
        out[what] = result.to_dict() if isinstance(result, InformationResult) else result
    out["not_done"] = d.not_done
    return out


def _interpretation_lines(name: str, result: dict) -> list[str]:
    ek = result["entropy_and_kl"]
    per_token = {k: Estimate(**ek[k]) for k in ("entropy_nats_per_token", "kl_nats_per_token")}
    lines = [f"{name}: entropy of the data (L_inf of L(C)) {_ci(per_token['entropy_nats_per_token'])} nats/token"
             + (f" = {_ci(Estimate(**ek['entropy_nats_per_item']))} nats/item ({ek['tokens_per_item']} tokens "
                "per item)" if ek["entropy_nats_per_item"] else " (no tokens_per_item logged: per item not known)"),
             f"{name}: KL of the best model from the data at the largest compute ({ek['at']:.3g} FLOPs) "
             f"{_ci(per_token['kl_nats_per_token'])} nats/token"
             + (f" = {_ci(Estimate(**ek['kl_nats_per_item']))} nats/item" if ek["kl_nats_per_item"] else "")]
    for f in result["forecasts"]:
        c = Estimate(**f["compute"])
        line = (f"{name}: to bring the reducible loss to {f['reducible_nats_per_token']:.3g} nats/token takes "
                f"C = {_ci(c)} FLOPs ({_ci(c, PF_DAY)} PF-days, {f['beyond_data_decades']:.1f} decades beyond the "
                "data)" + (f", spent on N_opt = {_ci(Estimate(**f['n_params']))}" if "n_params" in f else ""))
        if "n_params_converged" in f:
            line += f"; by L(N) a converged model of N = {_ci(Estimate(**f['n_params_converged']))}"
        lines.append(line)
    return lines


def _universality_table(tests: dict[str, UniversalityTest]) -> pd.DataFrame:
    rows = []
    for exponent, t in tests.items():
        for domain in t.per_domain:
            rows.append({"exponent": exponent, "domain": domain, "own value": _ci(t.per_domain[domain]),
                         "deviation from shared": _ci(t.deviation[domain]),
                         "shared (joint fit)": _ci(t.shared), "p (equal exponents)": f"{t.p_value:.3g}"})
    return pd.DataFrame(rows)


def _universality(fits: dict[str, LawFit], options: ReportOptions) -> tuple[dict[str, UniversalityTest], dict[str, str]]:
    """Each exponent across the domains whose own fit gives it an interval (alpha_C: every L(C) fit; beta: those
    with N_opt(C)), tested where >= 2 domains have one; the others get a note saying why not."""
    tests, notes = {}, {}
    for exponent in ("alpha_C", "beta"):
        has = {d: f for d, f in fits.items()
               if exponent in f.estimates() and np.isfinite(f.estimates()[exponent].ci_low)}
        lacking = sorted(set(fits) - set(has))
        why = f" (no interval for it in {', '.join(lacking)}: see 'Values without an interval')" if lacking else ""
        if len(has) < 2:
            notes[exponent] = f"{exponent}: not tested: {len(has)} domain(s) with an interval for it, 2 needed{why}"
            continue
        try:
            tests |= universality_test({d: f.estimator for d, f in has.items()}, options.n_bootstrap, options.seed,
                                       exponents=(exponent,))
        except FAILURES as error:
            notes[exponent] = f"{exponent}: not tested: {error}"
        else:
            approximate = [d for d, f in has.items() if f.bootstrap is not None and exponent in f.bootstrap.caveats]
            said = ([f"tested across {', '.join(has)} only{why}"] if lacking else []) + (
                [f"the interval of {', '.join(approximate)} is approximate (a fragile frontier: see 'Values without "
                 "an interval'), and so is the test"] if approximate else [])
            if said:
                notes[exponent] = f"{exponent}: " + "; ".join(said)
    return tests, notes


def build_report(curves: pd.DataFrame, out_dir: str | Path, name: str, options: ReportOptions = ReportOptions(),
                 trials: pd.DataFrame | None = None, experiment: str | None = None) -> Path:
    """Analyse every domain of ``curves`` (and ``trials``, one row per run with its last metrics, if given) and
    write report.html, report.md, fits.json and the PNGs to ``out_dir/name``."""
    counts = flops_counts(curves)
    out = Path(out_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    trials = trials if trials is not None else curves.groupby("run", as_index=False).first()
    trial_parts = split_domains(trials) if "domain" in trials.columns else {}
    domains = {d: analyse_domain(d, part, trial_parts.get(d, trials.iloc[:0]), options)
               for d, part in split_domains(curves).items()}
    tests: dict[str, UniversalityTest] = {}
    notes: dict[str, str] = {}
    if len(set(counts.values())) > 1:
        notes = {e: f"{e}: not tested: the domains count compute differently ({counts})" for e in ("alpha_C", "beta")}
    elif len(domains) >= 2:
        tests, notes = _universality({d: r.frontier for d, r in domains.items() if r.frontier is not None}, options)

    doc = Document(f"Scaling report: {name}")
    doc.paragraph(f"{curves['run'].nunique()} runs in {len(domains)} domain(s); bootstrap: {options.n_bootstrap} "
                  f"resamples, seed {options.seed}; compute C counts {_count_words(counts)}.")
    doc.items([f"{k}: {v}" for k, v in RULES.items()])
    doc.heading("Per-domain fits (Henighan et al. 2020, Table 1 layout; 95% CIs; C in PF-days)")
    doc.table(table1(domains))
    _section(doc, "Values without an interval, and flagged fits: why",
             [f"{d}, {fit.law} law: {problem}" for d, r in domains.items() for fit in (r.frontier, r.size)
              if fit is not None for problem in fit.problems])
    if tests or notes:
        doc.heading("Universal exponents across domains")
        doc.items([t.verdict() for t in tests.values()] + list(notes.values()))
        if tests:
            doc.table(_universality_table(tests))
            doc.image(plot_exponents(tests, out))
    _section(doc, "Entropy, KL and forecasts",
             [line for d, r in domains.items() if "interpretation" in r.results
              for line in _interpretation_lines(d, r.results["interpretation"])])
    _section(doc, "Extrapolation check: fitted without the two largest sizes",
             [f"{d}: {part} error on held-out points: mean {e['mean_abs_rel_error']:.2%}, max "
              f"{e['max_abs_rel_error']:.2%} over {e['points']} points"
              for d, r in domains.items() if "extrapolation" in r.results
              for part, e in r.results["extrapolation"].items() if part in ("loss", "n_opt")])
    informations = {d: r.results["mutual_information"] for d, r in domains.items() if "mutual_information" in r.results}
    if informations:
        doc.heading("Mutual information of caption and image")
        doc.items([f"{d}: I(text; image) = {_ci(i.mutual_information_fit['lambda'])} x log(N / "
                   f"{_ci(i.mutual_information_fit['N_c'])}) nats per image; Infogain = "
                   f"{_ci(i.infogain_fit['lambda'])} x log(N / {_ci(i.infogain_fit['N_c'])})"
                   for d, i in informations.items()])
        doc.image(plot_information(informations, out))
    maths = {d: r for d, r in domains.items() if "math" in r.results}
    if maths:
        doc.heading("Math: extrapolation loss against training loss")
        for d, r in maths.items():
            for split, result in r.results["math"].items():
                b = Estimate(**result["slope_vs_train_loss"])
                c = Estimate(**result["slope_vs_n_params_at_equal_train_loss"])
                doc.paragraph(f"{d}, {split} ({result['metric']}, {result['runs']} runs): log loss = a + b log "
                              f"(training loss) + c log N with b = {_ci(b)} and c = {_ci(c)}; "
                              + ("at equal training loss N adds nothing measurable (the CI of c holds 0)."
                                 if c.contains(0.0) else "N matters beyond the training loss (the CI of c excludes 0)."))
            targets = {s: res["metric"] for s, res in r.results["math"].items()}
            doc.image(plot_math(d, r.trials, options.math.train, targets, out))
    doc.heading("Plots per domain")
    for d, r in domains.items():
        doc.image(plot_domain(d, r.curves, r.frontier, r.size, out))
    _section(doc, "Not computed, and why",
             [f"{d} {what}: {why}" for d, r in domains.items() for what, why in r.not_done.items()])

    summary = {"name": name, "experiment": experiment, "runs": int(curves["run"].nunique()),
               "run_ids": sorted(curves["run_id"].unique()) if "run_id" in curves else None,
               "bootstrap": {"resamples": options.n_bootstrap, "seed": options.seed}, "rules": RULES,
               "flops_count": counts,
               "metrics": {"captions": vars(options.captions), "math": vars(options.math)},
               "domains": {d: _fits_json(r) for d, r in domains.items()},
               "universality": {e: {**tests[e].to_dict(), "note": notes.get(e)} if e in tests else notes[e]
                                for e in sorted(tests.keys() | notes.keys())}}
    (out / "fits.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    (out / "report.md").write_text(doc.markdown())
    (out / "report.html").write_text(doc.html())
    return out


def flops_counts(curves: pd.DataFrame) -> dict[str, str]:
    """Each domain's FLOP count (``budget.count`` of its runs): one per domain, or the curves cannot share an axis."""
    if "flops_count" not in curves.columns:
        return {d: "6N" for d in split_domains(curves)}
    counts = {}
    for domain, part in split_domains(curves).items():
        found = sorted(part["flops_count"].unique())
        if len(found) > 1:
            raise FitInputError(f"domain {domain}: runs count compute differently ({found}, the param flops_count): "
                                "their curves do not share an axis; report the searches of each count apart")
        counts[domain] = found[0]
    return counts


def _count_words(counts: dict[str, str]) -> str:
    if len(set(counts.values())) == 1:
        return FLOP_COUNTS[next(iter(counts.values()))]
    return "; ".join(f"{d}: {FLOP_COUNTS[c]}" for d, c in counts.items())


def _section(doc: Document, title: str, lines: list[str]) -> None:
    if lines:
        doc.heading(title)
        doc.items(lines)


def _json_default(value: object) -> object:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def report_from_mlflow(experiment: str, tracking_uri: str | None = None, out_dir: str | Path = "reports",
                       options: ReportOptions = ReportOptions(), name: str | None = None) -> Path:
    """Read the searches of ``experiment``, build their report in ``out_dir/name`` (default: the experiment's
    name), and log the files on each search's parent run under report/."""
    from mlflow.exceptions import MlflowException

    search = read_search(experiment, tracking_uri)
    out = build_report(search.curves, out_dir, name or experiment, options, search.trials, experiment)
    written = [f for f in sorted(out.iterdir()) if f.is_file() and f.suffix in REPORT_FILES]
    try:
        for parent in search.parent_run_ids:  # the report's own files: the folder may also hold the MLflow store
            for path in written:
                search.client.log_artifact(parent, str(path), artifact_path="report")
    except MlflowException as error:
        raise ReportNotLoggedError(out, error) from error
    return out


class ReportNotLoggedError(RuntimeError):
    """The report was written but could not be logged on its search's parent run (the message says why)."""

    def __init__(self, out: Path, error: Exception):
        self.out = out
        served = "mlflow-artifacts" in str(error)
        super().__init__(
            f"the report is written to {out}/report.html but not logged on the search's parent run: "
            + ("this store keeps its runs' artifacts on an MLflow server (mlflow-artifacts:), which a "
               "sqlite:// tracking URI cannot reach; serve the store with `mlflow server --backend-store-uri "
               "sqlite:///PATH/mlflow.db --artifacts-destination PATH/mlartifacts` and pass --tracking-uri "
               "http://127.0.0.1:5000 to log it there" if served else str(error).splitlines()[0]))


def verify_report(report_dir: str | Path, tracking_uri: str | None = None, rel: float = 1e-6) -> list[str]:
    """Where a written report (its fits.json) and a fresh report from the MLflow store it names disagree: other
    runs, or fitted values further apart than ``rel``. Empty when they agree. The report's own bootstrap settings
    are reused, so the fresh fit is the same computation."""
    saved = json.loads((Path(report_dir) / "fits.json").read_text())
    if not saved.get("experiment"):
        raise FitInputError(f"{report_dir}/fits.json names no MLflow experiment; it predates verification")
    options = ReportOptions(n_bootstrap=saved["bootstrap"]["resamples"], seed=saved["bootstrap"]["seed"],
                            captions=CaptionMetrics(**saved["metrics"]["captions"]),
                            math=MathMetrics(**saved["metrics"]["math"]))
    search = read_search(saved["experiment"], tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        fresh_dir = build_report(search.curves, tmp, saved["name"], options, search.trials, saved["experiment"])
        fresh = json.loads((fresh_dir / "fits.json").read_text())
    return list(_differences(saved, fresh, "", rel))


def _differences(a: object, b: object, where: str, rel: float) -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                yield f"{where}/{key}: only in the {'report' if key in a else 'store'}"
            else:
                yield from _differences(a[key], b[key], f"{where}/{key}", rel)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _differences(x, y, f"{where}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, (int, float)):
        if not (np.isclose(a, b, rtol=rel, atol=0) or (np.isnan(a) and np.isnan(b))):
            yield f"{where}: report {a!r}, store {b!r}"
    elif a != b:
        yield f"{where}: report {a!r}, store {b!r}"
