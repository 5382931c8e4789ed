"""The `data prepare` and `data show` commands: exit codes, cached shards, PNG files, clear errors."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from scalesearch.data.commands import BAD_INPUT, OK, register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_prepare_a_spec_twice(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("domain:\n  name: math\n  options: {train_problems: 300, heldout_problems: 30, "
                    "eval_problems: 10}\nother: ignored\n")
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path / "cache")]) == OK
    first = capsys.readouterr().out
    assert "math: shards in" in first and "extrapolate" in first
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path / "cache")]) == OK
    assert len(list((tmp_path / "cache").iterdir())) == 1


@pytest.mark.parametrize("text, expected", [
    ("domain: {options: {}}", "expected a section `domain:"),
    ("domain: {name: sound}", "unknown domain 'sound'"),
    ("domain: {name: math, options: {colour: red}}", "bad options"),
    ("domain: [", "cannot read the spec"),
])
def test_prepare_bad_specs(tmp_path, capsys, text, expected):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path)]) == BAD_INPUT
    assert expected in capsys.readouterr().out


def test_show_writes_images_as_png(tmp_path, capsys):
    assert run(["data", "show", "image", "--options", "source=digits", "--n", "3", "--out", str(tmp_path)]) == OK
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 3
    picture = np.asarray(Image.open(pngs[0]))
    assert picture.shape == (128, 128, 3) and picture.max() > 200 and picture.min() < 50


def test_show_prints_problems(capsys, tmp_path):
    assert run(["data", "show", "math", "--options", "train_problems=50", "heldout_problems=5",
                "--split", "extrapolate", "--n", "1", "--out", str(tmp_path)]) == OK
    out = capsys.readouterr().out
    assert "Q: " in out and "\nA: " in out and not list(tmp_path.glob("*.png"))


def test_show_bad_input(capsys, tmp_path):
    assert run(["data", "show", "image", "--options", "resolution=12", "--out", str(tmp_path)]) == BAD_INPUT
    assert "resolution 12" in capsys.readouterr().out
    assert run(["data", "show", "text", "--options", "seq_len"]) == BAD_INPUT
    assert run(["data", "show", "math", "--split", "nope"]) == BAD_INPUT
