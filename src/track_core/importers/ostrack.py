"""Import official OSTrack checkpoints (``.pth.tar``, state dict under ``net``).

The file is read with ``weights_only=True``: tensors only, no pickled code. OSTrack's key
names map one to one onto ``ostrack_vitb_256`` (``backbone.patch_embed.proj`` -> ``stem.proj``;
blocks, norms, positional embeddings and ``box_head`` keep their names). Keys OSTrack keeps but
never uses at 256 (the ImageNet ``pos_embed``, ``cls_token``) are ignored.
"""

import pathlib
from typing import Dict

import torch

from track_core.checkpoint import load_state_strict
from track_core.errors import CheckpointError
from track_core.net.variants import create_model

IGNORED = ('backbone.cls_token', 'backbone.pos_embed')


def map_ostrack_keys(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key in IGNORED:
            continue
        if key.startswith('backbone.patch_embed.'):
            out['stem.' + key[len('backbone.patch_embed.'):]] = value
        elif key.startswith('backbone.'):
            out[key[len('backbone.'):]] = value
        else:
            out[key] = value
    return out


def import_ostrack(path, variant: str = 'ostrack_vitb_256'):
    """Load an official OSTrack checkpoint into ``variant``; errors list unmatched keys."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: OSTrack checkpoint not found')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises several types; none may execute code here
        raise CheckpointError(f'{path}: cannot read as a weights-only torch file ({exc})') \
            from None
    state = ckpt.get('net', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError(f'{path}: no state dict of tensors (expected one under "net")')
    model = create_model(variant)
    load_state_strict(model, map_ostrack_keys(state), path)
    return model.eval()
