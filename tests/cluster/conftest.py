"""Fixtures of the cluster tests; the heads and servers themselves are in local_ray.py."""

from __future__ import annotations

import pytest

from local_ray import load_cluster_yaml, start_head


@pytest.fixture
def fake_gpu_cluster():
    """A head with 1 CPU and no GPU whose autoscaler launches fake GPU nodes (cluster/local/fake-gpu.yaml)."""
    head = start_head(num_cpus=1, autoscaling_config=load_cluster_yaml("cluster/local/fake-gpu.yaml"))
    yield head
    head.stop()
