"""``load_tracker``: a checkpoint path in, a ready Tracker out."""

import hashlib
import pathlib
from typing import Optional

from track_core.checkpoint import load_model
from track_core.net.onnx_graphs import export_onnx
from track_core.runtime.backends import onnx_cache_dir, OnnxBackend, TorchBackend
from track_core.runtime.tracker import Tracker, TrackerConfig

BACKENDS = ('torch', 'onnx')


def _file_digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open('rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_tracker(path, device: str = 'auto', backend: str = 'torch',
                 config: TrackerConfig = TrackerConfig(), fp16: Optional[bool] = None,
                 threads: Optional[int] = None) -> Tracker:
    """Load a checkpoint and wrap it in a Tracker.

    backend 'torch': PyTorch on ``device`` ('auto', 'cpu', 'cuda', 'cuda:1', ...; fp16 on CUDA
    unless ``fp16=False``). backend 'onnx': the graphs are exported once into the cache
    ($TRACK_CORE_CACHE or ~/.cache/track_core) and run by ONNX Runtime on ``device`` ('cpu',
    'cuda', 'tensorrt' or 'auto').
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {", ".join(BACKENDS)}, got {backend!r}')
    path = pathlib.Path(path)
    model, preprocess = load_model(path, device='cpu')
    if backend == 'torch':
        engine = TorchBackend(model, device=device, fp16=fp16, threads=threads)
    else:
        out_dir = onnx_cache_dir() / f'{path.stem}-{_file_digest(path)}'
        template_path, search_path = out_dir / 'template.onnx', out_dir / 'search.onnx'
        if not (template_path.is_file() and search_path.is_file()):
            export_onnx(model, out_dir)
        engine = OnnxBackend(template_path, search_path, model.cfg.head,
                             device='auto' if device in (None, 'auto') else device,
                             threads=threads)
    return Tracker(engine, model.cfg, preprocess, config)
