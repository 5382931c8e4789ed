"""The cluster configs are valid for the tools that read them, say what the issue asks, and hold no credential.

- Ray cluster launcher YAMLs (cluster/*.yaml, cluster/local/*.yaml) against the autoscaler schema shipped in the
  installed ray package (ray/autoscaler/ray-schema.json), plus the launcher's own cross-field checks.
- KubeRay manifests (cluster/kubernetes/) against the fields the ray.io/v1 CRDs require (RayClusterSpec.headGroupSpec
  with its template; WorkerGroupSpec groupName, minReplicas, maxReplicas, rayStartParams, template; RayJobSpec
  entrypoint and rayClusterSpec), as KubeRay's API reference (v1.6) and raycluster_types.go/rayjob_types.go define
  them, and what scalesearch needs of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import validate_config

from local_ray import REPO
from scalesearch.spec import load_spec

CLUSTER = REPO / "cluster"
LAUNCHER_CONFIGS = sorted(p.relative_to(REPO).as_posix()
                          for p in [*CLUSTER.glob("*.yaml"), *CLUSTER.glob("local/*.yaml")])
CLOUD_CONFIGS = ["cluster/aws.yaml", "cluster/gcp.yaml"]
KUBERNETES = CLUSTER / "kubernetes"


def load(relative: str) -> dict:
    return yaml.safe_load((REPO / relative).read_text())


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def autoscaler_schema() -> dict:
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


# Ray cluster launcher --------------------------------------------------------------------------------------------

def test_the_launcher_configs_are_found():
    assert {"cluster/aws.yaml", "cluster/gcp.yaml", "cluster/local/fake-gpu.yaml"} <= set(LAUNCHER_CONFIGS)


@pytest.mark.parametrize("relative", LAUNCHER_CONFIGS)
def test_launcher_config_validates_against_the_autoscaler_schema_in_ray(relative):
    config = load(relative)
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
              for e in jsonschema.Draft7Validator(autoscaler_schema()).iter_errors(config)]
    assert not errors, f"{relative}:\n" + "\n".join(errors)
    validate_config(config)  # what `ray up` runs: the schema again, head_node_type, sum of min_workers, ...


def test_the_schema_refuses_a_misspelt_field():
    """The check above has teeth: the schema forbids unknown keys, at the top and in node types."""
    validator = jsonschema.Draft7Validator(autoscaler_schema())
    config = load("cluster/aws.yaml")
    assert not validator.is_valid({**config, "idle_timeout_minute": 5})
    config["available_node_types"]["gpu_1"]["min_worker"] = 0
    assert not validator.is_valid(config)


@pytest.mark.parametrize("relative", CLOUD_CONFIGS)
def test_cloud_configs_have_a_cpu_head_and_autoscaled_gpu_workers_of_1_and_8(relative):
    config = load(relative)
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"].get("GPU", 0) == 0
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    assert sorted(t["resources"]["GPU"] for t in workers.values()) == [1, 8]
    assert all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in workers.values())
    assert config["max_workers"] >= 1 and config["idle_timeout_minutes"] > 0
    assert any("pip install" in c and "/home/ray/scalesearch" in c for c in config["setup_commands"])
    # Token authentication on every node; the dashboard and Jobs API on the head's loopback only.
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts)
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])


# KubeRay --------------------------------------------------------------------------------------------------------

def ray_cluster() -> dict:
    (doc,) = load_all(KUBERNETES / "raycluster.yaml")
    return doc


def ray_job() -> dict:
    (doc,) = load_all(KUBERNETES / "rayjob.yaml")
    return doc


def containers(template: dict) -> list[dict]:
    return template["spec"]["containers"]


def check_ray_cluster_spec(spec: dict) -> None:
    """The fields KubeRay's RayCluster CRD requires, and what an autoscaling scalesearch cluster needs."""
    assert spec["rayVersion"] == ray.__version__  # the Ray of the image and of the clients
    assert spec["enableInTreeAutoscaling"] is True
    assert isinstance(spec["autoscalerOptions"]["idleTimeoutSeconds"], int)
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert spec["autoscalerOptions"]["upscalingMode"] in ("Default", "Aggressive", "Conservative")
    assert spec["authOptions"]["mode"] == "token" and spec["authOptions"]["secretName"]

    head = spec["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"
    assert isinstance(head["rayStartParams"], dict)  # optional from KubeRay 1.4, required before
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())  # map[string]string
    head_containers = containers(head["template"])
    assert head_containers and all(c["name"] and c["image"] for c in head_containers)
    assert "nvidia.com/gpu" not in head_containers[0]["resources"]["limits"]

    gpus = []
    for group in spec["workerGroupSpecs"]:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", group["groupName"])
        assert isinstance(group["rayStartParams"], dict)
        assert group["minReplicas"] == 0 and group["maxReplicas"] >= 1  # scale from zero
        assert group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
        ray_container = containers(group["template"])[0]  # KubeRay treats the first container as Ray's
        assert ray_container["name"] and ray_container["image"] == head_containers[0]["image"]
        limits = ray_container["resources"]["limits"]
        gpus.append(int(limits["nvidia.com/gpu"]))
        assert ray_container["resources"]["requests"]["nvidia.com/gpu"] == limits["nvidia.com/gpu"]
    assert sorted(gpus) == [1, 8]
    assert len({g["groupName"] for g in spec["workerGroupSpecs"]}) == len(gpus)


