"""The frontier scheduler's decisions on curves from a known law, checked against the law's own crossing points."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler

from scalesearch.compute import report_points
from scalesearch.fits.bootstrap import REPORT_RESAMPLES
from scalesearch.fits.curve_bootstrap import MIN_RUNS_FOR_RUN_NOISE
from scalesearch.fits.synthetic import KnownLaw
from scalesearch.search.control import ci_width, confirmed, precision_reached, refit, stop_reason
from scalesearch.search.recorder import fit_values
from scalesearch.search.scheduler import FrontierScheduler
from scalesearch.search.state import SearchState
from scalesearch.spec import SearchSpec

LAW = KnownLaw.from_chinchilla()
C_MAX = 1e21


class FakeTrial:
    """Only what the scheduler reads of a Tune trial: its id and config."""

    def __init__(self, trial_id: str, n_params: float):
        self.trial_id, self.config = trial_id, {"n_params": n_params}


def compute_where_ratio_reaches(n_small: float, n_large: float, ratio: float) -> float:
    """The compute where L(n_small)/L(n_large) = ratio at equal compute, from the law (bisection on log C)."""
    lo, hi = np.log(1e10), np.log(1e30)
    for _ in range(200):
        mid = (lo + hi) / 2
        c = np.exp(mid)
        if LAW.loss(n_small, c / (6 * n_small)) > ratio * LAW.loss(n_large, c / (6 * n_large)):
            hi = mid
        else:
            lo = mid
    return float(np.exp(hi))


def run_to_stop(scheduler, state, trial, points, margin_first=None):
    """Feed a trial its reports until the scheduler stops it; the compute of the stop, or None."""
    for c in points:
        loss = float(LAW.loss(trial.config["n_params"], c / (6 * trial.config["n_params"])))
        decision = scheduler.on_trial_result(None, trial, {"heldout_loss": loss, "compute": c})
        if decision == TrialScheduler.STOP:
            return c
    return None


def test_a_smaller_model_stops_just_after_a_larger_one_crosses_below_it():
    points = report_points(1e-4 * C_MAX, C_MAX, 10)
    state = SearchState(n_range=(1e7, 1e10))
    scheduler = FrontierScheduler(state, C_MAX, window=10, margin=0.01, patience=2)
    large, small = FakeTrial("large", 1e9), FakeTrial("small", 1e8)
    assert run_to_stop(scheduler, state, large, points) is None  # nothing larger: it runs to the budget
    stopped = run_to_stop(scheduler, state, small, points)
    # Independently: the first report at which the small model is 1% above the large one, then one more
    # (patience 2). Interpolation between reports is exact enough that the report index must match.
    beyond = compute_where_ratio_reaches(1e8, 1e9, 1.01)
    first = next(i for i, c in enumerate(points) if c >= beyond)
    assert stopped == pytest.approx(points[first + 1], rel=1e-12), (stopped, beyond)
    assert stopped < C_MAX / 10
    assert state.stop_reasons["small"].startswith("left the frontier")
    assert "large" not in state.stop_reasons


def test_a_model_too_large_for_the_budget_is_stopped_before_the_budget():
    """N far above N_opt(C_max) never reaches the frontier by C_max; the projection sees it coming."""
    points = report_points(1e-4 * C_MAX, C_MAX, 10)
    n_opt = float(LAW.n_opt(C_MAX))
    state = SearchState(n_range=(1e7, 1e11))
    scheduler = FrontierScheduler(state, C_MAX, window=10, margin=0.01, patience=2)
    run_to_stop(scheduler, state, FakeTrial("optimal", n_opt), points)
    huge = FakeTrial("huge", 30 * n_opt)
    assert LAW.loss(30 * n_opt, C_MAX / (6 * 30 * n_opt)) > LAW.frontier_loss(C_MAX) * 1.01  # the premise
    stopped = run_to_stop(scheduler, state, huge, points)
    assert stopped is not None and stopped < C_MAX / 10
    assert state.stop_reasons["huge"].startswith("will not reach the frontier")


def test_a_trial_beaten_only_at_its_last_report_ends_as_having_reached_its_budget():
    """A stop at the budget ends nothing early: the trial finishes, and its run must not read "stopped"."""
    state = SearchState(n_range=(1e7, 1e10))
    scheduler = FrontierScheduler(state, C_MAX, window=10, margin=0.01, patience=1)
    for c in (0.5 * C_MAX, C_MAX):
        state.add("large", 1e10, c, 2.0)
    before, last = FakeTrial("before", 1e9), FakeTrial("last", 1e9)
    assert scheduler.on_trial_result(None, before, {"heldout_loss": 2.1, "compute": 0.5 * C_MAX}) == \
        TrialScheduler.STOP  # 5% above a larger model before its budget: stopped
    assert scheduler.on_trial_result(None, last, {"heldout_loss": 2.1, "compute": C_MAX}) == TrialScheduler.CONTINUE
    assert "last" not in state.stop_reasons and state.stop_reasons["before"].startswith("left")


def test_a_diverged_trial_stops_with_its_reason():
    state = SearchState(n_range=(1e7, 1e10))
    scheduler = FrontierScheduler(state, C_MAX, window=10)
    trial = FakeTrial("nan", 1e8)
    assert scheduler.on_trial_result(None, trial, {"heldout_loss": float("nan"), "compute": 1e18}) == \
        TrialScheduler.STOP
    assert state.stop_reasons["nan"].startswith("diverged")


def test_a_saved_search_state_forgets_its_live_trials_and_tune_adds_them_again_on_restore():
    """A trial live when Tune saved the state may have ended before the driver died; restored as live, it would
    block the ladder's reading below it for good (SearchState.open_below)."""
    state = SearchState(n_range=(1e7, 1e10))
    scheduler = FrontierScheduler(state, C_MAX, window=10)
    ended, running = FakeTrial("ended", 1e8), FakeTrial("running", 1e9)
    ended.status = running.status = "RUNNING"
    for trial in (ended, running):
        scheduler.on_trial_add(None, trial)
        scheduler.on_trial_result(None, trial, {"heldout_loss": 3.0, "compute": 1e18})
    assert state.live == {"ended": 1e8, "running": 1e9}

    restored = pickle.loads(pickle.dumps(scheduler))
    assert restored.state.live == {} and set(restored.state.curves) == {"ended", "running"}
    ended.status = "TERMINATED"
    for trial in (ended, running):  # what Tune does with each trial of a restored experiment
        restored.on_trial_add(None, trial)
    assert restored.state.live == {"running": 1e9}


