"""Is the target there? The one place that decides it, for one target, frame by frame.

Every frame the tracker runs its local search and hands the confidence found to ``step``; the
search for a lost target (``search.py``) hands what it finds to ``found``. Nothing else moves
a target between states::

    TRACKING --(confidence < absent_threshold)--> UNSURE --(confident again)--> TRACKING
    TRACKING / UNSURE --(lost_frames frames in a row under lost_threshold)--> SEARCHING
    SEARCHING --(local search at recover_threshold, a confirmed scan or detector candidate)-->
        REACQUIRED --(next frame)--> TRACKING (or UNSURE, or SEARCHING again)

While TRACKING or UNSURE the tracker follows its best match (the box moves); while SEARCHING it
holds the box and searches. Only TRACKING and REACQUIRED report the target (``present``).
Pure: no arrays, no network.
"""

from track_core.types import TrackState


class Presence:
    """One target's presence state machine over its frames' confidences.

    ``rules`` is anything with ``lost_threshold``, ``lost_frames``, ``recover_threshold`` and
    ``absent_threshold`` (a ``TrackerConfig``). ``below``: frames in a row under
    ``lost_threshold``; ``unseen``: frames since the target was last reported present.
    """

    __slots__ = ('state', 'below', 'unseen')

    def __init__(self):
        self.state = TrackState.TRACKING
        self.below = 0
        self.unseen = 0

    @property
    def searching(self) -> bool:
        """True while the target is lost and looked for (the box is held, not followed)."""
        return self.state == TrackState.SEARCHING

    def step(self, confidence: float, rules) -> bool:
        """Take one frame's local-search confidence; return True when its box is followed."""
        self.below = self.below + 1 if confidence < rules.lost_threshold else 0
        if self.state == TrackState.SEARCHING:
            if confidence < rules.recover_threshold:
                self.unseen += 1
                return False
            self.found()
            return True
        if self.below >= rules.lost_frames:
            self.state = TrackState.SEARCHING
            self.unseen += 1
            return False
        self.state = TrackState.UNSURE if confidence < rules.absent_threshold \
            else TrackState.TRACKING
        self.unseen = 0 if self.state.present else self.unseen + 1
        return True

    def found(self) -> None:
        """Take the target as found where the search (or a correction from outside) put it."""
        self.state = TrackState.REACQUIRED if self.state == TrackState.SEARCHING \
            else TrackState.TRACKING
        self.below = 0
        self.unseen = 0
