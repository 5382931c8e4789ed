"""``scalesearch launch SPEC --address http://HEAD:8265`` runs a spec on a Ray cluster as a Ray Job;
``scalesearch jobs list|status|logs|stop`` follows and ends it.

Why a Ray Job: the driver (Tune, Optuna, the search) then runs on the cluster's head, not on a laptop that may
sleep, and the cluster keeps its logs. The job carries a runtime environment: the working directory (uploaded,
so the spec and any local code changes travel with it), optional pip packages, and ``MLFLOW_TRACKING_URI``, so
every trial on every node logs to the one tracking server. The spec is validated here before anything is sent:
a typo fails in a second, not after the cluster has started GPU nodes.

Security: the Jobs API runs whatever it is sent. Reach it on a private address or through a tunnel
(``ray dashboard cluster/aws.yaml``, ``kubectl port-forward``), with Ray token authentication on: set
``RAY_AUTH_MODE=token`` and the cluster's token (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN`` or
``RAY_AUTH_TOKEN_PATH``) in the shell that runs these commands.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scalesearch.spec import load_spec

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

OK, FAILED = 0, 1


# Kept out of the uploaded working directory (Ray also honours the directory's .gitignore): local run outputs and
# caches, which can be large, and version control.
UPLOAD_EXCLUDES = [".git", "**/__pycache__", "mlflow.db", "mlruns", "mlartifacts", "runs", ".scalesearch",
                   ".venv", "*.egg-info"]
CONNECT_TIMEOUT_S = 5.0


class LaunchError(ValueError):
    """Bad input to a launch or job command (spec, address, job id); the message says what is wrong and what to do.

    A ValueError, so the CLI answers it like any bad input: exit code 2 with the message on stderr."""


@dataclass(frozen=True)
class Submission:
    """Everything sent to the Jobs API for one spec: plain data, built and checked before any network call."""

    entrypoint: str
    runtime_env: dict[str, Any]
    submission_id: str
    metadata: dict[str, str] = field(default_factory=dict)


def entrypoint(spec_path: str, search: bool, storage: str | None = None) -> str:
    """The shell command the cluster runs: the CLI under the interpreter that runs Ray there, so no PATH is assumed.
    A spec with a search section runs the search (`scalesearch run`), one without trains its one model; ``storage``
    is where the search keeps Tune's state and the trials' checkpoints."""
    return shlex.join(["python", "-m", "scalesearch.cli", "run" if search else "train", spec_path,
                       *(["--storage", storage] if storage else [])])


def plan_submission(spec_path: str | Path, working_dir: str | Path = ".", tracking_uri: str | None = None,
                    pip: list[str] | None = None, storage: str | None = None) -> Submission:
    """Validate the spec locally and build the job: entrypoint, runtime environment, a readable submission id."""
    spec = load_spec(spec_path)  # SpecError names the file and the field
    root = Path(working_dir).resolve()
    if not root.is_dir():
        raise LaunchError(f"--working-dir {working_dir}: not a directory")
    spec_file = Path(spec_path).resolve()
    if not spec_file.is_relative_to(root):
        raise LaunchError(f"{spec_path}: the spec must lie inside the working directory {root} (it is uploaded with "
                          "it); move it there or pass --working-dir")
    uri = _tracking_uri(tracking_uri, spec.tracking.uri, str(spec_path))
    runtime_env: dict[str, Any] = {"working_dir": str(root), "excludes": UPLOAD_EXCLUDES,
                                   "env_vars": {"MLFLOW_TRACKING_URI": uri}}
    if pip:
        runtime_env["pip"] = list(pip)
    slug = re.sub(r"[^a-z0-9]+", "-", spec.name.lower()).strip("-") or "spec"
    submission_id = f"scalesearch-{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    relative = spec_file.relative_to(root).as_posix()
    return Submission(entrypoint=entrypoint(relative, spec.search is not None, storage), runtime_env=runtime_env,
                      submission_id=submission_id,
                      metadata={"scalesearch.spec": relative, "scalesearch.name": spec.name})


def _tracking_uri(explicit: str | None, in_spec: str | None, spec_path: str) -> str:
    """The URI every trial logs to. It must name a server the cluster reaches: a local default would put the runs
    in a SQLite file inside the job's temporary directory on the head, lost with it."""
    if explicit and in_spec and explicit != in_spec:
        raise LaunchError(f"{spec_path}: tracking.uri is {in_spec!r} but --tracking-uri is {explicit!r}; the spec's "
                          "value would win on the cluster. Remove one of them.")
    uri = explicit or in_spec or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise LaunchError("no MLflow tracking URI: pass --tracking-uri http://<mlflow server the cluster reaches>:5000 "
                          "(or set tracking.uri in the spec, or $MLFLOW_TRACKING_URI)")
    return uri


