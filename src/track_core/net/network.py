"""The one-stream transformer tracker network (teacher and students are variants of it)."""

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from track_core.net.config import ModelConfig
from track_core.net.heads import CenterHead, ScoreHead, TokenHead
from track_core.net.layers import Block
from track_core.net.nanotrack import BanBoxHead, NanoTrackV3Stem
from track_core.net.stems import MobileNetV2Stem, PatchEmbed
from track_core.net.vittrack import VitTrackStem


# Each stem and head is built here, once, from its name; the rest of the code asks the
# config's StemKind / HeadKind what it needs to know. Every head reads its part of the joint
# token sequence itself (``read(tokens, num_template, num_search)``).
STEMS: Dict[str, Callable[[ModelConfig], nn.Module]] = {
    'patch': lambda cfg: PatchEmbed(cfg.embed_dim),
    'mobilenetv2': lambda cfg: MobileNetV2Stem(cfg.embed_dim, cfg.mnv2_blocks),
    'nanotrack_v3': lambda cfg: NanoTrackV3Stem(cfg.embed_dim,
                                                project=cfg.head_kind.stem_projection),
    'vittrack': lambda cfg: VitTrackStem(cfg.embed_dim),
}


def _center_head(cfg: ModelConfig) -> CenterHead:
    return CenterHead(cfg.embed_dim, cfg.head_channels, cfg.search_feat,
                      batch_norm=cfg.head_kind.batch_norm)


HEADS: Dict[str, Callable[[ModelConfig], nn.Module]] = {
    'center': _center_head,
    'vit_center': _center_head,        # without BatchNorm (HeadKind.batch_norm)
    'token': lambda cfg: TokenHead(cfg.embed_dim, cfg.num_bins),
    'ban': lambda cfg: BanBoxHead(cfg.score_positions(), cfg.embed_dim, cfg.search_size),
}