def test_frontier_excess_is_negative_only_for_the_trial_that_sets_the_frontier():
    points = np.array(report_points(1e-4 * C_MAX, C_MAX, 10))
    state = SearchState(n_range=(1e7, 1e10))
    for name, n in (("a", 1e8), ("b", 1e9)):
        for c in points:
            state.add(name, n, c, float(LAW.loss(n, c / (6 * n))))
    # Each size is best somewhere (small early, large late), so each sets the frontier somewhere.
    assert state.frontier_excess("a") < 0 and state.frontier_excess("b") < 0
    for c in points:
        state.add("bad_lr", 1e9, c, 1.05 * float(LAW.loss(1e9, c / 6e9)))
    assert state.frontier_excess("bad_lr") > 0


def test_the_envelope_passes_from_small_to_large_sizes_where_the_law_has_them_cross():
    points = np.array(report_points(1e-4 * C_MAX, C_MAX, 10))
    state = SearchState(n_range=(1e7, 1e10))
    for n in (1e8, 3e8, 1e9):
        for c in points:
            state.add(f"N{n:g}", n, c, float(LAW.loss(n, c / (6 * n))))
    lead = state.leaders(points[0], points[-1])
    assert [n for n, _ in lead] == [1e8, 3e8, 1e9]
    for (small, _), (large, c_lead) in zip(lead, lead[1:]):  # the grid is 20 a decade: within 1.2x
        assert c_lead == pytest.approx(compute_where_ratio_reaches(small, large, 1.0), rel=0.2)



