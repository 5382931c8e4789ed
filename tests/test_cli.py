"""The command line: JSON shapes, --help everywhere, and bad input answered with exit code 2 and a named cause."""

from __future__ import annotations

import json

import pytest

from scalesearch.cli import EXIT_BAD_INPUT, build_parser, main


def test_shape_json_reports_the_published_n(capsys):
    assert main(["shape", "--family", "henighan", "--n-layer", "4", "--d-model", "32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_params"] == 3 * 4 * 32 ** 2 == 12288  # Henighan Table 5: 1.23e4
    assert out["flops_per_token"] == 6 * 12288
    assert out["n_params_total"] > out["n_params"]
    assert main(["shape", "--family", "gpt", "--n-params", "1e6", "--aspect", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_params"] == 12 * out["n_layer"] * out["d_model"] ** 2
    # --n-params at a fixed depth: with one layer and one head (widths in steps of 4) the henighan N = 3 d_model^2
    # nearest 300 in log is d_model 12 (432, against 192 for d_model 8), not the 2-layer 384 of the aspect alone.
    assert main(["shape", "--n-params", "300", "--n-layer", "1", "--n-head", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["n_layer"], out["d_model"], out["n_params"]) == (1, 12, 3 * 12 ** 2)


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps no public list of subcommands
    assert {"shape", "train", "demo"} <= set(commands)
    for name in commands:  # in this process: the entry point itself is run as a process by tests/search
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0 and f"usage: scalesearch {name}" in capsys.readouterr().out, name


@pytest.mark.parametrize("args, message", [
    (["shape", "--family", "henighan", "--n-params", "5"], "outside what family 'henighan' can build"),
    (["shape", "--family", "gpt", "--n-layer", "2", "--d-model", "64", "--n-head", "3"], "does not divide"),
    (["train", "missing.yaml"], "missing.yaml: cannot read the spec"),
])
def test_bad_input_exits_2_with_the_cause(capsys, args, message):
    assert main(args) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_unknown_domain_and_unwritable_store_fail_before_training(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("domain: {name: sound}\nmodel: {n_params: 1e5}\n")
    assert main(["train", str(spec)]) == EXIT_BAD_INPUT
    assert "unknown domain 'sound'" in capsys.readouterr().err
    spec.write_text("model: {n_params: 1e5}\n")
    for uri, message in [(f"sqlite:///{tmp_path}/nowhere/mlflow.db", "does not exist"),
                         ("http://127.0.0.1:9/", "does not answer")]:
        assert main(["train", str(spec), "--tracking-uri", uri]) == EXIT_BAD_INPUT
        assert message in capsys.readouterr().err
