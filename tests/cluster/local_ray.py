"""Ray heads and MLflow servers that the cluster tests start on 127.0.0.1 and stop themselves.

Other sessions run Ray on this machine at the same time, so nothing here uses ``ray stop`` (it ends every Ray on
the machine) or Ray's default ports. Each head has its own temp dir (short: Unix socket paths are limited to 107
bytes), free ports, worker ports outside Ray's default range, and token authentication on with its own token, as
on a real cluster. Every process a head starts, down to the fake nodes its autoscaler launches and their workers,
inherits a marker variable; stopping a head ends its process group and then any process that carries its marker.
Clients (drivers, ``scalesearch launch``) run as subprocesses with ``head.client_env()``: Ray reads its
authentication settings once per process, so the pytest process itself never connects.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MARKER = "SCALESEARCH_TEST_CLUSTER"
HEAD_START_S = 180  # a loaded 2-core machine can take a minute to start a head with a dashboard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 0.2):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def processes_with_marker(marker: str) -> list[int]:
    """PIDs whose environment carries ``MARKER=marker``: the processes one head started, wherever they hid."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def stop_process_group(process: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM a process group this test started, then SIGKILL what is left after ``grace_s``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@dataclass
class Head:
    """A Ray head started by ``ray start --head --block`` in its own session, with what clients need to reach it."""

    process: subprocess.Popen
    temp_dir: Path
    gcs_address: str
    dashboard_url: str | None
    token: str
    marker: str
    clients: list[subprocess.Popen] = field(default_factory=list)

    def client_env(self, **extra: str) -> dict[str, str]:
        """Environment for a process that talks to this head: its token, its marker (so cleanup finds it)."""
        env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token, MARKER: self.marker,
               "RAY_ADDRESS": self.gcs_address, "RAY_USAGE_STATS_ENABLED": "0", **extra}
        env.pop("RAY_AUTH_TOKEN_PATH", None)
        return env

    def start_client(self, args: list[str], log: Path, **extra: str) -> subprocess.Popen:
        """A long-running client (e.g. an observer) that ``stop`` ends with the head."""
        process = subprocess.Popen(args, env=self.client_env(**extra), start_new_session=True, cwd=REPO,
                                   stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.clients.append(process)
        return process

    def log(self) -> str:
        return (self.temp_dir / "head.log").read_text(errors="replace")

    def stop(self) -> list[int]:
        """End everything this head and its clients started; returns the PIDs that had to be killed by marker."""
        for client in self.clients:
            stop_process_group(client, grace_s=5)
        stop_process_group(self.process, grace_s=5)  # a test head's graceful exit can take 20 s; not needed
        stragglers = processes_with_marker(self.marker)
        for pid in stragglers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not processes_with_marker(self.marker), 30, "the head's processes to exit")
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        return stragglers


def start_head(*, num_cpus: int, autoscaling_config: dict | None = None, dashboard: bool = False) -> Head:
    """Start a head on 127.0.0.1; with ``autoscaling_config`` under Ray's fake multi-node provider."""
    temp_dir = Path(tempfile.mkdtemp(prefix="ss-ray-", dir="/tmp"))
    gcs_port, marker, token = free_port(), secrets.token_hex(8), secrets.token_hex(32)
    worker_low = random.randrange(20000, 29000, 200)  # Ray's default worker ports are 10002-19999
    args = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={gcs_port}", f"--num-cpus={num_cpus}", "--num-gpus=0",
            "--object-store-memory=100000000", f"--temp-dir={temp_dir / 'r'}", "--disable-usage-stats",
            f"--min-worker-port={worker_low}", f"--max-worker-port={worker_low + 199}",
            f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}"]
    dashboard_url = None
    if dashboard:
        dashboard_port = free_port()
        dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        args += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}"]
    else:
        args += ["--include-dashboard=false"]
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, MARKER: marker,
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    env.pop("RAY_ADDRESS", None)
    if autoscaling_config is not None:
        config = {**autoscaling_config,
                  "provider": {**autoscaling_config["provider"], "gcs_address": f"127.0.0.1:{gcs_port}"}}
        (temp_dir / "autoscaling.yaml").write_text(yaml.safe_dump(config))
        args.append(f"--autoscaling-config={temp_dir / 'autoscaling.yaml'}")
        env.update(RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1")
    process = subprocess.Popen(args, env=env, start_new_session=True, cwd=temp_dir,
                               stdout=(temp_dir / "head.log").open("w"), stderr=subprocess.STDOUT)
    head = Head(process, temp_dir, f"127.0.0.1:{gcs_port}", dashboard_url, token, marker)

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"`ray start --head` exited with {process.returncode}:\n{head.log()[-3000:]}")
        if "Ray runtime started" not in head.log():
            return False
        return dashboard_url is None or _answers(f"{dashboard_url}/api/version", token)

    try:
        wait_until(ready, HEAD_START_S, "the Ray head to start", interval_s=0.5)
    except BaseException:
        head.stop()
        raise
    return head


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        return urllib.request.urlopen(request, timeout=2).status == 200
    except OSError:
        return False


@dataclass
class MlflowServer:
    """A real ``mlflow server`` on loopback: SQLite backend store, artifacts proxied to a local directory."""

    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        stop_process_group(self.process, grace_s=10)


def start_mlflow_server(root: Path) -> MlflowServer:
    port = free_port()
    args = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts")]
    process = subprocess.Popen(args, start_new_session=True, cwd=root, stdout=(root / "mlflow.log").open("w"),
                               stderr=subprocess.STDOUT)
    return MlflowServer(process, f"http://127.0.0.1:{port}")


def wait_for_mlflow(server: MlflowServer, root: Path) -> None:
    def healthy() -> bool:
        if server.process.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.process.returncode}:\n"
                        f"{(root / 'mlflow.log').read_text()[-3000:]}")
        return _answers(f"{server.url}/health", "")

    wait_until(healthy, 120, "the MLflow server to answer /health", interval_s=0.5)


def load_cluster_yaml(relative: str) -> dict:
    return yaml.safe_load((REPO / relative).read_text())


def jobs_api_missing() -> str | None:
    """Why this environment cannot run a head with the Jobs API (it lives in the dashboard: ray[default])."""
    from ray._private.utils import get_dashboard_dependency_error

    error = get_dashboard_dependency_error()
    return f"the Ray Jobs API needs ray[default] ({error}): pip install 'ray[default]==2.60.0'" if error else None
