"""The `data prepare` and `data show` commands: exit codes, cached shards, PNG files, clear errors."""

from __future__ import annotations

import argparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
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
    spec.write_text("name: maths\ndomain:\n  name: math\n  options: {train_problems: 300, heldout_problems: 30, "
                    "eval_problems: 10}\ntrain: {batch_size: 8}\n")
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path / "cache")]) == OK
    first = capsys.readouterr().out
    assert "math: shards in" in first and "extrapolate" in first and "0 bad source items skipped" in first
    [root] = (tmp_path / "cache").iterdir()
    stamp = (root / "meta.json").stat().st_mtime_ns
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path / "cache")]) == OK
    assert capsys.readouterr().out == first  # the same report, from the cached meta.json
    assert list((tmp_path / "cache").iterdir()) == [root] and (root / "meta.json").stat().st_mtime_ns == stamp


def test_prepare_reports_bad_items_it_skipped(tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (20, 192)).tolist()
    pq.write_table(pa.table({"image": images[:7] + [images[7][:10]] + images[8:]}), tmp_path / "i.parquet")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"domain: {{name: image, options: {{source: {tmp_path / 'i.parquet'}, heldout_every: 2}}}}\n")
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path / "cache")]) == OK
    out = capsys.readouterr().out
    assert "1 bad source items skipped, 0 held-out sequences dropped" in out


@pytest.mark.parametrize("text, expected", [
    ("domain: {name: math, colour: red}", "domain.colour"),
    ("domain: {name: sound}", "unknown domain 'sound'"),
    ("domain: {name: math, options: {colour: red}}", "bad options"),
    ("domain: [", "spec.yaml"),
])
def test_prepare_bad_specs(tmp_path, capsys, text, expected):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    assert run(["data", "prepare", str(spec), "--cache", str(tmp_path)]) == BAD_INPUT
    assert expected in capsys.readouterr().err


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
    assert "resolution 12" in capsys.readouterr().err
    assert run(["data", "show", "text", "--options", "seq_len"]) == BAD_INPUT
    assert run(["data", "show", "math", "--split", "nope"]) == BAD_INPUT
    assert "no split 'nope'" in capsys.readouterr().err
