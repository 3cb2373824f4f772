"""``load_tracker``: a checkpoint path in, a ready Tracker out."""

import dataclasses
import hashlib
import pathlib
from typing import Any, Dict, Optional

from track_core.checkpoint import load_model, read_extra
from track_core.config import ConfigError, from_dict, to_dict
from track_core.errors import CheckpointError
from track_core.net.onnx_graphs import export_onnx, GRAPH_VERSION
from track_core.runtime.backends import onnx_cache_dir, OnnxBackend, TorchBackend
from track_core.runtime.tracker import RETIRED_SETTINGS, Tracker, TrackerConfig

BACKENDS = ('torch', 'onnx')


def _file_digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open('rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()[:16]


RUNTIME_KEY = 'runtime'


def model_runtime(path, overrides: Optional[Dict[str, Any]] = None) -> TrackerConfig:
    """Return the run-time settings a checkpoint brings, with ``overrides`` on top.

    A model stores the settings chosen for it (window, size control, thresholds) in its
    metadata (``extra['runtime']``, written by ``with_runtime``); settings it does not store
    keep the ``TrackerConfig`` defaults. Bad stored values are a CheckpointError, bad
    overrides a ValueError, each naming the setting.
    """
    stored = dict(read_extra(path).get(RUNTIME_KEY) or {})
    # Checkpoints shipped before it became a deployment limit (Tracker.max_targets) store it.
    stored.pop('max_targets', None)
    for name, off in RETIRED_SETTINGS.items():
        if name in stored:
            value = stored.pop(name)
            if off is not None and value != off:
                raise CheckpointError(f'{path}: the model relies on {name}={value!r}, a setting '
                                      'this version no longer has (docs/evaluation.md)')
    try:
        base = from_dict(TrackerConfig, stored, 'runtime')
    except ConfigError as exc:
        raise CheckpointError(f'{path}: bad run-time settings in metadata ({exc})') from None
    if not overrides:
        return base
    try:
        return from_dict(TrackerConfig, {**to_dict(base), **overrides})
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def with_runtime(extra: Dict[str, Any], config: TrackerConfig) -> Dict[str, Any]:
    """Return checkpoint metadata ``extra`` carrying ``config`` as the model's own settings."""
    return {**extra, RUNTIME_KEY: dataclasses.asdict(config)}


def load_tracker(path, device: str = 'auto', backend: str = 'torch',
                 config: Optional[TrackerConfig] = None, fp16: Optional[bool] = None,
                 threads: Optional[int] = None, max_targets: int = 8,
                 overrides: Optional[Dict[str, Any]] = None) -> Tracker:
    """Load a checkpoint and wrap it in a Tracker.

    ``config``: the run-time settings; None takes the model's own (``model_runtime``) with
    ``overrides`` on top. The tracker keeps the model's own in ``model_settings``.
    ``max_targets``: how many targets may be tracked at once (a deployment limit).

    backend 'torch': PyTorch on ``device`` ('auto', 'cpu', 'cuda', 'cuda:1', ...; fp16 on CUDA
    unless ``fp16=False``). backend 'onnx': the graphs are exported once into the cache
    ($TRACK_CORE_CACHE or ~/.cache/track_core) and run by ONNX Runtime on ``device`` ('cpu',
    'cuda', 'tensorrt' or 'auto').
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {", ".join(BACKENDS)}, got {backend!r}')
    path = pathlib.Path(path)
    model, preprocess = load_model(path, device='cpu')
    own = model_runtime(path)
    if config is None:
        config = model_runtime(path, overrides) if overrides else own
    if backend == 'torch':
        engine = TorchBackend(model, device=device, fp16=fp16, threads=threads)
    else:
        out_dir = onnx_cache_dir() / f'{path.stem}-{_file_digest(path)}-g{GRAPH_VERSION}'
        template_path, search_path = out_dir / 'template.onnx', out_dir / 'search.onnx'
        if not (template_path.is_file() and search_path.is_file()):
            export_onnx(model, out_dir)
        engine = OnnxBackend(template_path, search_path, model.cfg.head,
                             device='auto' if device in (None, 'auto') else device,
                             threads=threads)
    tracker = Tracker(engine, model.cfg, preprocess, config, max_targets)
    tracker.model_settings = own
    return tracker
