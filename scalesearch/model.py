"""A decoder-only Transformer, as plain as nanoGPT's: pre-LN blocks, causal attention, learned positions.

The shape is explicit, ``(n_layer, d_model, d_attn, d_ff, n_ctx, vocab_size)``, because the scaling-law papers
vary ``d_attn`` and ``d_ff`` independently of ``d_model`` (Henighan's image/math/video models use
``d_attn = d_model/4``, ``d_ff = d_model``). Linear layers carry no bias and the unembedding is not tied to the
embedding, so the non-embedding parameter count is exactly ``n_layer * (4 d_model d_attn + 2 d_model d_ff)``,
the N of the papers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int
    d_model: int
    d_attn: int
    d_ff: int
    n_head: int
    n_ctx: int
    vocab_size: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model shape: {name} must be a positive integer, got {value!r}")
        if self.d_attn % self.n_head:
            raise ValueError(f"model shape: d_attn={self.d_attn} does not divide into n_head={self.n_head} heads; "
                             "choose n_head dividing d_attn")

    @property
    def n_params(self) -> int:
        """Non-embedding parameters N: the attention (q, k, v, out) and MLP weight matrices."""
        return self.n_layer * (4 * self.d_model * self.d_attn + 2 * self.d_model * self.d_ff)

    @property
    def n_params_total(self) -> int:
        """All parameters: N plus token and position embeddings, unembedding and LayerNorm gains."""
        embeddings = (self.vocab_size + self.n_ctx) * self.d_model
        unembedding = self.vocab_size * self.d_model
        norms = (2 * self.n_layer + 1) * self.d_model
        return self.n_params + embeddings + unembedding + norms


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_attn, bias=False)
        self.proj = nn.Linear(cfg.d_attn, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(self.qkv.out_features // 3, dim=2)
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # flash kernels on GPU
        return self.proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 n_layer) so the residual stream's variance stays put.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / (2 * cfg.n_layer) ** 0.5)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, vocab] for token ids ``idx`` [B, T] with T <= n_ctx."""
        T = idx.shape[1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"sequence of {T} tokens is longer than the model's context n_ctx={self.cfg.n_ctx}")
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
