"""Inference only: the Tracker, preprocessing, decoding, backends. Never imports training."""

from track_core.runtime.loader import load_tracker, model_runtime
from track_core.runtime.tracker import Tracker, TrackerConfig
from track_core.types import TrackResult, TrackState

__all__ = ['load_tracker', 'model_runtime', 'Tracker', 'TrackerConfig', 'TrackResult',
           'TrackState']
