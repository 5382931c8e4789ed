"""The report reads a search back from a real SQLite MLflow store laid out per notes/contract.md."""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from scalesearch.demo import headline
from scalesearch.fits.commands import register
from scalesearch.fits.inputs import FitInputError
from scalesearch.fits.synthetic import KnownLaw
from scalesearch.report import ReportOptions, build_report, report_from_mlflow, verify_report

DOMAINS = {"image_8x8": 1, "image_vq_16x16": 4}  # rows of Henighan's Table 1


@pytest.fixture(scope="module")
def search(tmp_path_factory, henighan_table):
    tmp_path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("toy-search", artifact_location=str(tmp_path / "artifacts"))
    parents = []
    for domain, row in DOMAINS.items():  # one search per domain, as the demo runs them, in one experiment
        parent = client.create_run(experiment, tags={"scalesearch.role": "search"}, run_name=f"search-{domain}")
        parent = parent.info.run_id
        parents.append(parent)
        law = KnownLaw.from_henighan_row(henighan_table.iloc[row])
        # sizes from 1e4: the smallest leads at the lowest compute (it brackets N_opt there, as a search does)
        curves = law.curves(np.geomspace(1e4, 1e8, 9), c_max=1e19, points_per_decade=6, noise=0.003,
                            rng=np.random.default_rng(row), c_min=1e13)
        for run, g in curves.groupby("run"):
            n = int(g["n_params"].iat[0])
            child = client.create_run(experiment, run_name=f"{domain}-{run}", tags={
                "mlflow.parentRunId": parent, "scalesearch.role": "trial", "scalesearch.status": "finished"})
            steps = g["tokens"].round().astype(int).to_numpy()
            metrics = [Metric(key, float(v), 0, int(s)) for s, loss in zip(steps, g["loss"])
                       for key, v in (("heldout_loss", loss), ("compute", 6.0 * n * s), ("tokens", s))]
            params = [Param("n_params", str(n)), Param("domain", domain), Param("flops_per_token", str(6 * n)),
                      Param("tokens_per_item", json.dumps({"image": 192}))]
            client.log_batch(child.info.run_id, metrics=metrics, params=params, tags=[RunTag("k", "v")])
            client.set_terminated(child.info.run_id)
    return uri, client, parents


def check_report_files(out, client, parents):
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.md", "fits.json", "exponents.png"} <= names
    assert {f"domain_{d}.png" for d in DOMAINS} <= names
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert not re.search(r"""(src|href)=["']?(https?:|//|[\w./-]+\.(png|css|js))""", page)
    fits = json.loads((out / "fits.json").read_text())
    assert set(fits["domains"]) == set(DOMAINS)
    for domain in DOMAINS:  # beta with its SE, or none because too many of the 40 refits failed, and said so
        frontier = fits["domains"][domain]["frontier"]
        assert frontier["parameters"]["beta"]["se"] > 0 or any(
            "bootstrap refits failed" in p for p in frontier["problems"]), frontier
    assert set(fits["universality"]) == {"beta", "alpha_C"}
    for parent in parents:
        logged = {f.path for f in client.list_artifacts(parent, "report")}
        assert {"report/report.html", "report/fits.json", "report/report.md"} <= logged


def test_report_function_reads_search_and_logs_artifacts(search, tmp_path):
    uri, client, parents = search
    out = report_from_mlflow("toy-search", uri, tmp_path / "reports", ReportOptions(n_bootstrap=40))
    assert out == tmp_path / "reports" / "toy-search"
    check_report_files(out, client, parents)


def test_a_report_written_beside_its_mlflow_store_logs_only_its_own_files(search):
    """Writing reports/demo next to reports/demo/mlflow.db once logged that whole folder, the store's artifact
    folder in it included, into itself until the path was too long."""
    uri, client, parents = search
    store = Path(uri.removeprefix("sqlite:///")).parent
    out = report_from_mlflow("toy-search", uri, store.parent, ReportOptions(n_bootstrap=40), name=store.name)
    assert out == store and (store / "mlflow.db").exists()
    for parent in parents:
        logged = {f.path for f in client.list_artifacts(parent, "report")}
        assert "report/fits.json" in logged and not logged & {"report/mlflow.db", "report/artifacts"}, logged


def test_report_cli(search, tmp_path, monkeypatch):
    uri, client, parents = search
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["report", "--experiment", "toy-search", "--out", str(tmp_path / "r"),
                              "--bootstrap", "40"])
    assert args.func(args) == 0
    check_report_files(tmp_path / "r" / "toy-search", client, parents)
    args = parser.parse_args(["report", "--experiment", "no-such-search", "--bootstrap", "0"])
    assert args.func(args) == 2


def test_verify_finds_a_report_that_agrees_with_its_store_and_names_what_differs(search, tmp_path):
    uri, client, parents = search
    out = report_from_mlflow("toy-search", uri, tmp_path / "reports", ReportOptions(n_bootstrap=40))
    assert verify_report(out, uri) == []
    fits = json.loads((out / "fits.json").read_text())
    fits["domains"]["image_8x8"]["frontier"]["parameters"]["beta"]["value"] *= 1.01
    fits["run_ids"] = fits["run_ids"][1:]
    (out / "fits.json").write_text(json.dumps(fits))
    differences = verify_report(out, uri)
    assert any(d.startswith("/domains/image_8x8/frontier/parameters/beta/value:") for d in differences)
    assert any(d.startswith("/run_ids") for d in differences)


