"""Small value types shared by the runtime, the node and the evaluation."""

from dataclasses import dataclass
import enum
from typing import Tuple

# A box in pixels: top-left x, top-left y, width, height.
Box = Tuple[float, float, float, float]


class TrackState(enum.IntEnum):
    """What the tracker believes about a target after a frame."""

    TRACKING = 1
    LOST = 2


@dataclass(frozen=True)
class TrackResult:
    """One target's estimate for one frame.

    ``box`` is (x, y, w, h) in pixels of the image passed to ``track``; ``score`` is the
    confidence in [0, 1]; ``state`` is TRACKING or LOST (while LOST, ``box`` is the last
    confident estimate and the search region grows around it).
    """

    box: Box
    score: float
    state: TrackState
    frames_below_threshold: int = 0
