"""Shared fixtures: the published reference tables, a private data cache, one local Ray instance, a wait for
something another process does."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"published reference data not found at {REFERENCE}: the repo must sit beside shared/")
    return REFERENCE


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """Tests prepare datasets into their own cache, never the user's ./.scalesearch."""
    cache = tmp_path_factory.mktemp("data-cache")
    os.environ["SCALESEARCH_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray instance for the whole session (2 CPUs, like CI)."""
    import ray

    from scalesearch.job import ensure_ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ensure_ray()
    yield ray
    ray.shutdown()


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout, what)``: the first truthy value of ``predicate``, polled until ``timeout`` s,
    for what a process the test started does in its own time (a trial reported, a run tagged)."""
    def wait(predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    return wait