def test_too_few_crossings_for_n_opt_still_give_l_of_c_and_say_why_it_has_no_interval(henighan_table, tmp_path):
    """Curves that cross twice: N_opt(C) is refused with its reason, L(C) is fitted alone. 3 of its 20 bootstrap
    refits fail (too few sizes left on the hull), more than the 2.5% a 95% interval's end allows: alpha_C keeps
    its value, gets no interval, and the fit says why (dropping the failures gave an interval before)."""
    row = henighan_table.iloc[1]
    law = KnownLaw.from_henighan_row(row)
    curves = law.curves(np.geomspace(1e5, 1e8, 5), c_max=1e17, points_per_decade=6, noise=0.003,
                        rng=np.random.default_rng(1), c_min=1e13).assign(domain="image")
    out = build_report(curves, tmp_path, "two-crossings", ReportOptions(n_bootstrap=20))
    domain = json.loads((out / "fits.json").read_text())["domains"]["image"]
    assert "only 2 crossing(s)" in domain["not_done"]["frontier"]
    assert domain["frontier"]["law"] == "compute" and "beta" not in domain["frontier"]["parameters"]
    alpha = domain["frontier"]["parameters"]["alpha_C"]
    assert alpha["value"] == pytest.approx(row["L_C_alpha"], abs=0.2) and np.isnan(alpha["ci_low"])
    assert not domain["frontier"]["ok"]
    assert any("3 of 20 bootstrap refits failed" in p for p in domain["frontier"]["problems"])
    table = (out / "report.md").read_text()
    assert re.search(r"\| image \| [\d.]+ \|", table) and "beta" not in table.split("## Per-domain")[1].split("##")[0]


def test_a_hull_without_interior_sizes_still_gives_n_opt_from_the_crossings(tmp_path):
    """The mirror case: Chinchilla's curves all multiplied at each compute by one factor that bends the frontier
    concave in log-log (exp(-0.05 decades^2) from 1e16). The lead and every crossing stay where they were, so the
    closed-form beta holds, but the lower convex hull keeps no point of an interior size and L(C) is refused: the
    report keeps N_opt(C) alone, with its interval, and says why alpha_C has none."""
    law = KnownLaw.from_chinchilla()
    curves = law.curves(np.geomspace(1e7, 1e9, 9), c_max=1e20, points_per_decade=8, noise=0.003,
                        rng=np.random.default_rng(0), c_min=1e16).assign(domain="text")
    curves["loss"] *= np.exp(-0.05 * np.log10(curves["compute"] / 1e16) ** 2)
    out = build_report(curves, tmp_path, "concave", ReportOptions(n_bootstrap=40))
    domain = json.loads((out / "fits.json").read_text())["domains"]["text"]
    assert "interior size(s) on the frontier's hull" in domain["not_done"]["frontier"]
    assert "the envelope is not convex in log-log" in domain["not_done"]["L(C) alone"]
    assert domain["frontier"]["law"] == "n_opt" and set(domain["frontier"]["parameters"]) == {"C_n", "beta"}
    beta = domain["frontier"]["parameters"]["beta"]
    assert beta["ci_low"] < law.beta_opt < beta["ci_high"] and beta["ci_high"] - beta["ci_low"] < 0.1
    assert (out / "domain_text.png").exists()
    assert headline({"domains": {"text": domain}})[0].startswith("text: alpha_C = not fitted (FitFailedError: only")


def test_curves_of_different_flop_counts_are_not_compared(henighan_table, tmp_path):
    """budget.count full and 6N are different axes: one domain may not mix them, and exponents across domains of
    different counts are not tested for universality; the report says which count each domain's C is."""
    law = KnownLaw.from_henighan_row(henighan_table.iloc[1])
    curves = law.curves(np.geomspace(1e4, 1e8, 9), c_max=1e19, points_per_decade=6, noise=0.003,
                        rng=np.random.default_rng(1), c_min=1e13)
    both = pd.concat([curves.assign(domain="image", flops_count="6N"),
                      curves.assign(domain="text", flops_count="full", run=curves["run"] + "-text")])
    out = build_report(both, tmp_path, "counts", ReportOptions(n_bootstrap=10))
    fits = json.loads((out / "fits.json").read_text())
    assert fits["flops_count"] == {"image": "6N", "text": "full"}
    assert all("count compute differently" in fits["universality"][e] for e in ("alpha_C", "beta"))
    assert "text: the full FLOPs a token" in (out / "report.md").read_text()

    mixed = curves.assign(domain="image", flops_count=np.where(curves["n_params"] > 1e6, "full", "6N"))
    with pytest.raises(FitInputError, match=r"domain image: runs count compute differently \(\['6N', 'full'\]"):
        build_report(mixed, tmp_path, "mixed")
