"""A driver that the cluster tests run as a subprocess against a test head ($RAY_ADDRESS, token in the environment).

    python workloads.py observe OUT.jsonl   # append the alive nodes to OUT each time they change

The workload itself is `scalesearch run` of a simulated search (test_fake_autoscaler.py).
"""

from __future__ import annotations

import json
import sys
import time

import ray


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


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"observe": observe}[command](*args)
