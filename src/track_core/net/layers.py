"""Transformer building blocks: attention, MLP, block with stochastic depth and branch scale."""

import torch
from torch import nn
import torch.nn.functional as F


class DropPath(nn.Module):
    """Stochastic depth on the residual branch (training only).

    The random keep mask uses torch's global generator, which training code seeds; it is the
    one standard regulariser allowed to draw inside forward and is off at inference.
    """

    def __init__(self, prob: float = 0.0):
        super().__init__()
        self.prob = prob

    def forward(self, x):
        if self.prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x):
        """(B, N, C) -> (B, heads, N, C / heads)."""
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, x, attn_mask=None):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))

    def keys_values(self, x):
        """(B, N, C) -> its keys and values, each (B, N, C), heads not yet split."""
        _, k, v = self.qkv(x).chunk(3, dim=-1)
        return k, v

    def forward_with_prefix(self, x, k_prefix, v_prefix):
        """Attention of ``x``'s queries over the prefix's keys and values followed by its own.

        Exactly ``forward`` on the joint sequence (prefix, x) for x's rows when the prefix's rows
        attend only among themselves (asymmetric attention), with the prefix's keys and values
        (``keys_values``) computed once instead of per call.
        """
        b, n, c = x.shape
        q, k, v = (self._heads(t) for t in self.qkv(x).chunk(3, dim=-1))
        k = torch.cat([self._heads(k_prefix), k], dim=2)
        v = torch.cat([self._heads(v_prefix), v], dim=2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block.

    ``branch_scale`` multiplies both residual branches. It is 1.0 normally; MixFormerV2's
    deep-to-shallow pruning decays it to 0 for layers being removed, after which the block is
    the identity and can be dropped. It is a plain attribute set by the training schedule.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)
        self.branch_scale = 1.0

    def forward(self, x, attn_mask=None):
        s = self.branch_scale
        x = x + s * self.drop_path(self.attn(self.norm1(x), attn_mask))
        return x + s * self.drop_path(self.mlp(self.norm2(x)))

    def prefix_keys_values(self, prefix):
        """Compute the keys and values this block's attention takes from ``prefix`` (its input)."""
        return self.attn.keys_values(self.norm1(prefix))

    def forward_after_prefix(self, x, k_prefix, v_prefix):
        """``forward`` for the tokens after a prefix that attends only to itself (inference)."""
        s = self.branch_scale
        x = x + s * self.attn.forward_with_prefix(self.norm1(x), k_prefix, v_prefix)
        return x + s * self.mlp(self.norm2(x))
