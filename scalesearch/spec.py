"""The YAML spec of a job or search, validated with pydantic so a typo is an error, not a silent default.

Every section forbids unknown keys; errors name the file and the dotted field (``train.lr: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FIRST_LEVEL_SPAN = 10.0  # a compute ladder's first cap is at least this many times the first report (a decade)


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
    n_layer: int | None = Field(None, ge=1, description="with d_model: one explicit shape; alone: a fixed depth, "
                                                        "the width follows N (aspect unused)")
    d_model: int | None = Field(None, ge=1)
    n_head: int | None = Field(None, ge=1, description="heads of every shape; default max(2, d_model // 64)")

    @model_validator(mode="after")
    def _one_way_to_size(self) -> ModelSpec:
        if self.d_model is not None and self.n_layer is None:
            raise ValueError("give n_layer with d_model (or neither, and n_params)")
        if self.d_model is not None and self.n_params is not None:
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
    flops: float = Field(1e12, gt=0, description="compute of one job, in FLOPs as `count` counts them")
    count: Literal["6N", "full"] = Field(
        "6N", description="what the compute axis of budgets, reports and search decisions counts: 6N per token "
                          "(Kaplan, Henighan), or `full`, adding attention over the context and the unembedding "
                          "(Porian et al. 2024), which outweigh 6N in models of a few thousand parameters")
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


class Range(Section):
    """A hyperparameter's search range: ``low``..``high`` (log-uniform when ``log``), or a list of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = True
    choices: list[float] | None = None

    @model_validator(mode="after")
    def _bounds_or_choices(self) -> Range:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("give either a non-empty list of choices, or low and high")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"need low < high (got low={self.low}, high={self.high})")
        elif self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        return self


class StopSpec(Section):
    """When a search ends: whichever comes first of the compute budget and the target precision."""

    flops: float | None = Field(None, gt=0, description="total compute of the search, summed over trials")
    pf_days: float | None = Field(None, gt=0, description="the same in PF-days (8.64e19 FLOPs)")
    gpu_hours: float | None = Field(None, gt=0, description="wall time x GPUs, summed over trials")
    beta_ci_width: float | None = Field(0.06, gt=0, description="stop when the 95% CI of beta is narrower")
    alpha_c_ci_width: float | None = Field(0.04, gt=0, description="... and the 95% CI of alpha_C is narrower")
    max_trials: int = Field(200, ge=1)

    @property
    def budget_flops(self) -> float | None:
        budgets = [b for b in (self.flops, self.pf_days and self.pf_days * 8.64e19) if b]
        return min(budgets) if budgets else None


class LadderSpec(Section):
    """A compute ladder (search/ladder.py): trials are capped at a per-trial compute that starts well below
    ``budget.flops`` and rises by ``factor`` once the frontier below the cap is settled, so the search reads the
    cheap low-compute frontier first, as IsoFLOP profiles and small grids do. The search ends once the frontier
    at ``budget.flops`` is settled too. Start ``search.n_params`` at the low end of the sizes: range control
    and the ladder move it up. The sizes the ladder proposes (its initial ones, the new ones of each level) get
    a tuned learning rate that follows ``lr_exponent`` along N: one lr for every size puts the largest ones
    off their optimum and moves their crossings, and with them the fitted ``beta``."""

    start_flops: float = Field(gt=0, description="the first per-trial compute cap; below budget.flops, and a decade "
                                                 "or more above the first report")
    factor: float = Field(10.0, gt=1, description="the cap is multiplied by this at each step, up to budget.flops")
    crossings: int = Field(2, ge=1, description="times the lead on the frontier must pass to a larger size "
                                                "within a level before the cap rises (besides N_opt at the cap "
                                                "bracketed by a larger size)")
    lr_exponent: float = Field(-0.25, description="a tuned lr moves along N as N^this between the sizes the "
                                                  "ladder proposes (Henighan Table 5: the best lr falls ~N^-0.25)")


