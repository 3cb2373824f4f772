"""Inference: the Tracker, preprocessing, decoding, backends, the loader and the live engine.

May import ``net``, ``checkpoint``, ``config``, ``boxes``; never training, data, evaluation or
ROS code (the node and any camera loop drive ``live.LiveEngine``).
"""

from track_core.runtime.loader import load_tracker, model_runtime
from track_core.runtime.tracker import Tracker, TrackerConfig, without_effect
from track_core.types import TrackResult, TrackState

__all__ = ['load_tracker', 'model_runtime', 'Tracker', 'TrackerConfig', 'TrackResult',
           'TrackState', 'without_effect']
