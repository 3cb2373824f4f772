"""Small value types shared by the runtime, the node and the evaluation."""

from dataclasses import dataclass
import enum
from typing import Tuple

# A box in pixels: top-left x, top-left y, width, height.
Box = Tuple[float, float, float, float]


class TrackState(enum.IntEnum):
    """Is the target there? A target's state after one frame (``runtime/presence.py``).

    TRACKING: the box is the target. UNSURE: this frame's confidence is under
    ``absent_threshold``: the target is not reported, but the tracker still follows its best
    match, since an unsure target may still be there. SEARCHING: the target is lost; the
    tracker no longer follows, it searches (a widening local search, the frame scan, a
    detector's candidates) and the box is where it was last held. REACQUIRED: found again on
    this frame after SEARCHING (the box is the target; TRACKING from the next frame on).
    The values are those of ``track_interfaces/TargetState``'s constants.
    """

    TRACKING = 1
    SEARCHING = 2
    REACQUIRED = 3
    UNSURE = 4

    @property
    def present(self) -> bool:
        """True when the box is reported as the target (TRACKING or REACQUIRED)."""
        return self in (TrackState.TRACKING, TrackState.REACQUIRED)


@dataclass(frozen=True)
class TrackResult:
    """One target's estimate for one frame.

    ``box`` is (x, y, w, h) in pixels of the image passed to ``track``; ``score`` is the
    confidence in [0, 1]; ``state`` says whether the box is the target (``state.present``);
    while SEARCHING, ``box`` is where the target was last held and the search goes on around
    it. ``label``: the target's class where it came from a detection ('' when unknown).
    """

    box: Box
    score: float
    state: TrackState
    frames_below_threshold: int = 0
    label: str = ''

    @property
    def present(self) -> bool:
        return self.state.present
