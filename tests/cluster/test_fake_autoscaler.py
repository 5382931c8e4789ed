"""Ray's own autoscaler, with its fake multi-node provider, starts GPU nodes for the trials of a search that ask for
a GPU, the trials run there, and the nodes go away after the idle timeout (cluster/local/fake-gpu.yaml: 6 s).

The workload is `scalesearch run` of a simulated search whose resources give every trial {"CPU": 1, "GPU": 1}
(the head has no GPU), driven from a subprocess; each trial's MLflow run is tagged with the node it ran on. A second
subprocess records which nodes are alive, so up and down times are measured from outside the search.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from local_ray import load_cluster_yaml, wait_until

pytestmark = pytest.mark.slow

WORKLOADS = str(Path(__file__).with_name("workloads.py"))
IDLE_TIMEOUT_S = load_cluster_yaml("cluster/local/fake-gpu.yaml")["idle_timeout_minutes"] * 60
RELEASE_DEADLINE_S = 120
TRIALS = 4

# A handful of simulated trials, one GPU each (as resources.rules give a real spec's small sizes, see
# search_spaces/image8x8_gpu_cluster.yaml): the autoscaler must bring up fake 1-GPU nodes to run any of them.
SPEC = {
    "name": "fake-gpu-search",
    "budget": {"flops": 1e21, "reports_per_decade": 4, "first_report_fraction": 1e-4},
    "search": {"backend": "simulate", "n_params": [3e7, 3e9], "initial_sizes": TRIALS, "max_concurrent_trials": 2,
               "refit_every": TRIALS, "bootstrap": 20, "stop": {"flops": 1e23, "max_trials": TRIALS}},
    "resources": {"num_workers": 1, "use_gpu": True, "cpus_per_worker": 1},
}


def read_timeline(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def gpu_nodes(snapshot: dict) -> set[str]:
    return {n["node_id"] for n in snapshot["alive"] if n["gpus"] > 0}


def run_simulated_search(head, tmp_path: Path) -> dict:
    """`scalesearch run` of SPEC against the head; returns when it ran and its trials' MLflow runs."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    submitted = time.time()
    done = subprocess.run([sys.executable, "-m", "scalesearch.cli", "run", str(tmp_path / "spec.yaml"),
                           "--tracking-uri", uri, "--storage", str(tmp_path / "runs")],
                          env=head.client_env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    finished = time.time()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(SPEC["name"])
    trials = client.search_runs([experiment.experiment_id], filter_string="tags.`scalesearch.role` = 'trial'")
    return {"submitted": submitted, "finished": finished, "trials": trials}


def test_gpu_trials_of_a_search_start_fake_gpu_nodes_which_are_released_when_idle(fake_gpu_cluster, tmp_path):
    head = fake_gpu_cluster
    timeline_file = tmp_path / "nodes.jsonl"
    head.start_client([sys.executable, WORKLOADS, "observe", str(timeline_file)], tmp_path / "observe.log")
    first = wait_until(lambda: read_timeline(timeline_file), 120, "the node observer to connect")[0]
    assert len(first["alive"]) == 1 and not gpu_nodes(first), "the cluster must start with its head alone"
    head_id = first["alive"][0]["node_id"]

    work = run_simulated_search(head, tmp_path)
    trials = work["trials"]
    assert len(trials) == TRIALS
    assert all(t.info.status == "FINISHED" and t.data.tags["scalesearch.status"] in ("finished", "stopped")
               for t in trials), [(t.info.status, t.data.tags.get("scalesearch.stop_reason")) for t in trials]

    last_trial_end = max(t.info.end_time for t in trials) / 1000  # when the driver closed the last trial's run

    def released():  # the nodes may be gone before the driver has exited (it fits and closes the search first)
        timeline = read_timeline(timeline_file)
        return timeline if any(s["t"] > last_trial_end and not gpu_nodes(s) for s in timeline) else None

    timeline = wait_until(released, RELEASE_DEADLINE_S, "the fake GPU nodes to be released")
    seen_gpu_nodes = set().union(*(gpu_nodes(s) for s in timeline))
    assert seen_gpu_nodes, "the autoscaler started no GPU node"
    assert head_id not in seen_gpu_nodes
    for trial in trials:  # the node id the trial reported from inside, tagged on its run by the search's recorder
        node = trial.data.tags.get("scalesearch.node_id")
        assert node in seen_gpu_nodes, f"trial {trial.info.run_name} ran on {node}, not on a fake GPU node"

    up_at = min(s["t"] for s in timeline if gpu_nodes(s))
    down_at = next(s["t"] for s in timeline if s["t"] > last_trial_end and not gpu_nodes(s))
    # A node is removed only after it has been idle for the timeout, counted from the end of its last trial.
    assert down_at - last_trial_end >= IDLE_TIMEOUT_S
    print(f"\nfake GPU node up {up_at - work['submitted']:.1f} s after the search started; released "
          f"{down_at - last_trial_end:.1f} s after the last trial ended (idle timeout {IDLE_TIMEOUT_S:.0f} s); "
          f"first trial started {min(t.info.start_time for t in trials) / 1000 - up_at:.1f} s after the node; "
          f"driver {work['finished'] - work['submitted']:.1f} s; GPU nodes used: {len(seen_gpu_nodes)}")
