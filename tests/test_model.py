"""The model family against the published shapes and an independent FLOP count."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from scalesearch import compute
from scalesearch.model import GPT, ModelConfig
from scalesearch.shapes import FAMILIES, get_family, log_spaced_sizes, shape_for_n_params


@pytest.mark.parametrize("table, family", [("henighan2020_table5_math_image_video_hparams.csv", "henighan"),
                                           ("henighan2020_table4_multimodal_hparams.csv", "gpt")])
def test_every_published_shape_gives_the_published_n(reference_dir, table, family):
    rows = pd.read_csv(reference_dir / table)
    assert len(rows) >= 7
    for row in rows.itertuples():
        cfg = get_family(family).shape(int(row.n_layer), int(row.d_model), n_ctx=64, vocab_size=256)
        if family == "gpt":  # Table 4 prints N exactly
            assert cfg.n_params == int(row.params_nonembed), row
        else:  # Table 5 prints N to three significant figures
            assert float(f"{cfg.n_params:.3g}") == row.params_nonembed, row


@pytest.mark.parametrize("family", list(FAMILIES))
def test_parameter_counts_match_the_module(family):
    cfg = get_family(family).shape(3, 64, n_ctx=32, vocab_size=100)
    model = GPT(cfg)
    total = sum(p.numel() for p in model.parameters())
    matrices = sum(p.numel() for name, p in model.named_parameters()
                   if p.dim() == 2 and name.startswith("blocks."))
    assert cfg.n_params == matrices
    assert cfg.n_params_total == total
    # The closed forms of DESIGN §1, derived independently of the config's properties.
    assert cfg.n_params == {"gpt": 12, "henighan": 3}[family] * 3 * 64 ** 2


@pytest.mark.parametrize("family", list(FAMILIES))
def test_forward_flops_match_torch_flop_counter(family):
    """FlopCounterMode counts a real forward pass: matmuls 2N + unembedding, and attention over the full T x T
    (the dense kernel computes the masked half too), i.e. twice the causal average that we count.

    The math SDPA backend is forced because the counter has no formula for CPU's fused attention kernel."""
    cfg = get_family(family).shape(2, 64, n_ctx=48, vocab_size=97)
    model = GPT(cfg).eval()
    batch, T = 3, cfg.n_ctx
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randint(0, cfg.vocab_size, (batch, T)))
    measured_per_token = counter.get_total_flops() / (batch * T)
    fwd = compute.forward_flops_per_token(cfg)
    assert measured_per_token == fwd.weights + fwd.unembedding + 2 * fwd.attention
    assert compute.flops_per_token(cfg) == 6 * cfg.n_params
    assert compute.flops_per_token_full(cfg) == 3 * fwd.total


def test_pf_day_and_report_points():
    assert compute.pf_days(8.64e19) == pytest.approx(1.0)
    points = compute.report_points(1e9, 1e12, per_decade=4)
    assert points[-1] == pytest.approx(1e12) and points[0] == pytest.approx(1e9)
    assert len(points) >= 4 * 3
    ratios = points[1:] / points[:-1]
    assert ratios == pytest.approx(ratios[0])


def test_shape_for_target_n_and_aspect():
    cfg = shape_for_n_params("henighan", 1e6, aspect=10, n_ctx=64, vocab_size=256)
    assert abs(cfg.n_params / 1e6 - 1) < 0.15
    assert 5 <= cfg.d_model / cfg.n_layer <= 20
    sizes = log_spaced_sizes("gpt", 1e4, 1e7, 7, aspect=16, n_ctx=64, vocab_size=256)
    ns = [s.n_params for s in sizes]
    assert ns == sorted(ns) and len(ns) == 7
    assert ns[0] == pytest.approx(1e4, rel=0.3) and ns[-1] == pytest.approx(1e7, rel=0.15)


def test_one_head_gives_the_finer_ladder_of_tiny_one_layer_models():
    """henighan N = 3 n_layer d_model^2: with one head, widths in steps of 4 (d_attn = d_model/4 need not split
    in two), so a one-layer ladder has sizes 1.2-1.8x apart where two heads allow only 192, 768, 1728."""
    one_head = [shape_for_n_params("henighan", n, aspect=64, n_ctx=64, vocab_size=256, n_head=1)
                for n in (432, 1200, 2352)]
    assert [(c.n_layer, c.d_model, c.n_head) for c in one_head] == [(1, 12, 1), (1, 20, 1), (1, 28, 1)]
    assert [c.n_params for c in one_head] == [3 * 12 ** 2, 3 * 20 ** 2, 3 * 28 ** 2]
    two_heads = shape_for_n_params("henighan", 1200, aspect=64, n_ctx=64, vocab_size=256)
    assert two_heads.d_model % 8 == 0 and two_heads.n_head == 2


def test_a_fixed_depth_keeps_every_size_at_that_depth():
    """Without a fixed depth the nearest shape to N ~ 1e3 jumps between depths (600 -> 1 layer of 16 at aspect
    12, 864 -> 2 layers of 12); with n_layer=2 every size is 2 layers, its width from N = 6 d_model^2."""
    shapes = [shape_for_n_params("henighan", n, aspect=12, n_ctx=64, vocab_size=256, n_head=1, n_layer=2)
              for n in (600, 864, 1100, 3000)]
    assert {c.n_layer for c in shapes} == {2}
    for c, n in zip(shapes, (600, 864, 1100, 3000)):
        assert c.n_params == 6 * c.d_model ** 2 and abs(c.d_model - (n / 6) ** 0.5) <= 2  # nearest width, steps of 4
    assert shape_for_n_params("henighan", 600, aspect=12, n_ctx=64, vocab_size=256, n_head=1).n_layer == 1


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="does not divide into n_head"):
        ModelConfig(n_layer=2, d_model=64, d_attn=64, d_ff=256, n_head=3, n_ctx=8, vocab_size=10)
    with pytest.raises(ValueError, match="outside what family 'henighan' can build"):
        shape_for_n_params("henighan", 10, aspect=10, n_ctx=8, vocab_size=10)
    with pytest.raises(ValueError, match="unknown model family"):
        get_family("llama")
    with pytest.raises(ValueError, match="empty or inverted"):
        log_spaced_sizes("gpt", 1e6, 1e4, 3, 10, 8, 10)
