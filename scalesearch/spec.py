"""The YAML spec of a job or search, validated with pydantic so a typo is an error, not a silent default.

Every section forbids unknown keys; errors name the file and the dotted field (``train.lr: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class SpecError(ValueError):
    """A spec that cannot be used: the message names the file, the field and what is expected."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainSpec(Section):
    name: str = "text"
    options: dict[str, Any] = Field(default_factory=dict)


class ModelSpec(Section):
    family: Literal["gpt", "henighan"] = "henighan"
    aspect: float = Field(10.0, gt=0, description="d_model / n_layer when a shape is built from a target N")
    n_params: float | None = Field(None, gt=0, description="target non-embedding N of a single job")
    n_layer: int | None = Field(None, ge=1)
    d_model: int | None = Field(None, ge=1)
    n_head: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_way_to_size(self) -> ModelSpec:
        if (self.n_layer is None) != (self.d_model is None):
            raise ValueError("give n_layer and d_model together (or neither, and n_params)")
        if self.n_layer is not None and self.n_params is not None:
            raise ValueError("give either n_params or n_layer and d_model, not both")
        return self


class TrainSpec(Section):
    batch_size: int = Field(32, ge=1, description="sequences per optimizer step, summed over workers")
    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    schedule: Literal["henighan", "cosine", "wsd"] = "henighan"
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="share of the job's steps spent warming up")
    cooldown_fraction: float = Field(0.2, gt=0, le=1, description="wsd: share of steps spent cooling down")
    final_lr_fraction: float = Field(0.1, ge=0, le=1, description="learning rate at the end, over the peak")
    weight_decay: float = Field(0.0, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 turns clipping off")
    compile: bool = False
    seed: int = 0
    heldout_sequences: int = Field(256, ge=1, description="size of the fixed held-out set evaluated at each report")
    eval_batch_size: int = Field(64, ge=1)


class BudgetSpec(Section):
    flops: float = Field(1e12, gt=0, description="compute of one job, C = 6 N tokens")
    reports_per_decade: int = Field(5, ge=4, description="log-spaced report points per decade of compute")
    first_report_fraction: float = Field(1e-3, gt=0, lt=1, description="first report at this share of the budget")


class WorkerResources(Section):
    num_workers: int = Field(1, ge=0, description="Ray Train workers (DDP); 0 runs in the caller's process")
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)


class ResourceRule(WorkerResources):
    """Resources for trials up to a size: the autoscaler then asks for the node type that size needs."""

    up_to_n_params: float | None = Field(None, gt=0, description="applies to N <= this; none: any larger N")


class ResourcesSpec(WorkerResources):
    rules: list[ResourceRule] = Field(default_factory=list, description="first rule whose size bound holds wins")

    def for_n_params(self, n_params: float) -> WorkerResources:
        """The resources of a job of size ``n_params``: the first matching rule, else the section's own."""
        for rule in self.rules:
            if rule.up_to_n_params is None or n_params <= rule.up_to_n_params:
                return WorkerResources(num_workers=rule.num_workers, use_gpu=rule.use_gpu,
                                       cpus_per_worker=rule.cpus_per_worker)
        return WorkerResources(num_workers=self.num_workers, use_gpu=self.use_gpu,
                               cpus_per_worker=self.cpus_per_worker)


class TrackingSpec(Section):
    uri: str | None = Field(None, description="MLflow tracking URI; default $MLFLOW_TRACKING_URI or ./mlflow.db")


class Spec(Section):
    name: str = Field("scalesearch", min_length=1, description="MLflow experiment and Ray run name")
    domain: DomainSpec = DomainSpec()
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()
    budget: BudgetSpec = BudgetSpec()
    resources: ResourcesSpec = ResourcesSpec()
    tracking: TrackingSpec = TrackingSpec()

    @model_validator(mode="after")
    def _batch_splits_over_workers(self) -> Spec:
        workers = max(self.resources.num_workers, 1)
        if self.train.batch_size % workers:
            raise ValueError(f"train.batch_size={self.train.batch_size} must divide evenly over "
                             f"resources.num_workers={workers}")
        return self


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = "" if e["type"] == "missing" else f" (got {e['input']!r})"
        lines.append(f"  {field}: {e['msg']}{got}")
    return "\n".join(lines)


def parse_spec(data: dict[str, Any], source: str = "<spec>") -> Spec:
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{source}: invalid spec\n{_describe(err)}") from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate a YAML spec; every problem is a ``SpecError`` naming the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SpecError(f"{path}: cannot read the spec ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping of sections (name, domain, model, ...), "
                        f"got {type(data).__name__}")
    return parse_spec(data, str(path))
