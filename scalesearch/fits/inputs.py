"""Input tables for the fits: the standard columns, loading CSV/Parquet, and the checks that refuse bad input.

Every fit reads one long table, a row per reported point: ``run`` (the trial), ``n_params`` (non-embedding N),
``compute`` (FLOPs, ``6 N tokens``) or ``tokens``, ``loss`` (held-out nats/token), optionally ``domain`` and
``warmup_tokens`` (where each run's warm-up ended: the frontier reads the reports after it). A
table of final losses is the case of one row per run. Bad input raises :class:`FitInputError` naming the column
or run and what to do, so no law is ever fitted to data that cannot support it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("run", "n_params", "loss")


class FitInputError(ValueError):
    """The data cannot support the fit asked for; the message names the column or run and what to do."""


class FitFailedError(RuntimeError):
    """The optimiser ran but the result is degenerate (not converged, at a bound, no frontier)."""


def read_table(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table and rename ``columns`` (standard name -> name in the file) to the standard."""
    path = Path(path)
    if not path.exists():
        raise FitInputError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".pq"):
        table = pd.read_parquet(path)
    elif path.suffix.lower() in (".csv", ".txt"):
        table = pd.read_csv(path)
    else:
        raise FitInputError(f"{path}: unknown table format {path.suffix!r}; give a .csv or .parquet file")
    return standardize(table, columns)


def standardize(table: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rename mapped columns, derive ``compute``/``tokens`` from each other (C = 6 N tokens), and validate."""
    renames = {source: standard for standard, source in (columns or {}).items()}
    missing_sources = [source for source in renames if source not in table.columns]
    if missing_sources:
        raise FitInputError(f"column(s) {missing_sources} given in --column are not in the table "
                            f"(it has {list(table.columns)})")
    table = table.rename(columns=renames).copy()
    if "run" not in table.columns:
        raise FitInputError("the table has no 'run' column: map one with --column run=<your id column>")
    table["run"] = table["run"].astype(str)
    for name in ("n_params", "loss", "compute", "tokens"):
        if name in table.columns:
            table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    if "compute" not in table.columns and {"tokens", "n_params"} <= set(table.columns):
        table["compute"] = 6.0 * table["n_params"] * table["tokens"]
    if "tokens" not in table.columns and {"compute", "n_params"} <= set(table.columns):
        table["tokens"] = table["compute"] / (6.0 * table["n_params"])
    validate(table)
    return table


def validate(table: pd.DataFrame, needed: tuple[str, ...] = REQUIRED + ("compute",)) -> None:
    """Raise FitInputError on a missing column, a non-finite or non-positive value, or N varying within a run."""
    absent = [name for name in needed if name not in table.columns]
    if absent:
        raise FitInputError(f"the table lacks column(s) {absent}; it has {list(table.columns)}. "
                            "Map yours with --column STANDARD=YOURS (compute may come from tokens)")
    for name in needed:
        if name == "run" or name == "domain":
            continue
        values = table[name].to_numpy(float)
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            runs = sorted(set(table.loc[bad, "run"]))[:5]
            raise FitInputError(f"column {name!r} has {int(bad.sum())} non-finite or non-positive value(s) "
                                f"(runs {runs}); drop or fix those rows")
    sizes = table.groupby("run")["n_params"].nunique()
    if (sizes > 1).any():
        raise FitInputError(f"runs {list(sizes[sizes > 1].index[:5])} have more than one n_params; "
                            "give each model size its own run id")


def require_runs(table: pd.DataFrame, minimum: int, law: str) -> None:
    runs = table["run"].nunique()
    if runs < minimum:
        raise FitInputError(f"the {law} law needs at least {minimum} runs with distinct data, got {runs}; "
                            "add runs (model sizes) before fitting")


def split_domains(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The table per domain (one domain 'all' when the column is absent)."""
    if "domain" not in table.columns:
        return {"all": table}
    return {str(name): part for name, part in table.groupby("domain", sort=True)}