class OneStreamTracker(nn.Module):
    """Template and search crops -> tokens -> joint transformer -> box head.

    ``forward(template, search)`` is the whole network. The pieces are public because the
    runtime caches the template side (``template_state`` once per target, ``track_from_state``
    per frame) and training swaps blocks (``blocks=`` takes an explicit list of modules to run
    instead of ``self.blocks``: replacement training passes teacher and student blocks chosen
    by its stage mask). Nothing in here draws random numbers except DropPath in training.

    With the 'ban' head the token stream is NanoTrack v3's backbone features themselves (width
    96, no projection, no final norm) and every block's residual branch and the position
    embeddings start at zero: at initialisation the blocks are the identity and the network is
    NanoTrack v3 (``pretrained_stem`` loads its backbone and head), so training can only add
    what attention between template and search brings.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        kind = cfg.head_kind
        dim = cfg.embed_dim
        self.stem = STEMS[cfg.stem](cfg)
        self.pos_embed_z = nn.Parameter(torch.zeros(1, cfg.num_template_tokens, dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, cfg.num_search_tokens, dim))
        if kind.prediction_tokens:
            self.pred_tokens = nn.Parameter(torch.zeros(1, kind.prediction_tokens, dim))
        rates = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(dim, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, rate, cfg.norm_eps)
            for rate in rates)
        self.norm = nn.LayerNorm(dim, eps=cfg.norm_eps) if kind.final_norm else nn.Identity()
        self.box_head = HEADS[cfg.head](cfg)
        if cfg.score_head:
            self.score_head = ScoreHead(dim, 4 if dim % 4 == 0 else 1)
        n = cfg.num_template_tokens + cfg.num_search_tokens + kind.prediction_tokens
        if cfg.attention == 'asymmetric':
            mask = torch.ones(n, n, dtype=torch.bool)
            mask[:cfg.num_template_tokens, cfg.num_template_tokens:] = False
            self.register_buffer('attn_mask', mask, persistent=False)
        else:
            self.attn_mask = None
        self.reset_parameters()

    def reset_parameters(self):
        for p in (self.pos_embed_z, self.pos_embed_x):
            nn.init.trunc_normal_(p, std=0.02)
        if self.cfg.head_kind.prediction_tokens:
            nn.init.trunc_normal_(self.pred_tokens, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.cfg.head_kind.pretrained:   # identity blocks: it starts as the published tracker
            for p in (self.pos_embed_z, self.pos_embed_x):
                nn.init.zeros_(p)
            for blk in self.blocks:
                for layer in (blk.attn.proj, blk.mlp.fc2):
                    nn.init.zeros_(layer.weight)
                    nn.init.zeros_(layer.bias)

    # ----------------------------------------------------------------- pieces
    def _tokens(self, image, template: bool = False):
        if self.cfg.stem_kind.separate_template:
            return self.stem(image, template).flatten(2).transpose(1, 2)
        return self.stem(image).flatten(2).transpose(1, 2)

    def embed_template(self, template: torch.Tensor) -> torch.Tensor:
        """(B, 3, Ht, Wt) normalised template crop -> (B, Nz, C) template tokens."""
        return self._tokens(template, template=True) + self.pos_embed_z

    def embed_search(self, search: torch.Tensor) -> torch.Tensor:
        return self._tokens(search) + self.pos_embed_x

    def join(self, z_tokens, x_tokens):
        parts = [z_tokens, x_tokens]
        if self.cfg.head_kind.prediction_tokens:
            parts.append(self.pred_tokens.expand(x_tokens.shape[0], -1, -1))
        return torch.cat(parts, dim=1)

    def run_blocks(self, tokens, blocks: Optional[Sequence[nn.Module]] = None,
                   collect: Sequence[int] = ()) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run ``blocks`` (default ``self.blocks``), collecting hidden states.

        Hidden states are taken after the blocks at positions ``collect`` (pre final norm).
        """
        hidden = []
        wanted = set(collect)
        for i, blk in enumerate(self.blocks if blocks is None else blocks):
            tokens = blk(tokens, self.attn_mask)
            if i in wanted:
                hidden.append(tokens)
        return tokens, hidden

    def predict(self, tokens):
        """Apply the final norm and the head(s) to the joint token sequence.

        With a score head the output also holds ``confidence_logit`` and ``confidence`` (its
        sigmoid); without one the confidence is the box head's ``score``.
        """
        tokens = self.norm(tokens)
        nz, nx = self.cfg.num_template_tokens, self.cfg.num_search_tokens
        out = self.box_head.read(tokens, nz, nx)
        if self.cfg.score_head:
            logit = self.score_head(tokens[:, :nz], tokens[:, nz:nz + nx], out['score'])
            out['confidence_logit'] = logit
            out['confidence'] = torch.sigmoid(logit)
        return out

    # ----------------------------------------------------------------- entry points
    def forward_search(self, z_tokens, search, blocks=None):
        """Per-frame part given cached template tokens from ``embed_template``."""
        tokens, _ = self.run_blocks(self.join(z_tokens, self.embed_search(search)), blocks)
        return self.predict(tokens)

    def forward(self, template, search, blocks=None):
        return self.forward_search(self.embed_template(template), search, blocks)

    # ----------------------------------------------------------------- the runtime's pair
    def template_state(self, template: torch.Tensor) -> torch.Tensor:
        """Compute what every frame needs of a template, once per target: (B, Nz, C * k).

        Joint attention: the template tokens (``embed_template``), k = 1. Asymmetric attention
        (template tokens attend only to template tokens, so nothing on the template side
        depends on the search crop): the template tokens after the last block, then each
        block's keys and values of its template input, k = 1 + 2 * depth; each frame then runs
        the search side alone (``track_from_state``, MixFormer's cached template).
        """
        z = self.embed_template(template)
        if self.attn_mask is None:
            return z
        keys_values = []
        for blk in self.blocks:
            keys_values.extend(blk.prefix_keys_values(z))
            z = blk(z)
        return torch.cat([z, *keys_values], dim=-1)

    def track_from_state(self, state: torch.Tensor, search: torch.Tensor) -> Dict:
        """Per-frame outputs from ``template_state``; equal to ``forward`` (to rounding)."""
        if self.attn_mask is None:
            return self.forward_search(state, search)
        z, *keys_values = state.split(self.cfg.embed_dim, dim=-1)
        x = self.embed_search(search)
        if self.cfg.head_kind.prediction_tokens:
            x = torch.cat([x, self.pred_tokens.expand(x.shape[0], -1, -1)], dim=1)
        for i, blk in enumerate(self.blocks):
            x = blk.forward_after_prefix(x, keys_values[2 * i], keys_values[2 * i + 1])
        return self.predict(torch.cat([z, x], dim=1))

    def forward_intermediates(self, template, search, indices: Sequence[int], blocks=None):
        """Output plus the hidden states after the blocks at ``indices`` (pre final norm)."""
        tokens = self.join(self.embed_template(template), self.embed_search(search))
        tokens, hidden = self.run_blocks(tokens, blocks, indices)
        return self.predict(tokens), hidden
