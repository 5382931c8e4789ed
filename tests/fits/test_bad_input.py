"""Bad input gives a clear FitInputError (exit code 2 on the CLI) or a flagged fit, never a confident number."""

import argparse
import re

import numpy as np
import pandas as pd
import pytest

from scalesearch.fits.commands import register
from scalesearch.fits.frontier import FrontierFit, SizeFit
from scalesearch.fits.inputs import FitInputError, standardize
from scalesearch.fits.laws import fit_law
from scalesearch.fits.synthetic import KnownLaw


def curves(n_sizes=8, seed=0):
    return KnownLaw.from_chinchilla().curves(np.geomspace(1e6, 1e9, n_sizes), c_max=1e20, points_per_decade=8,
                                             noise=0.003, rng=np.random.default_rng(seed), c_min=1e14)


def cli(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_too_few_runs_for_the_frontier():
    table = curves()
    few = table[table["n_params"].isin(sorted(table["n_params"].unique())[:2])]
    with pytest.raises(FitInputError, match="at least|>= 3 runs"):
        FrontierFit().fit(few)


def test_too_few_points_for_chinchilla(chinchilla_points):
    with pytest.raises(FitInputError, match="needs >= 6 points"):
        fit_law(chinchilla_points.iloc[:4], "chinchilla")


@pytest.mark.parametrize("column, value", [("loss", np.nan), ("n_params", 0.0), ("compute", -1.0),
                                           ("loss", np.inf)])
def test_non_finite_or_non_positive_values_name_the_column_and_run(column, value):
    table = curves()
    table.loc[5, column] = value
    with pytest.raises(FitInputError, match=f"column .{column}.*{re.escape(table.loc[5, 'run'])}"):
        standardize(table)


def test_curves_that_do_not_fall_are_left_out_and_named():
    table = curves(n_sizes=10)
    rising = table["run"] == table["run"].iloc[-1]
    table.loc[rising, "loss"] = table.loc[rising, "loss"].to_numpy()[::-1]
    fit = FrontierFit().fit(table)
    assert fit.excluded_runs_ == [table["run"].iloc[-1]]
    table["loss"] = table.groupby("run")["loss"].transform(lambda s: s.to_numpy()[::-1])
    with pytest.raises(FitInputError, match="do not fall"):
        FrontierFit().fit(table)


def test_no_converged_runs_for_size_law():
    table = KnownLaw.from_chinchilla().curves(np.geomspace(1e8, 1e10, 5), c_max=1e19, noise=0.0,
                                              rng=np.random.default_rng(0))
    with pytest.raises(FitInputError, match="converged runs"):
        SizeFit().fit(table)


def test_flat_losses_give_a_flagged_fit_not_a_confident_one():
    """Loss that does not depend on N: the power law has nothing to fit, so the result must be flagged."""
    table = pd.DataFrame({"run": [str(i) for i in range(6)], "n_params": np.geomspace(1e6, 1e9, 6),
                          "compute": 1e20, "loss": 3.0})
    fit = fit_law(standardize(table), "size")
    assert not fit.ok


def test_cli_exit_codes(tmp_path, chinchilla_points, capsys):
    path = tmp_path / "runs.csv"
    chinchilla_points.rename(columns={"run": "trial_id"}).to_csv(path, index=False)
    assert cli(["fit", str(path), "--law", "chinchilla", "--bootstrap", "0"]) == 2
    assert "no 'run' column" in capsys.readouterr().err
    assert cli(["fit", str(path), "--law", "chinchilla", "--bootstrap", "0", "--column", "run=nope"]) == 2
    assert cli(["fit", str(tmp_path / "missing.csv"), "--law", "size"]) == 2
