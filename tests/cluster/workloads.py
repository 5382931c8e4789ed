"""Drivers that the cluster tests run as subprocesses against a test head ($RAY_ADDRESS, token in the environment).

    python workloads.py observe OUT.jsonl           # append the alive nodes to OUT each time they change
    python workloads.py gpu-trials OUT.json STORAGE  # a Tune run whose trials ask for {"CPU": 1, "GPU": 1}

``gpu-trials`` stands in for the adaptive search until ``scalesearch run`` of a simulated spec exists: each trial
reports the node it ran on, its GPU ids and when it ran, which is what the autoscaling test checks.
"""

from __future__ import annotations

import json
import sys
import time

import ray
from ray import tune

GPU_TRIALS = 2  # two pending 1-GPU demands: the autoscaler picks the 1-GPU node type (8-GPU scores lower)


def observe(out: str) -> None:
    ray.init(log_to_driver=False)
    last = None
    with open(out, "a") as f:
        while True:
            alive = sorted(({"node_id": n["NodeID"], "gpus": n["Resources"].get("GPU", 0.0)}
                            for n in ray.nodes() if n["Alive"]), key=lambda n: n["node_id"])
            if alive != last:
                f.write(json.dumps({"t": time.time(), "alive": alive}) + "\n")
                f.flush()
                last = alive
            time.sleep(0.1)


def gpu_trial(config: dict) -> None:
    start = time.time()
    time.sleep(config["seconds"])  # long enough that a trial is seen running on its node
    tune.report({"node_id": ray.get_runtime_context().get_node_id(), "gpu_ids": ray.get_gpu_ids(),
                 "start": start, "end": time.time()})


def gpu_trials(out: str, storage: str) -> None:
    ray.init(log_to_driver=False)
    submitted = time.time()
    tuner = tune.Tuner(tune.with_resources(gpu_trial, {"CPU": 1, "GPU": 1}),
                       param_space={"seconds": 1.0, "i": tune.grid_search(list(range(GPU_TRIALS)))},
                       run_config=tune.RunConfig(storage_path=storage, name="gpu-trials", verbose=0))
    results = tuner.fit()
    trials = [{key: r.metrics[key] for key in ("node_id", "gpu_ids", "start", "end")} for r in results]
    with open(out, "w") as f:
        json.dump({"submitted": submitted, "finished": time.time(), "errors": len(results.errors),
                   "trials": trials}, f)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"observe": observe, "gpu-trials": gpu_trials}[command](*args)
