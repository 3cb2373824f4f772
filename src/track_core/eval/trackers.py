"""This project's trackers under the evaluation interface (the baselines': foreign.baselines).

Each has ``name``, ``initialize(rgb, box)``, ``track(rgb) -> (x, y, w, h)`` (NaN when it
reports failure), and ``model_ms`` (list of per-frame model-only times where that applies).
"""

import pathlib
import time
from typing import List, Optional, Tuple

from track_core.runtime import load_tracker, TrackerConfig


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
                 config: Optional[TrackerConfig] = None, threads: Optional[int] = None):
        """``config``: run-time settings; None takes the model's own."""
        self.name = name
        self.path = pathlib.Path(path)
        self.tracker = load_tracker(path, device=device, backend=backend, config=config,
                                    threads=threads)
        self.model_ms: List[float] = []
        self.tracker.backend = _TimedBackend(self.tracker.backend, self.model_ms)
        self.backend = backend

    def initialize(self, rgb, box):
        self.tracker.initialize(rgb, box)
        self.last_result = None

    def track(self, rgb) -> Tuple[float, float, float, float]:
        self.last_result = self.tracker.track(rgb)      # score and state for the report
        return self.last_result.box
