"""Trackers under one evaluation interface: ours (track_core.runtime) and the baselines.

Each has ``name``, ``initialize(rgb, box)``, ``track(rgb) -> (x, y, w, h)`` (NaN when it
reports failure), and ``model_ms`` (list of per-frame model-only times where that applies).
Baselines are optional: ``available_baselines`` says which can run here and why not.
"""

import pathlib
import time
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from track_core.runtime import load_tracker, TrackerConfig

NAN_BOX = (float('nan'),) * 4


class _TimedBackend:
    """Wraps a backend to record model-only time per call of ``run``."""

    def __init__(self, backend, sink: List[float]):
        self._backend = backend
        self._sink = sink

    def embed_template(self, z):
        return self._backend.embed_template(z)

    def run(self, z_tokens, x):
        start = time.perf_counter()
        out = self._backend.run(z_tokens, x)
        self._sink.append((time.perf_counter() - start) * 1000.0)
        return out


class CoreTracker:
    """A track_core checkpoint through the same runtime the ROS node uses."""

    def __init__(self, name: str, path, backend: str = 'onnx', device: str = 'cpu',
                 config: TrackerConfig = TrackerConfig(), threads: Optional[int] = None):
        self.name = name
        self.path = pathlib.Path(path)
        self.tracker = load_tracker(path, device=device, backend=backend, config=config,
                                    threads=threads)
        self.model_ms: List[float] = []
        self.tracker.backend = _TimedBackend(self.tracker.backend, self.model_ms)
        self.backend = backend

    def initialize(self, rgb, box):
        self.tracker.initialize(rgb, box)

    def track(self, rgb) -> Tuple[float, float, float, float]:
        return self.tracker.track(rgb).box


class OpenCVTracker:
    """OpenCV's CSRT, KCF or NanoTrack (BGR input; a reported failure gives a NaN box)."""

    def __init__(self, name: str, factory):
        self.name = name
        self._factory = factory
        self._tracker = None
        self.model_ms: List[float] = []

    def initialize(self, rgb, box):
        self._tracker = self._factory()
        x, y, w, h = (int(round(v)) for v in box)
        self._tracker.init(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (x, y, max(w, 1), max(h, 1)))

    def track(self, rgb):
        ok, box = self._tracker.update(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return tuple(float(v) for v in box) if ok else NAN_BOX


def _nano_factory(folder: pathlib.Path):
    def make():
        params = cv2.TrackerNano_Params()
        params.backbone = str(folder / 'backbone.onnx')
        params.neckhead = str(folder / 'head.onnx')
        return cv2.TrackerNano_create(params)
    return make


def available_baselines(names, nanotrack_dir=None) -> Tuple[Dict[str, object], Dict[str, str]]:
    """({name: factory of an OpenCVTracker}, {name: why it was skipped})."""
    ready, skipped = {}, {}
    for name in names:
        key = name.lower()
        if key in ('csrt', 'kcf'):
            fn = getattr(cv2, f'Tracker{key.upper()}_create', None)
            if fn is None:
                legacy = getattr(cv2, 'legacy', None)
                fn = getattr(legacy, f'Tracker{key.upper()}_create', None) if legacy else None
            if fn is None:
                skipped[name] = (f'cv2.Tracker{key.upper()}_create missing: install '
                                 'opencv-contrib-python-headless (the same version)')
                continue
            ready[key.upper()] = (lambda f=fn, n=key.upper(): OpenCVTracker(n, f))
        elif key == 'nanotrack':
            folder = pathlib.Path(nanotrack_dir) if nanotrack_dir else None
            if not hasattr(cv2, 'TrackerNano_create'):
                skipped[name] = f'cv2.TrackerNano missing in OpenCV {cv2.__version__}'
            elif folder is None or not (folder / 'backbone.onnx').is_file() or \
                    not (folder / 'head.onnx').is_file():
                skipped[name] = (f'NanoTrack ONNX files not found in {folder} (give '
                                 '--nanotrack-dir with backbone.onnx and head.onnx)')
            else:
                ready['NanoTrack'] = (lambda f=_nano_factory(folder):
                                      OpenCVTracker('NanoTrack', f))
        else:
            skipped[name] = 'unknown baseline (known: csrt, kcf, nanotrack)'
    return ready, skipped


def nan_box() -> np.ndarray:
    return np.array(NAN_BOX)