def test_the_raycluster_has_in_tree_autoscaling_and_gpu_worker_groups():
    cluster = ray_cluster()
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    assert cluster["metadata"]["name"]
    check_ray_cluster_spec(cluster["spec"])


def test_the_rayjob_runs_a_search_spec_on_the_same_cluster():
    job = ray_job()
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    spec = job["spec"]
    check_ray_cluster_spec(spec["rayClusterSpec"])
    assert spec["rayClusterSpec"] == ray_cluster()["spec"], "rayjob.yaml's cluster drifted from raycluster.yaml"
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec.get("submissionMode", "K8sJobMode") in ("K8sJobMode", "HTTPMode", "SidecarMode")

    # The entrypoint runs a search on a spec of this repository, as the image holds it (/home/ray/scalesearch).
    words = spec["entrypoint"].split()
    assert words[:4] == ["python", "-m", "scalesearch.cli", "run"]
    spec_path = Path(words[4])
    assert spec_path.is_relative_to("/home/ray/scalesearch")
    search_spec = load_spec(REPO / spec_path.relative_to("/home/ray/scalesearch"))
    assert search_spec.search is not None and search_spec.search.backend == "ray_train"
    storage = words[words.index("--storage") + 1]
    head = containers(spec["rayClusterSpec"]["headGroupSpec"]["template"])[0]
    mounts = [m["mountPath"] for m in head["volumeMounts"]]
    assert any(storage.startswith(m) for m in mounts), "--storage must be on the shared volume"

    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert env["MLFLOW_TRACKING_URI"] == f"http://{mlflow_service()['metadata']['name']}:5000"


def test_the_ray_pods_mount_the_shared_volume_of_storage_yaml():
    (claim,) = load_all(KUBERNETES / "storage.yaml")
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    spec = ray_cluster()["spec"]
    for template in [spec["headGroupSpec"]["template"], *(g["template"] for g in spec["workerGroupSpecs"])]:
        claims = [v["persistentVolumeClaim"]["claimName"] for v in template["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == [claim["metadata"]["name"]]


def test_the_dockerfile_builds_on_the_ray_image_of_rayversion():
    dockerfile = (KUBERNETES / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-" in dockerfile
    assert re.search(r'pip install .*"torch==[\d.]+" /home/ray/scalesearch', dockerfile)


# MLflow ---------------------------------------------------------------------------------------------------------

def mlflow_docs() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in load_all(KUBERNETES / "mlflow.yaml")}


def mlflow_service() -> dict:
    return mlflow_docs()[("Service", "mlflow")]


def test_the_mlflow_server_has_a_postgresql_store_object_store_artifacts_and_secrets_by_name():
    docs = mlflow_docs()
    assert {("Deployment", "mlflow"), ("Service", "mlflow"), ("StatefulSet", "mlflow-postgres"),
            ("Service", "mlflow-postgres")} <= set(docs)
    assert all(d["spec"]["type"] == "ClusterIP" for (kind, _), d in docs.items() if kind == "Service")
    (server,) = containers(docs[("Deployment", "mlflow")]["spec"]["template"])
    args = dict(a.removeprefix("--").split("=", 1) for a in server["args"])
    assert args["backend-store-uri"].startswith("postgresql://")
    assert ":" not in args["backend-store-uri"].split("://")[1].split("@")[0], "no password in the URI"
    assert args["backend-store-uri"].split("@")[1].startswith("mlflow-postgres:5432/")
    assert re.match(r"(s3|gs)://", args["artifacts-destination"])
    env = {e["name"]: e for e in server["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
    (postgres,) = containers(docs[("StatefulSet", "mlflow-postgres")]["spec"]["template"])
    pg_env = {e["name"]: e for e in postgres["env"]}
    assert pg_env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]


# No credentials --------------------------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|_KEY|KEY_ID|CREDENTIAL)", re.IGNORECASE)
SECRET_TEXT = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"[a-z+]+://[^/\s:@'\"]+:[^/\s@'\"$]+@"),  # user:password@ in a URI
    re.compile(r"\b(?:ghp|gho|glpat|xox[bp])[-_][A-Za-z0-9]{10,}"),  # GitHub, GitLab, Slack tokens
    re.compile(r"\b[0-9a-f]{40,}\b|\b[A-Za-z0-9+/]{40,}={0,2}(?=\s|$)"),  # long hex or base64 blobs
]
CONFIG_FILES = sorted(p for p in CLUSTER.rglob("*") if p.is_file())  # YAML, README, Dockerfile and its ignore file


def env_entries(node):
    """Every {name, value} pair in a parsed manifest (container env, autoscalerOptions.env, ...)."""
    if isinstance(node, dict):
        if "name" in node and "value" in node:
            yield node
        for value in node.values():
            yield from env_entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_entries(value)


def test_no_config_holds_a_credential():
    assert {"aws.yaml", "raycluster.yaml", "mlflow.yaml", "Dockerfile"} <= {p.name for p in CONFIG_FILES}
    for path in CONFIG_FILES:
        text = path.read_text()
        for pattern in SECRET_TEXT:
            assert not pattern.search(text), f"{path.relative_to(REPO)}: credential-like text {pattern.pattern}"
        if path.suffix != ".yaml":
            continue
        docs = load_all(path)
        assert not [d for d in docs if d.get("kind") == "Secret"], f"{path}: a Secret with values; reference it"
        for entry in env_entries(docs):
            assert not SECRET_NAME.search(str(entry["name"])), \
                f"{path.relative_to(REPO)}: {entry['name']} has a literal value; take it from a Secret (valueFrom)"
