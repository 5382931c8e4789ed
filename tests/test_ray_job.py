"""One training job on a real local Ray instance (Train V2, gloo DDP), logged to a real SQLite MLflow store."""

from __future__ import annotations

import time

import pytest
import ray
import ray.train
from mlflow.tracking import MlflowClient
from ray.tune.schedulers import FIFOScheduler
from ray.util.state import list_actors

from scalesearch.job import make_trainer, model_for, run_job
from scalesearch.spec import parse_spec
from scalesearch.train import Job

pytestmark = pytest.mark.slow


def spec(num_workers: int, name: str = "ray-test"):
    return parse_spec({"name": name, "domain": {"name": "text", "options": {"seq_len": 32}},
                       "model": {"family": "henighan", "n_params": 2e4, "aspect": 8},
                       "train": {"batch_size": 8, "heldout_sequences": 32, "schedule": "cosine"},
                       "budget": {"flops": 6 * 2.3e4 * 8 * 32 * 40, "reports_per_decade": 4},
                       "resources": {"num_workers": num_workers}})


def curve(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def test_two_workers_match_one_worker_and_mlflow_holds_the_job(ray_local, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    one = run_job(spec(1), tracking_uri=uri, storage_path=tmp_path / "runs")
    two = run_job(spec(2), tracking_uri=uri, storage_path=tmp_path / "runs")
    assert one.status == two.status == "finished"
    client = MlflowClient(uri)
    for key in ("train_loss", "heldout_loss"):
        a, b = curve(client, one.run_id, key), curve(client, two.run_id, key)
        assert a.keys() == b.keys() and len(a) >= 8
        for step in a:  # same global batch split over two gloo workers: same losses up to float rounding
            assert b[step] == pytest.approx(a[step], rel=1e-4), (key, step)

    run = client.get_run(one.run_id)
    cfg = model_for(spec(1))
    assert run.data.params["n_params"] == str(cfg.n_params)
    assert run.data.params["domain"] == "text" and run.data.params["data_fingerprint"]
    assert run.data.tags["scalesearch.status"] == "finished"
    assert run.data.tags["scalesearch.checkpoint"].endswith("state.pt")
    tokens = curve(client, one.run_id, "tokens")
    compute = curve(client, one.run_id, "compute")
    assert all(step == tokens[step] for step in tokens)  # step = tokens
    assert all(compute[s] == 6 * cfg.n_params * s for s in compute)

    # On a Ray instance started here nothing is preempted: no watcher actor per job (one process less to start).
    started = {a.class_name for a in list_actors(limit=1000)}
    assert "TrainController" in started and "PreemptionWatcher" not in started


def test_a_job_runs_inside_a_tune_trial(ray_local, tmp_path):
    """The Train V2 + Tune pattern: a Tune function trial builds a TorchTrainer with TuneReportCallback."""
    from ray import tune

    s = spec(1)
    job = Job(model=model_for(s), train=s.train, domain=s.domain, budget_flops=s.budget.flops,
              reports_per_decade=4)

    def trial(config):
        make_trainer(job, s.resources, name=f"trial-{config['i']}", storage_path=tmp_path / "train",
                     in_tune=True).fit()

    tuner = tune.Tuner(tune.with_resources(trial, {"cpu": 0.01}), param_space={"i": tune.grid_search([0])},
                       run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="tune-test"))
    results = tuner.fit()
    assert not results.errors
    df = results[0].metrics_dataframe
    assert len(df) >= 8 and {"compute", "heldout_loss", "tokens"} <= set(df.columns)
    assert df["heldout_loss"].iloc[-1] < df["heldout_loss"].iloc[0]


class SlowToDecide(FIFOScheduler):
    """A driver busy on a trial's first report for longer than the trial's run takes to end after its second,
    as a search can be while it refits: the trial's next result is not asked for until then."""

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if result.get("step") == 0:
            time.sleep(5)  # provokes the race the callback closes; the test does not wait on it to pass
        return super().on_trial_result(tune_controller, trial, result)


@pytest.mark.timeout(180)  # without the callback it hangs: fail in minutes, not the suite's 10
def test_a_run_that_ends_right_after_a_report_does_not_hang_its_trial(ray_local, tmp_path):
    """With TuneReportCallback, the run ends while its last report waits in Tune's queue: the trial's closing
    result and that report then meet in a one-slot queue and the trial hangs for good (Ray 2.60;
    job.ReportTakenCallback). Both reports reach Tune and the trial ends."""
    from ray import tune
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from scalesearch.job import ReportTakenCallback

    def two_reports_then_end(config: dict) -> None:  # defined here: Ray's workers cannot import a test module
        for step in range(2):
            ray.train.report({"step": step})  # ends right after its last report, as a stopped job does

    def trial(config):
        TorchTrainer(two_reports_then_end, scaling_config=ScalingConfig(num_workers=1),
                     run_config=RunConfig(name="ends-after-report", storage_path=str(tmp_path / "train"),
                                          callbacks=[ReportTakenCallback()])).fit()

    tuner = tune.Tuner(tune.with_resources(trial, {"cpu": 0.01}),
                       tune_config=tune.TuneConfig(scheduler=SlowToDecide()),
                       run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name="handoff"))
    results = tuner.fit()
    assert not results.errors
    assert results[0].metrics_dataframe["step"].tolist() == [0, 1]