def connect(address: str) -> JobSubmissionClient:
    """A Jobs API client for ``address``, failing fast with the cause when the head cannot be reached or refuses."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    url = address if "://" in address else f"http://{address}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LaunchError(f"--address {address}: expected the dashboard's HTTP address, http://HEAD:8265 (not the "
                          "GCS address HEAD:6379 nor a ray:// client address)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise LaunchError(f"cannot reach the Ray Jobs API at {url} ({err}). Is the cluster up and the tunnel open "
                          "(`ray dashboard cluster/aws.yaml`, `kubectl port-forward svc/<cluster>-head-svc "
                          "8265:8265`)? The head must run the dashboard (ray[default]).") from None
    try:
        return JobSubmissionClient(url)
    except AuthenticationError as err:
        raise LaunchError(f"the Ray cluster at {url} refused the request: {err}") from None
    except (ConnectionError, RuntimeError) as err:
        raise LaunchError(f"{url} does not answer as a Ray Jobs API ({err}); give the dashboard's address "
                          "(port 8265 by default)") from None


def _call(what: str, job_id: str, address: str, fn, *args):
    """Run one Jobs API call, turning its bare RuntimeErrors into messages that name the job and the fix."""
    from ray.exceptions import AuthenticationError

    try:
        return fn(*args)
    except AuthenticationError as err:
        raise LaunchError(f"{what} {job_id}: the Ray cluster at {address} refused the request: {err}") from None
    except RuntimeError as err:
        if "404" in str(err) or "does not exist" in str(err):
            raise LaunchError(f"no job {job_id!r} on the cluster at {address}; `scalesearch jobs list --address "
                              f"{address}` shows the jobs it knows") from None
        raise LaunchError(f"{what} {job_id} on {address} failed: {err}") from None


def submit(client: JobSubmissionClient, submission: Submission) -> str:
    """Send the job; returns its submission id."""
    from ray.exceptions import AuthenticationError

    try:
        return client.submit_job(entrypoint=submission.entrypoint, runtime_env=submission.runtime_env,
                                 submission_id=submission.submission_id, metadata=submission.metadata)
    except AuthenticationError as err:
        raise LaunchError(f"the Ray cluster refused the job: {err}") from None
    except RuntimeError as err:
        raise LaunchError(f"the Ray cluster did not take the job: {err}") from None


def follow(client: JobSubmissionClient, job_id: str, address: str, out=sys.stdout) -> str:
    """Print the job's output as it comes until the job ends; returns its final status (SUCCEEDED, FAILED, ...)."""

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            out.write(chunk)
            out.flush()

    _call("logs of", job_id, address, lambda: asyncio.run(tail()))
    return str(_call("status of", job_id, address, client.get_job_status, job_id))


def launch_command(args: argparse.Namespace) -> int:
    submission = plan_submission(args.spec, args.working_dir, args.tracking_uri, args.pip, args.storage)
    client = connect(args.address)
    job_id = submit(client, submission)
    print(f"submitted {job_id}: `{submission.entrypoint}` on {args.address}, MLflow "
          f"{submission.runtime_env['env_vars']['MLFLOW_TRACKING_URI']}")
    if not args.follow:
        print(f"  scalesearch jobs logs {job_id} --address {args.address} --follow\n"
              f"  scalesearch jobs status {job_id} --address {args.address}\n"
              f"  scalesearch jobs stop {job_id} --address {args.address}")
        return OK
    status = follow(client, job_id, args.address)
    print(f"job {job_id}: {status}")
    return OK if status == "SUCCEEDED" else FAILED


