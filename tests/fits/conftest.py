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


@pytest.fixture(scope="session")
def demo_image_curves() -> pd.DataFrame:
    """The image runs of the demo committed on 2026-12-04 (experiment demo-20261204-220104, commit d92711e), as
    read_search read them: real CPU training with a 2% warm-up (to 4e9 FLOPs), sizes 768-12288 and a second run
    of N = 1728 at another learning rate. Kept here so that the tests on them outlive a new committed demo."""
    return pd.read_csv(Path(__file__).parent / "data" / "demo_image_curves_20261204.csv", dtype={"run": str})
