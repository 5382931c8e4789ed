from __future__ import annotations

import pytest

from scalesearch.schedules import lr_at
from scalesearch.spec import SpecError, load_spec


def test_shipped_specs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "search_spaces"
    specs = sorted(root.rglob("*.yaml"))
    assert {"demo/text.yaml", "demo/image.yaml", "demo/math.yaml", "image8x8_gpu_cluster.yaml"} <= {
        p.relative_to(root).as_posix() for p in specs}
    for path in specs:
        spec = load_spec(path)
        for n in spec.search.limits if spec.search else ():
            worker = spec.resources.for_n_params(n)  # every size's DDP workers share the batch evenly
            assert spec.train.batch_size % max(1, worker.num_workers) == 0, (path, n)
            assert worker.use_gpu == ("gpu" in path.name), (path, n)


@pytest.mark.parametrize("text, expected", [
    ("train: {lrr: 0.1}", r"bad.yaml: invalid spec\n  train.lrr: Extra inputs are not permitted"),
    ("train: {lr: -1}", r"train.lr: Input should be greater than 0"),
    ("model: {family: llama}", r"model.family: Input should be 'gpt' or 'henighan'"),
    ("resources: {num_workers: 3}\ntrain: {batch_size: 16}", "must divide evenly over resources.num_workers=3"),
    ("- a list", "a spec is a YAML mapping"),
    ("train: {lr: [", "not valid YAML"),
    ("model: {d_model: 64}", "give n_layer with d_model"),
    ("search: {backend: simulate, n_params: [1.0e+3, 1.0e+4], initial_sizes: [500, 2000]}",
     r"initial_sizes \[500.0, 2000.0\] must lie in n_params"),
    ("search: {backend: simulate, n_params: [1.0e+3, 1.0e+4], initial_sizes: [2000, 2000]}",
     "initial_sizes must give >= 2 sizes"),
    ("budget: {count: all}", r"budget.count: Input should be '6N' or 'full'"),
    ("budget: {count: full}\nsearch: {backend: simulate, n_params: [1.0e+3, 1.0e+4]}",
     "budget.count: full needs a model to count"),
    ("budget: {count: full}\nsearch: {n_params: [1.0e+3, 1.0e+4], estimator: chinchilla_mean}",
     "L\\(N, D\\) reads D = C / 6N"),
])
def test_malformed_specs_name_file_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=expected):
        load_spec(path)


def test_schedules():
    total, peak = 1000, 1e-3
    for schedule in ("henighan", "cosine", "wsd"):
        lrs = [lr_at(s, total, peak, schedule, warmup=0.1) for s in range(total)]
        assert lrs[0] == pytest.approx(peak / 100)
        assert lrs[99] == pytest.approx(peak)
        assert max(lrs) == pytest.approx(peak)
        assert lrs[-1] == pytest.approx(0.1 * peak, rel=0.05)
        assert lr_at(total, total, peak, schedule, warmup=0.1) == pytest.approx(0.1 * peak)
    wsd = [lr_at(s, total, peak, "wsd", warmup=0.1, cooldown=0.2) for s in range(total)]
    assert wsd[100:800] == [peak] * 700  # stable until the cool-down
    henighan = [lr_at(s, total, peak, "henighan", warmup=0.1) for s in range(100, total)]
    assert all(a > b for a, b in zip(henighan, henighan[1:]))
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        lr_at(500, total, peak, "linear")
