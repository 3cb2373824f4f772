"""Self-describing checkpoints: safetensors weights + model config + preprocessing + version.

One ``.safetensors`` file holds everything ``load_tracker`` needs. The configs live in the
file's string metadata as JSON, so loading never unpickles anything.
"""

import json
import os
import pathlib
from typing import Any, Dict, Optional, Tuple

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
import torch

from track_core.config import ConfigError, from_dict, to_dict
from track_core.errors import CheckpointError
from track_core.net.config import ModelConfig, PreprocessConfig

FORMAT = 'track_core.tracker'
FORMAT_VERSION = 1

__all__ = ['CheckpointError', 'save_checkpoint', 'read_checkpoint', 'read_extra', 'load_model',
           'FORMAT', 'FORMAT_VERSION']


def save_checkpoint(path, model: torch.nn.Module,
                    preprocess: PreprocessConfig = PreprocessConfig(),
                    extra: Optional[Dict[str, Any]] = None, half: bool = False) -> pathlib.Path:
    """Write ``model`` (a OneStreamTracker) to ``path`` atomically; return the path.

    ``half`` stores floating-point weights as float16 (half the file); they are loaded back
    into float32 models.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to('cpu')
        if half and value.is_floating_point():
            value = value.half()
        state[key] = value.contiguous().clone()
    metadata = {
        'format': FORMAT,
        'format_version': str(FORMAT_VERSION),
        'model_config': json.dumps(to_dict(model.cfg)),
        'preprocess': json.dumps(to_dict(preprocess)),
        'extra': json.dumps(extra or {}),
    }
    tmp = path.with_name(path.name + '.tmp')
    save_file(state, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def _read_metadata(path: pathlib.Path) -> Dict[str, str]:
    raw = path.read_bytes()[:8]
    if len(raw) < 8:
        raise CheckpointError(f'{path}: truncated ({path.stat().st_size} bytes): not a '
                              'safetensors file')
    header_len = int.from_bytes(raw, 'little')
    size = path.stat().st_size
    if header_len <= 0 or 8 + header_len > size:
        raise CheckpointError(f'{path}: truncated or not a safetensors file (header of '
                              f'{header_len} bytes in a {size}-byte file)')
    with path.open('rb') as f:
        f.seek(8)
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f'{path}: corrupt safetensors header ({exc})') from None
    if not isinstance(header, dict):
        raise CheckpointError(f'{path}: corrupt safetensors header')
    return header.get('__metadata__') or {}


def _checked_metadata(path: pathlib.Path) -> Dict[str, str]:
    """Return the metadata of a track_core checkpoint this version reads, else raise."""
    if not path.exists():
        raise CheckpointError(f'{path}: model file not found')
    if not path.is_file():
        raise CheckpointError(f'{path}: not a file')
    meta = _read_metadata(path)
    if meta.get('format') != FORMAT:
        raise CheckpointError(f'{path}: not a track_core tracker checkpoint (format '
                              f'{meta.get("format")!r}); official OSTrack files are imported '
                              'with track_core.importers.ostrack')
    try:
        version = int(meta.get('format_version', ''))
    except ValueError:
        raise CheckpointError(f'{path}: bad format_version {meta.get("format_version")!r}')
    if version > FORMAT_VERSION:
        raise CheckpointError(f'{path}: format version {version} is newer than this '
                              f'track_core reads ({FORMAT_VERSION}); upgrade track_core')
    return meta


def read_checkpoint(path) -> Tuple[ModelConfig, PreprocessConfig, Dict[str, torch.Tensor],
                                   Dict[str, Any]]:
    """Read and check a checkpoint: (model config, preprocessing, state dict, extra)."""
    path = pathlib.Path(path)
    meta = _checked_metadata(path)
    try:
        model_cfg = from_dict(ModelConfig, json.loads(meta['model_config']))
        pre_cfg = from_dict(PreprocessConfig, json.loads(meta['preprocess']))
        extra = json.loads(meta.get('extra', '{}'))
    except (KeyError, json.JSONDecodeError, ConfigError) as exc:
        raise CheckpointError(f'{path}: bad config in metadata ({exc})') from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f'{path}: corrupt weights ({exc})') from None
    return model_cfg, pre_cfg, state, extra


def read_extra(path) -> Dict[str, Any]:
    """Return a checkpoint's ``extra`` metadata without reading its weights."""
    path = pathlib.Path(path)
    meta = _checked_metadata(path)
    try:
        return json.loads(meta.get('extra', '{}'))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f'{path}: bad extra metadata ({exc})') from None


def load_state_strict(model: torch.nn.Module, state: Dict[str, torch.Tensor], source) -> None:
    """Load ``state`` into ``model``; any missing, unexpected or mis-shaped key is an error."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state)
                    if tuple(own[k].shape) != tuple(state[k].shape))
    problems = []
    if missing:
        problems.append(f'missing {len(missing)} key(s): {", ".join(missing[:6])}')
    if unexpected:
        problems.append(f'unexpected {len(unexpected)} key(s): {", ".join(unexpected[:6])}')
    if shapes:
        problems.append('shape mismatch: ' + ', '.join(
            f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in shapes[:6]))
    if problems:
        raise CheckpointError(f'{source}: weights do not match the model config: '
                              + '; '.join(problems))
    model.load_state_dict(state)      # copies into the model's dtype (float16 files too)


def load_model(path, device='cpu'):
    """Build the network a checkpoint describes and load its weights: (model, preprocess)."""
    from track_core.net.network import OneStreamTracker
    model_cfg, pre_cfg, state, _ = read_checkpoint(path)
    model = OneStreamTracker(model_cfg)
    load_state_strict(model, state, path)
    return model.to(device).eval(), pre_cfg