def test_the_search_state_keeps_the_tokens_trials_report_and_the_refits_read_them(tmp_path):
    """Under ``budget.count: full`` compute is not 6 N tokens: the state's table (what the live refits fit) carries
    the tokens each report states, from the scheduler and from an MLflow store replayed on resume; where a report
    did not state them, the fits fall back to C / 6N. With the tokens goes each trial's warm-up, before which
    the frontier does not read a curve (a trial that did not say had none)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from scalesearch.fits.inputs import standardize
    from scalesearch.search.recorder import load_curves

    def full_count(n: float, tokens: float) -> float:  # a count that is not 6N: 3x it at N = 1e8, 1.2x at 1e9
        return 6 * (n + 2e8) * tokens

    state = SearchState(n_range=(1e7, 1e10))
    scheduler = FrontierScheduler(state, c_max=C_MAX, window=3, margin=0.02)
    reported = {}
    for n in (1e8, 1e9):
        trial = FakeTrial(f"N{n:g}", n)
        for tokens in (1e9, 2e9, 4e9):
            warmup = {"warmup_tokens": 1.5e9} if n == 1e9 else {}
            scheduler.on_trial_result(None, trial, {"heldout_loss": float(LAW.loss(n, tokens)), "tokens": tokens,
                                                    "compute": full_count(n, tokens), **warmup})
            reported[(trial.trial_id, full_count(n, tokens))] = tokens
    table = standardize(state.table())
    assert [reported[(r.run, r.compute)] for r in table.itertuples()] == table["tokens"].tolist()
    assert table.groupby("n_params")["warmup_tokens"].unique().to_dict() == {1e8: [0.0], 1e9: [1.5e9]}

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("replay")).info.run_id
    client.log_param(run_id, "n_params", 1e8)
    client.log_param(run_id, "warmup_tokens", 1.5e9)
    client.log_batch(run_id, metrics=[Metric(name, value, 0, int(tokens))
                                      for tokens in (1e9, 2e9) for name, value in
                                      (("heldout_loss", 3.0 - tokens / 1e10), ("compute", full_count(1e8, tokens)),
                                       ("tokens", tokens))])
    replayed = SearchState(n_range=(1e7, 1e10))
    load_curves(client, {"t0": run_id}, replayed)
    assert replayed.table()["tokens"].tolist() == [1e9, 2e9]
    assert replayed.table()["warmup_tokens"].tolist() == [1.5e9, 1.5e9]

    replayed.add("t1", 1e9, full_count(1e9, 1e9), 3.0)  # a report without tokens
    assert "tokens" not in replayed.table().columns


def test_no_precision_stop_on_a_fit_whose_bootstrap_could_not_measure_run_noise():
    """With fewer runs than the bootstrap needs to measure run-to-run noise its CIs are too narrow to stop on."""
    spec = SearchSpec(n_params=(1e7, 1e9))
    narrow = {"ok": True, "beta": {"ci_low": 0.50, "ci_high": 0.52}, "alpha_C": {"ci_low": 0.17, "ci_high": 0.18}}
    state = SearchState(n_range=(1e7, 1e9))
    assert stop_reason(state, spec, {**narrow, "runs": MIN_RUNS_FOR_RUN_NOISE - 1}, False) is None
    assert stop_reason(state, spec, {**narrow, "runs": MIN_RUNS_FOR_RUN_NOISE}, False).startswith("precision")


def test_the_precision_stop_waits_for_both_intervals_a_settled_range_and_an_ok_fit():
    """An interval the bootstrap withheld (NaN) is never narrow enough; a wide one, a moved range or a fit with
    problems do not stop the search either; the stop names both widths."""
    spec = SearchSpec(n_params=(1e7, 1e9), stop={"beta_ci_width": 0.06, "alpha_c_ci_width": 0.04})
    fit = {"ok": True, "runs": MIN_RUNS_FOR_RUN_NOISE, "beta": {"ci_low": 0.50, "ci_high": 0.55},
           "alpha_C": {"ci_low": 0.17, "ci_high": 0.20}}
    reason = precision_reached(fit, spec.stop, range_moved=False)
    assert reason and "beta 0.050 <= 0.06" in reason and "alpha_C 0.030 <= 0.04" in reason
    assert precision_reached(fit, spec.stop, range_moved=True) is None
    assert precision_reached({**fit, "ok": False}, spec.stop, range_moved=False) is None
    wide = {**fit, "alpha_C": {"ci_low": 0.15, "ci_high": 0.20}}
    assert precision_reached(wide, spec.stop, range_moved=False) is None
    withheld = {**fit, "beta": {"value": 0.52, "ci_low": float("nan"), "ci_high": float("nan")}}
    assert np.isnan(ci_width(withheld, "beta"))
    assert precision_reached(withheld, spec.stop, range_moved=False) is None
    assert precision_reached(None, spec.stop, range_moved=False) is None


def test_a_precision_stop_is_decided_on_the_reports_number_of_resamples():
    """A live refit (20 resamples here) whose intervals pass the targets is done again with REPORT_RESAMPLES in
    its place, and the stop reads that one; one that does not pass is left as it is, with no second refit."""
    curves = LAW.curves(np.geomspace(3e7, 3e9, 7), c_max=C_MAX, points_per_decade=8, noise=0.003,
                        rng=np.random.default_rng(0), c_min=1e17, run_noise=0.002)
    state = SearchState(n_range=(3e7, 3e9))
    for row in curves.itertuples():
        state.add(row.run, row.n_params, row.compute, row.loss)
    wide = SearchSpec(n_params=(3e7, 3e9), bootstrap=20, stop={"beta_ci_width": 1.0, "alpha_c_ci_width": 1.0})
    cheap = refit(state, wide)
    cheap["range_moved"] = False
    decided = confirmed(state, wide, cheap)
    assert cheap["resamples"] == 20 and decided["resamples"] == REPORT_RESAMPLES
    assert state.fits == [decided]  # in the live refit's place: one summary per logged refit
    assert decided["beta"]["value"] == cheap["beta"]["value"] and decided["beta"]["ci_low"] != cheap["beta"]["ci_low"]
    assert f"{REPORT_RESAMPLES} resamples" in stop_reason(state, wide, decided, False)

    narrow = wide.model_copy(update={"stop": wide.stop.model_copy(update={"beta_ci_width": 1e-4})})
    state.fits.clear()
    cheap = refit(state, narrow)
    cheap["range_moved"] = False
    assert confirmed(state, narrow, cheap) is cheap and state.fits == [cheap]


@pytest.mark.parametrize("estimator", ["frontier", "chinchilla_mean"])
def test_a_refit_reads_beta_and_alpha_c_under_the_same_names_whatever_the_estimator(estimator):
    """Kaplan's non-additive form (gamma = alpha_D = 0.37), 7 sizes to 1e21 with the simulator's noise: both
    estimators give the N_opt exponent as ``beta`` (not the L(N, D) law's data exponent, kept as ``beta_D``) and
    alpha_C, near the closed form's, with intervals."""
    truth = KnownLaw.kaplan_form(E=1.8172, N_c=1.84e8, D_c=3.56e9, alpha_N=0.35, alpha_D=0.37)
    curves = truth.curves(np.geomspace(3e7, 3e9, 7), c_max=C_MAX, points_per_decade=8, noise=0.003,
                          rng=np.random.default_rng(0), c_min=1e17, run_noise=0.002)
    state = SearchState(n_range=(3e7, 3e9))
    for row in curves.itertuples():
        state.add(row.run, row.n_params, row.compute, row.loss)
    spec = SearchSpec(n_params=(3e7, 3e9), bootstrap=20, estimator=estimator)
    fit = refit(state, spec)
    assert fit["ok"] and fit["estimator"] == estimator and fit["runs"] == 7, fit.get("problems")
    assert fit["beta"]["value"] == pytest.approx(truth.beta_opt, abs=0.02)
    assert fit["alpha_C"]["value"] == pytest.approx(truth.alpha_c, abs=0.01)
    assert fit["beta"]["ci_low"] < fit["beta"]["value"] < fit["beta"]["ci_high"]
    assert fit["n_opt_at_max"] == pytest.approx(truth.n_opt(C_MAX), rel=0.3)
    if estimator == "chinchilla_mean":
        assert fit["beta_D"]["value"] == pytest.approx(0.37, abs=0.03) and fit["L_inf"]["value"] > 1.5


def test_a_refit_keeps_n_opt_alone_where_the_hull_leaves_l_of_c_nothing():
    """The report's fallback, live: Chinchilla's curves bent concave in log-log by one factor per compute (as in
    tests/fits/test_mlflow_report.py) keep their crossings but leave the hull no interior size. The refit keeps
    N_opt(C) alone, with beta's interval about the closed form and N_opt at the highest compute for range
    control, says why the rest was refused, and never counts as precise enough to stop on alpha_C."""
    curves = LAW.curves(np.geomspace(1e7, 1e9, 9), c_max=1e20, points_per_decade=8, noise=0.003,
                        rng=np.random.default_rng(0), c_min=1e16)
    curves["loss"] *= np.exp(-0.05 * np.log10(curves["compute"] / 1e16) ** 2)
    state = SearchState(n_range=(1e7, 1e9))
    for row in curves.itertuples():
        state.add(row.run, row.n_params, row.compute, row.loss)
    spec = SearchSpec(n_params=(1e7, 1e9), bootstrap=20, stop={"beta_ci_width": 1.0, "alpha_c_ci_width": 1.0})
    fit = refit(state, spec)
    assert fit["law"] == "N_opt(C) alone" and "alpha_C" not in fit and "why" not in fit
    assert set(fit["refused"]) == {"frontier", "L(C) alone"}
    assert "not convex in log-log" in fit["refused"]["L(C) alone"]
    assert fit["beta"]["ci_low"] < LAW.beta_opt < fit["beta"]["ci_high"]
    assert fit["n_opt_at_max"] == pytest.approx(LAW.n_opt(1e20), rel=0.3)
    assert fit_values(fit).startswith(f"N_opt(C) alone: N_opt(C_max)={fit['n_opt_at_max']:.3g}, beta ")
    assert np.isnan(ci_width(fit, "alpha_C")) and stop_reason(state, spec, {**fit, "ok": True}, False) is None
