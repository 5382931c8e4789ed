"""Ray's own autoscaler, with its fake multi-node provider, starts GPU nodes for trials that ask for a GPU, the
trials run there, and the nodes go away after the idle timeout (cluster/local/fake-gpu.yaml: 6 s).

The workload is a Tune run of function trials asking for {"CPU": 1, "GPU": 1}, driven from a subprocess; a second
subprocess records which nodes are alive, so up and down times are measured from outside the workload.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local_ray import load_cluster_yaml, wait_until

pytestmark = pytest.mark.slow

WORKLOADS = str(Path(__file__).with_name("workloads.py"))
IDLE_TIMEOUT_S = load_cluster_yaml("cluster/local/fake-gpu.yaml")["idle_timeout_minutes"] * 60
RELEASE_DEADLINE_S = 120


def read_timeline(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def gpu_nodes(snapshot: dict) -> set[str]:
    return {n["node_id"] for n in snapshot["alive"] if n["gpus"] > 0}


def run_gpu_workload(head, tmp_path: Path) -> dict:
    """Trials asking for one GPU each; returns when they ran and on which nodes.

    When `scalesearch run` can drive a simulated spec on Ray Tune, this is the place to run it instead (trials
    must then record their node id, e.g. as an MLflow tag)."""
    out = tmp_path / "trials.json"
    done = subprocess.run([sys.executable, WORKLOADS, "gpu-trials", str(out), str(tmp_path / "tune")],
                          env=head.client_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


def test_gpu_trials_start_fake_gpu_nodes_which_are_released_when_idle(fake_gpu_cluster, tmp_path):
    head = fake_gpu_cluster
    timeline_file = tmp_path / "nodes.jsonl"
    head.start_client([sys.executable, WORKLOADS, "observe", str(timeline_file)], tmp_path / "observe.log")
    first = wait_until(lambda: read_timeline(timeline_file), 120, "the node observer to connect")[0]
    assert len(first["alive"]) == 1 and not gpu_nodes(first), "the cluster must start with its head alone"
    head_id = first["alive"][0]["node_id"]

    work = run_gpu_workload(head, tmp_path)
    assert work["errors"] == 0 and len(work["trials"]) >= 2

    def released():
        timeline = read_timeline(timeline_file)
        last = timeline[-1]
        return timeline if last["t"] > work["finished"] and not gpu_nodes(last) else None

    timeline = wait_until(released, RELEASE_DEADLINE_S, "the fake GPU nodes to be released")
    seen_gpu_nodes = set().union(*(gpu_nodes(s) for s in timeline))
    assert seen_gpu_nodes, "the autoscaler started no GPU node"
    assert head_id not in seen_gpu_nodes
    for trial in work["trials"]:
        assert trial["node_id"] in seen_gpu_nodes, f"trial ran on {trial['node_id']}, not on a fake GPU node"
        assert len(trial["gpu_ids"]) == 1

    up_at = min(s["t"] for s in timeline if gpu_nodes(s))
    down_at = next(s["t"] for s in timeline if s["t"] > work["finished"] and not gpu_nodes(s))
    last_trial_end = max(t["end"] for t in work["trials"])
    # A node is removed only after it has been idle for the timeout, counted from the end of its last trial.
    assert down_at - last_trial_end >= IDLE_TIMEOUT_S
    print(f"\nfake GPU node up {up_at - work['submitted']:.1f} s after the trials were submitted; released "
          f"{down_at - last_trial_end:.1f} s after the last trial ended (idle timeout {IDLE_TIMEOUT_S:.0f} s); "
          f"GPU nodes used: {len(seen_gpu_nodes)}")
