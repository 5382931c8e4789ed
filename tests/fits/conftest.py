from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"


@pytest.fixture(scope="session")
def chinchilla_points() -> pd.DataFrame:
    """Besiroglu et al.'s 240 points: the 245 extracted from Chinchilla's figure minus the 5 highest losses."""
    raw = pd.read_csv(REFERENCE / "chinchilla_epoch_extracted.csv").sort_values("loss").iloc[:-5]
    table = pd.DataFrame({"run": np.arange(len(raw)).astype(str), "n_params": raw["Model Size"].to_numpy(),
                          "compute": raw["Training FLOP"].to_numpy(), "loss": raw["loss"].to_numpy()})
    table["tokens"] = table["compute"] / (6 * table["n_params"])
    return table


@pytest.fixture(scope="session")
def besiroglu() -> pd.Series:
    published = pd.read_csv(REFERENCE / "chinchilla_approach3_parameters.csv")
    return published[published["source"].str.startswith("Besiroglu2024 paper")].iloc[0]


@pytest.fixture(scope="session")
def henighan_table() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "henighan2020_table1.csv")
