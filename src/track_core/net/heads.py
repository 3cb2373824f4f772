"""Box heads: OSTrack's center head and MixFormerV2's prediction-token head.

(NanoTrack v3's head, ``head: ban``, lives with the rest of NanoTrack in ``nanotrack.py``.)

Both return a dict with ``box`` (B, 4) as (cx, cy, w, h) normalised to the search crop and
``score`` (B,) in [0, 1], plus their raw maps or logits for training and for the runtime's
windowed decode.
"""

import torch
from torch import nn


def _conv_bn_relu(cin, cout, batch_norm=True):
    norm = [nn.BatchNorm2d(cout)] if batch_norm else []
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), *norm, nn.ReLU())


def _tower(cin, ch, out, batch_norm=True):
    # Five layers per branch, channels ch, ch/2, ch/4, ch/8, then a 1x1 to the outputs.
    widths = (cin, ch, ch // 2, ch // 4, ch // 8)
    return [_conv_bn_relu(a, b, batch_norm) for a, b in zip(widths, widths[1:])] + \
        [nn.Conv2d(ch // 8, out, 1)]


class CenterHead(nn.Module):
    """Score, size and offset maps over the search feature grid (OSTrack's center head).

    Module names follow OSTrack's (``conv1_ctr`` ... ``conv5_size``) so its checkpoints map
    one to one. ``batch_norm=False``: the towers without BatchNorm (VitTrack's, folded into its
    convolutions). Score and size are clamped to [1e-4, 1 - 1e-4], as in OSTrack and VitTrack.
    """

    def __init__(self, dim: int, channels: int, feat: int, batch_norm: bool = True):
        super().__init__()
        self.feat = feat
        for branch, out in (('ctr', 1), ('offset', 2), ('size', 2)):
            for i, layer in enumerate(_tower(dim, channels, out, batch_norm), start=1):
                self.add_module(f'conv{i}_{branch}', layer)
        # Score prior of 0.1 at the start (CenterNet), so the focal loss starts sane.
        nn.init.constant_(self.conv5_ctr.bias, -2.19)

    def _branch(self, x, name):
        for i in range(1, 6):
            x = getattr(self, f'conv{i}_{name}')(x)
        return x

    def forward(self, search_tokens):
        b, n, c = search_tokens.shape
        x = search_tokens.transpose(1, 2).reshape(b, c, self.feat, self.feat)
        score_map = torch.sigmoid(self._branch(x, 'ctr')).clamp(1e-4, 1 - 1e-4)
        size_map = torch.sigmoid(self._branch(x, 'size')).clamp(1e-4, 1 - 1e-4)
        offset_map = self._branch(x, 'offset')
        box, score = decode_center_maps(score_map, size_map, offset_map)
        return {'box': box, 'score': score, 'score_map': score_map, 'size_map': size_map,
                'offset_map': offset_map}

    def read(self, tokens, nz: int, nx: int):
        """Apply the head to its part of a joint token sequence: the search tokens."""
        return self(tokens[:, nz:nz + nx])


def decode_center_maps(score_map, size_map, offset_map):
    """Peak of ``score_map`` -> normalised cx, cy, w, h and the score there (training side).

    cx = (column + offset_x) / feat, cy = (row + offset_y) / feat, (w, h) = size at the peak:
    the convention of the runtime's numpy ``decode_center`` (a test holds them equal).
    """
    b, _, feat, _ = score_map.shape
    flat = score_map.flatten(1)
    idx = flat.argmax(dim=1, keepdim=True)
    score = flat.gather(1, idx).squeeze(1)
    size = size_map.flatten(2).gather(2, idx.unsqueeze(1).expand(b, 2, 1)).squeeze(2)
    offset = offset_map.flatten(2).gather(2, idx.unsqueeze(1).expand(b, 2, 1)).squeeze(2)
    col = (idx.squeeze(1) % feat).to(score_map.dtype)
    row = torch.div(idx.squeeze(1), feat, rounding_mode='floor').to(score_map.dtype)
    cx = (col + offset[:, 0]) / feat
    cy = (row + offset[:, 1]) / feat
    box = torch.stack([cx, cy, size[:, 0], size[:, 1]], dim=1)
    return box, score


class TokenHead(nn.Module):
    """MixFormerV2 prediction-token head.

    Four tokens (left, right, top, bottom edges) share one MLP that gives logits over
    ``num_bins`` positions in [0, 1] of the search crop; each edge is the expectation of its
    softmax. The score is a sigmoid of the score MLP averaged over the four tokens.
    """

    def __init__(self, dim: int, num_bins: int):
        super().__init__()
        self.box_mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, num_bins))
        self.score_mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.register_buffer('bins', torch.linspace(0.0, 1.0, num_bins), persistent=False)

    def forward(self, pred_tokens):
        logits = self.box_mlp(pred_tokens)                       # (B, 4, bins)
        edges = (logits.softmax(dim=-1) * self.bins).sum(dim=-1)  # (B, 4): l, r, t, b
        left, right, top, bottom = edges.unbind(dim=1)
        w = (right - left).clamp(min=1e-4)
        h = (bottom - top).clamp(min=1e-4)
        box = torch.stack([(left + right) / 2, (top + bottom) / 2, w, h], dim=1)
        score = torch.sigmoid(self.score_mlp(pred_tokens).mean(dim=(1, 2)))
        return {'box': box, 'score': score, 'edge_logits': logits}

    def read(self, tokens, nz: int, nx: int):
        """Apply the head to its part of a joint token sequence: the prediction tokens."""
        return self(tokens[:, nz + nx:])


class ScoreHead(nn.Module):
    """A confidence that the box is the target, beside the box head (STARK-ST's second stage).

    A learnt query, shifted by the template's mean token, attends over the search tokens; an
    MLP reads what it gathered, the template's mean token and the box head's peak score (as a
    logit) and gives one logit. It reads the blocks' tokens and the box head's output but
    changes neither, so a model trained with everything else frozen (``track-train score``)
    finds bit-identical boxes and only its ``confidence`` is new. ``forward`` returns the
    logit; ``OneStreamTracker.predict`` puts its sigmoid in the output as ``confidence``.
    """

    def __init__(self, dim: int, num_heads: int = 4, hidden: int = 96):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'score head: width {dim} is not divisible by {num_heads} heads')
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.from_template = nn.Linear(dim, dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim + 1, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, z_tokens, x_tokens, peak_score):
        z = self.norm(z_tokens).mean(dim=1, keepdim=True)                  # (B, 1, C)
        x = self.norm(x_tokens)
        b, n, c = x.shape
        h, d = self.num_heads, c // self.num_heads
        q = self.q(self.query + self.from_template(z)).reshape(b, 1, h, d).transpose(1, 2)
        k, v = self.kv(x).reshape(b, n, 2, h, d).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q @ k.transpose(-2, -1) * d ** -0.5).softmax(dim=-1)       # (B, h, 1, N)
        gathered = self.proj((attn @ v).transpose(1, 2).reshape(b, c))
        peak = peak_score.clamp(1e-4, 1 - 1e-4)
        peak_logit = torch.log(peak / (1 - peak)).unsqueeze(1)
        return self.mlp(torch.cat([gathered, z.squeeze(1), peak_logit], dim=1)).squeeze(1)
