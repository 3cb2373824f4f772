"""Import NanoTrack v3's published checkpoint (``nanotrackv3.pth``, Apache-2.0).

The file is a zip pickle: ``{'epoch', 'state_dict', 'optimizer'}``. It is read with
``weights_only=True`` and only the three numpy types its optimizer state holds allowed, so no
pickled code runs. ``backbone.*`` and ``ban_head.*`` load by key into ``NanoTrackV3``
(``net/nanotrack.py``); ``neck.*`` is not part of the published graph and is skipped.

    track-import nanotrack-v3 nanotrackv3.pth models/nanotrack_v3.safetensors

writes the weights as safetensors (no pickle from then on) with a notice of their origin;
``track_core.net.nanotrack.load_nanotrack_v3`` reads them back.
"""

import pathlib
from typing import Dict, Tuple

import torch

from track_core.errors import CheckpointError
from track_core.net.nanotrack import NanoTrackV3, WEIGHTS_FORMAT

NOTICE = ('Weights derived from NanoTrack v3 (HonglinChu/SiamTrackers, NanoTrack/models/'
          'pretrained/nanotrackv3.pth), Apache License 2.0; converted by track_core.')
SKIPPED_PREFIXES = ('neck.',)


def _numpy_allow_list():
    import numpy as np
    try:
        from numpy._core.multiarray import scalar
    except ImportError:                     # numpy 1.x
        from numpy.core.multiarray import scalar
    allow = [(scalar, 'numpy.core.multiarray.scalar'), np.dtype]
    float64 = getattr(getattr(np, 'dtypes', None), 'Float64DType', None)
    if float64 is not None:
        allow.append(float64)
    return allow


def read_state_dict(path) -> Dict[str, torch.Tensor]:
    """Return the tensors of a NanoTrack ``.pth`` (no pickled code is executed)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: file not found')
    try:
        with torch.serialization.safe_globals(_numpy_allow_list()):
            ck = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable or unsafe files
        raise CheckpointError(f'{path}: not a readable NanoTrack checkpoint ({exc})') from None
    state = ck.get('state_dict', ck) if isinstance(ck, dict) else None
    if not isinstance(state, dict) or not any(k.startswith('backbone.') for k in state):
        raise CheckpointError(f'{path}: no NanoTrack state dict (expected backbone.* keys)')
    return state


def import_nanotrack_v3(path) -> Tuple[NanoTrackV3, Dict[str, list]]:
    """Build ``NanoTrackV3`` from ``path``; return it and {'skipped': [...]}.

    Raises CheckpointError naming the keys when the file does not match NanoTrack v3.
    """
    state = read_state_dict(path)
    model = NanoTrackV3()
    own = model.state_dict()
    wanted = {k: v for k, v in state.items() if not k.startswith(SKIPPED_PREFIXES)}
    missing = sorted(set(own) - set(wanted))
    unexpected = sorted(set(wanted) - set(own))
    wrong = sorted(k for k in set(own) & set(wanted) if own[k].shape != wanted[k].shape)
    if missing or unexpected or wrong:
        raise CheckpointError(
            f'{path}: not NanoTrack v3 (missing {missing[:5]}, unexpected {unexpected[:5]}, '
            f'other shapes {wrong[:5]})')
    model.load_state_dict(wanted)
    return model.eval(), {'skipped': sorted(k for k in state if k.startswith(SKIPPED_PREFIXES))}


def save_nanotrack_v3(model: NanoTrackV3, out) -> pathlib.Path:
    """Write ``model``'s weights as safetensors with the Apache-2.0 notice in the metadata."""
    from safetensors.torch import save_file
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out), metadata={'format': WEIGHTS_FORMAT, 'notice': NOTICE,
                                         'input': 'BGR, 0..255, template 127, search 255'})
    return out