class SearchSpec(Section):
    """The adaptive search: the range of N, the hyperparameters Optuna tunes, when a trial and the search stop."""

    backend: Literal["ray_train", "simulate"] = "ray_train"
    n_params: tuple[float, float] = Field(description="initial range [N_min, N_max] of non-embedding N")
    n_params_limits: tuple[float, float] | None = Field(
        None, description="how far range control may move the range (default: 30x beyond each end)")
    initial_sizes: int | list[float] = Field(
        4, description="sizes tried first, largest first: how many, log-spaced over n_params, or the N themselves "
                       "(to pick shapes that differ by width alone, see shapes.py)")
    hyperparameters: dict[Literal["lr", "warmup_fraction", "batch_size", "beta2"], Range] = Field(
        default_factory=dict, description="tuned per trial; others come from the train section")
    sampler: Literal["tpe", "random"] = "tpe"
    seed: int = 0
    max_concurrent_trials: int = Field(2, ge=1)
    margin: float = Field(0.01, ge=0, description="relative loss above a larger model's before a trial stops")
    patience: int = Field(2, ge=1, description="reports in a row beyond the margin before a trial stops")
    refit_every: int = Field(5, ge=1, description="refit the frontier after this many finished trials")
    bootstrap: int = Field(100, ge=10, description="resamples of the frontier fit's bootstrap")
    estimator: Literal["frontier", "chinchilla_mean"] = Field(
        "frontier", description="what the refits read beta and alpha_C from: the frontier of the curves "
                                "(Henighan's, assumes no form of L(N, D)) or L(N, D) fitted to every report as "
                                "a generalised mean of Chinchilla's terms (fits/chinchilla.py: holds Chinchilla's "
                                "and Kaplan's forms, and needs far less compute where the form holds)")
    stop: StopSpec = StopSpec()
    ladder: LadderSpec | None = Field(None, description="a compute ladder; none: every trial may run to "
                                                        "budget.flops from the start")

    @model_validator(mode="after")
    def _ranges(self) -> SearchSpec:
        lo, hi = self.n_params
        if not 0 < lo <= hi:
            raise ValueError(f"n_params must be [N_min, N_max] with 0 < N_min <= N_max (got [{lo:g}, {hi:g}])")
        if self.n_params_limits is not None:
            llo, lhi = self.n_params_limits
            if not (0 < llo <= lo and hi <= lhi):
                raise ValueError(f"n_params_limits [{llo:g}, {lhi:g}] must contain n_params [{lo:g}, {hi:g}]")
        sizes = self.initial_sizes
        if isinstance(sizes, int) and sizes < 2 or isinstance(sizes, list) and len(set(sizes)) < 2:
            raise ValueError(f"initial_sizes must give >= 2 sizes (got {sizes})")
        if isinstance(sizes, list) and not all(lo <= n <= hi for n in sizes):
            raise ValueError(f"initial_sizes {sizes} must lie in n_params [{lo:g}, {hi:g}]")
        return self

    @property
    def ladder_sizes(self) -> list[float]:
        """The initial sizes, largest first."""
        if isinstance(self.initial_sizes, list):
            return sorted(set(self.initial_sizes), reverse=True)
        return [float(n) for n in np.geomspace(self.n_params[1], self.n_params[0], self.initial_sizes)]

    @property
    def limits(self) -> tuple[float, float]:
        lo, hi = self.n_params
        return self.n_params_limits or (lo / 30.0, hi * 30.0)