def status_command(args: argparse.Namespace) -> int:
    client = connect(args.address)
    info = _call("status of", args.job_id, args.address, client.get_job_info, args.job_id)
    print(f"{args.job_id}: {info.status}" + (f" ({info.message})" if info.message else ""))
    return OK


def logs_command(args: argparse.Namespace) -> int:
    client = connect(args.address)
    if args.follow:
        status = follow(client, args.job_id, args.address)
        print(f"job {args.job_id}: {status}")
        return OK if status == "SUCCEEDED" else FAILED
    print(_call("logs of", args.job_id, args.address, client.get_job_logs, args.job_id), end="")
    return OK


def stop_command(args: argparse.Namespace) -> int:
    client = connect(args.address)
    stopped = _call("stop", args.job_id, args.address, client.stop_job, args.job_id)
    print(f"{args.job_id}: {'stop requested' if stopped else 'was not running'}")
    return OK


def list_command(args: argparse.Namespace) -> int:
    client = connect(args.address)
    for job in _call("list", "jobs", args.address, client.list_jobs):
        print(f"{job.submission_id or job.job_id}\t{job.status}\t{job.entrypoint}")
    return OK


def _add_address(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("RAY_API_SERVER_ADDRESS")
    parser.add_argument("--address", default=default, required=default is None,
                        help="the Ray Jobs API (dashboard) address, http://HEAD:8265 (default $RAY_API_SERVER_ADDRESS)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``launch`` and ``jobs`` (list, status, logs, stop) to a CLI's subparsers."""
    p = subparsers.add_parser(
        "launch", help="run a spec on a Ray cluster as a Ray Job",
        description="Validate SPEC here, then submit it to a Ray cluster's Jobs API as a Ray Job that runs "
                    "`scalesearch run SPEC` (or `scalesearch train SPEC` for a spec without a search section) on the "
                    "head. The working directory (which must hold SPEC) is uploaded; every trial logs to the MLflow "
                    "server of --tracking-uri. Needs Ray token authentication in this shell when the cluster has it "
                    "on (RAY_AUTH_MODE=token).")
    p.add_argument("spec", type=Path, help="YAML spec inside the working directory")
    _add_address(p)
    p.add_argument("--tracking-uri", help="MLflow server the cluster's nodes reach (default: the spec's tracking.uri, "
                                          "else $MLFLOW_TRACKING_URI)")
    p.add_argument("--working-dir", type=Path, default=Path("."), help="directory uploaded with the job (default .)")
    p.add_argument("--pip", action="append", metavar="REQUIREMENT",
                   help="pip requirement installed for the job (repeat), e.g. --pip torch==2.13.0 "
                        "--pip 'scalesearch @ git+https://github.com/<owner>/scalesearch@<commit>'")
    p.add_argument("--storage", help="directory for the search's Tune state and checkpoints, on storage every node "
                                     "mounts (NFS, EFS, Filestore): needed on a multi-node cluster, where Ray Train "
                                     "workers on other nodes must reach it (default: runs/ in the job's directory "
                                     "on the head)")
    p.add_argument("--follow", action="store_true", help="print the job's output until it ends; exit 0 only if it "
                                                         "succeeded")
    p.set_defaults(func=launch_command)

    jobs = subparsers.add_parser("jobs", help="list, inspect, follow and stop Ray Jobs on a cluster")
    commands = jobs.add_subparsers(dest="jobs_command", required=True)
    q = commands.add_parser("list", help="the cluster's jobs with their status")
    _add_address(q)
    q.set_defaults(func=list_command)
    for name, command, text in (("status", status_command, "a job's status"),
                                ("logs", logs_command, "a job's output so far (--follow: until it ends)"),
                                ("stop", stop_command, "ask a running job to stop")):
        q = commands.add_parser(name, help=text)
        q.add_argument("job_id", help="submission id printed by `scalesearch launch`")
        _add_address(q)
        if name == "logs":
            q.add_argument("--follow", action="store_true", help="print new output until the job ends")
        q.set_defaults(func=command)
