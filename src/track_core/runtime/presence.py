"""Is the target there? The one place that decides it, for one target, frame by frame.

Every frame the tracker runs its local search and hands the confidence found to ``step``; the
search for a lost target (``search.py``) hands what it finds to ``found``. Nothing else moves
a target between states::

    TRACKING --(confidence < absent_threshold)--> UNSURE --(confident again)--> TRACKING
    TRACKING / UNSURE --(lost_frames frames in a row under lost_threshold)--> SEARCHING
    SEARCHING --(local search at recover_threshold, a confirmed scan or detector candidate)-->
        REACQUIRED --(next frame)--> TRACKING (or UNSURE, or SEARCHING again)
    TRACKING / UNSURE --(the box is another instance: ``refuse``)--> UNSURE, still followed;
        SEARCHING after lost_frames such frames in a row
    REACQUIRED --(the box found is another instance: ``refuse``)--> SEARCHING

While TRACKING or UNSURE the tracker follows its best match (the box moves); while SEARCHING it
holds the box and searches. Only TRACKING and REACQUIRED report the target (``present``).
With an appearance check (``appearance.py``) the tracker asks ``returning`` after each
``step``: a target that comes back (REACQUIRED, or followed again after unseen frames) is
checked before it is reported, and so is a followed target now and then; ``refuse`` undoes
the step when the box is another instance, ``confirm`` says it was this one.
Pure: no arrays, no network.
"""

from track_core.types import TrackState


class Presence:
    """One target's presence state machine over its frames' confidences.

    ``rules`` is anything with ``lost_threshold``, ``lost_frames``, ``recover_threshold`` and
    ``absent_threshold`` (a ``TrackerConfig``). ``below``: frames in a row under
    ``lost_threshold``; ``unseen``: frames since the target was last reported present;
    ``refused``: frames in a row whose box was refused as another instance.
    """

    __slots__ = ('state', 'below', 'unseen', 'refused', '_before')

    def __init__(self):
        self.state = TrackState.TRACKING
        self.below = 0
        self.unseen = 0
        self.refused = 0
        self._before = (TrackState.TRACKING, 0, 0)  # state, unseen, refused before a step

    @property
    def searching(self) -> bool:
        """True while the target is lost and looked for (the box is held, not followed)."""
        return self.state == TrackState.SEARCHING

    def step(self, confidence: float, rules) -> bool:
        """Take one frame's local-search confidence; return True when its box is followed."""
        self._before = (self.state, self.unseen, self.refused)
        self.refused = 0                # counted again by ``refuse`` if this frame is refused
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

    @property
    def returning(self) -> bool:
        """True when the last step reported a target that was not reported the frame before."""
        return self.state.present and self._before[1] > 0

    def confirm(self) -> None:
        """Record that this frame's box was checked and is the target."""
        self.refused = 0

    def refuse(self, rules) -> bool:
        """Take this frame's box as another instance (not reported); return if it is followed.

        A find made while SEARCHING is undone (the search goes on). A followed target goes
        UNSURE and is still followed, since a target can look unlike its views for a while
        (a turn, a shadow); after ``lost_frames`` such frames in a row it is SEARCHING.
        """
        was, unseen, refused = self._before
        self.refused = refused + 1
        self.unseen = unseen + 1
        if was == TrackState.SEARCHING or self.refused >= rules.lost_frames:
            self.state = TrackState.SEARCHING
            return False
        self.state = TrackState.UNSURE
        return True

    def found(self) -> None:
        """Take the target as found where the search (or a correction from outside) put it."""
        self.state = TrackState.REACQUIRED if self.state == TrackState.SEARCHING \
            else TrackState.TRACKING
        self.below = 0
        self.unseen = 0
        self.refused = 0                # a find is this instance (checked, or told)