class SimulateSpec(Section):
    """The simulator's known truth: Chinchilla's law, a learning-rate optimum that falls with N, and noise."""

    E: float = 1.8172  # Besiroglu et al. 2024's refit of Chinchilla approach 3 (DESIGN §4)
    A: float = 482.01
    B: float = 2085.43
    alpha: float = 0.3478
    beta: float = 0.3658
    gamma: float = Field(1.0, gt=0, description="1: Chinchilla's additive L(N, D); else the generalised mean "
                                                "((A/N^alpha)^(1/gamma) + (B/D^beta)^(1/gamma))^gamma "
                                                "(fits/synthetic.py: Kaplan's form at gamma = alpha_D)")
    kappa: float = Field(0.0, ge=0, description="a cross term kappa sqrt(A/N^alpha B/D^beta) added to the loss, "
                                                "a form outside both Chinchilla's and the mean's (fits/synthetic.py)")
    lr_optimum: float = Field(2.7e-3, gt=0, description="best peak lr at N = 1.23e4 (Henighan Table 5)")
    lr_exponent: float = Field(-0.25, description="best lr ~ N^this (Table 5: 0.0027 -> 0.00012 over 1.2e4..3.2e9)")
    lr_sensitivity: float = Field(0.05, ge=0, description="reducible loss x (1 + this * ln(lr/lr_opt)^2)")
    noise: float = Field(0.003, ge=0, description="sd of multiplicative log-normal noise per report")
    run_noise: float = Field(0.002, ge=0, description="sd of a per-run multiplicative offset (seed to seed)")
    seconds_per_report: float = Field(0.0, ge=0, description="sleep per report, to watch or kill a search")


class TrackingSpec(Section):
    uri: str | None = Field(None, description="MLflow tracking URI; default $MLFLOW_TRACKING_URI or ./mlflow.db")
    experiment: str | None = Field(None, description="MLflow experiment; default the spec's name. Searches "
                                                     "of several domains share one to be compared in one report")


class Spec(Section):
    name: str = Field("scalesearch", min_length=1, description="MLflow experiment and Ray run name")
    domain: DomainSpec = DomainSpec()
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()
    budget: BudgetSpec = BudgetSpec()
    resources: ResourcesSpec = ResourcesSpec()
    tracking: TrackingSpec = TrackingSpec()
    search: SearchSpec | None = None
    simulate: SimulateSpec = SimulateSpec()

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def domain_label(self) -> str:
        """What a search's runs are of, in MLflow and its progress line: the domain, or "simulated" on the
        simulator, which reads no domain (its spec's domain section is the default, text)."""
        return "simulated" if self.search.backend == "simulate" else self.domain.name

    @model_validator(mode="after")
    def _ladder_starts_below_the_budget(self) -> Spec:
        ladder = self.search and self.search.ladder
        if ladder and not ladder.start_flops < self.budget.flops:
            raise ValueError(f"search.ladder.start_flops ({ladder.start_flops:g}) must be below budget.flops "
                             f"({self.budget.flops:g}), the cap of the ladder's last step")
        first_report = self.budget.first_report_fraction * self.budget.flops
        if ladder and ladder.start_flops < FIRST_LEVEL_SPAN * first_report * (1 - 1e-9):
            raise ValueError(
                f"search.ladder.start_flops ({ladder.start_flops:g}) leaves the first level less than a decade of "
                f"reports (the first is at budget.first_report_fraction x budget.flops = {first_report:g}): N_opt "
                f"moves about 3x a decade, so a shorter level cannot show its {ladder.crossings} crossing(s) and "
                f"never settles (on the simulator: 60 trials at a first cap of 3e17 with reports from 1e17). "
                f"Raise start_flops to {FIRST_LEVEL_SPAN * first_report:g} or more, or lower first_report_fraction")
        return self

    @model_validator(mode="after")
    def _batch_splits_over_workers(self) -> Spec:
        workers = max(self.resources.num_workers, 1)
        if self.train.batch_size % workers:
            raise ValueError(f"train.batch_size={self.train.batch_size} must divide evenly over "
                             f"resources.num_workers={workers}")
        return self

    @model_validator(mode="after")
    def _full_count_needs_trained_models_and_the_frontier(self) -> Spec:
        if not self.search or self.budget.count == "6N":
            return self
        if self.search.backend == "simulate":
            raise ValueError(f"budget.count: {self.budget.count} needs a model to count: the simulator's known law "
                             "is in C = 6N tokens (DESIGN §5); use budget.count: 6N with backend: simulate")
        if self.search.estimator == "chinchilla_mean":
            raise ValueError(f"budget.count: {self.budget.count} with search.estimator: chinchilla_mean: L(N, D) "
                             "reads D = C / 6N; use the frontier estimator, or budget.count: 6N")
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
