"""Which instance is it? A memory of the target's appearance and of the look-alikes refused.

The network answers "is something like the template here?", and another object of the same
kind (another person, another car) often scores as high as the target did. This memory keeps
several views of the target, the first template and views from confident frames since, and
the look-alikes refused so far (KeepTrack's lesson: keep track of the distractors, so that a
switch to one is recognised). A view is a unit vector: the tracker's own template features,
pooled over the target (``Tracker._embed``).

A candidate is this instance when its best cosine to a target view reaches the
``appearance_threshold`` (lower for a target under ``SMALL_SIDE`` pixels, whose few pixels
say less: ``threshold_for``) and beats its best cosine to a refused look-alike by
``LOOK_ALIKE_MARGIN``; and, for a target of ``COLOUR_SIDE`` pixels or more, when the
colours of the box match a view's (``colour_threshold``; ``preprocess.colour_histogram``).
The network's features tell kinds apart better than instances: two people of a build can be
as close as the target turned round. Their colours can tell them apart, but only where there
are enough pixels to count: a small target's box is mostly background, and its colours
change with what it crosses. Only a candidate clearly unlike the target (``LOOK_ALIKE_GAP``
under the threshold) is kept as a look-alike: a view of the target refused near the
threshold must not make the target itself look like a look-alike later. The tracker asks
(``presence.py`` says when) whenever a target comes back: a local re-find after SEARCHING, a
confirmed frame-scan or detector candidate, a target followed again after UNSURE frames; and
every ``appearance_interval`` frames while it is followed, where a confident match is also
kept as a view (the views follow the target's slow changes of look).
Pure: vectors in, decisions out; no network, no image.
"""

from typing import List, Optional, Tuple

import numpy as np

# Views of the target kept: the first template and the most recent confident ones.
TARGET_VIEWS = 8
# Look-alikes kept (the most recent refused).
LOOK_ALIKES = 8
# A followed frame that matches at this confidence or above gives a view.
CONFIDENT = 0.7
# A candidate must be this much closer to the target than to any look-alike refused.
LOOK_ALIKE_MARGIN = 0.02
# A refused candidate is kept as a look-alike only this far under the threshold.
LOOK_ALIKE_GAP = 0.1
# A small target's views say less (a few pixels blown up to the template crop): under
# SMALL_SIDE px (sqrt(w h)) the threshold falls linearly, by SMALL_RELIEF at half that size.
SMALL_SIDE = 32.0
SMALL_RELIEF = 0.1
# Colours are compared for a target this size or more (sqrt(w h), pixels).
COLOUR_SIDE = 48.0


def threshold_for(side: float, threshold: float) -> float:
    """Return the ``appearance_threshold`` for a target of ``side`` pixels (sqrt(w h))."""
    short = min(max((SMALL_SIDE - side) / (SMALL_SIDE / 2), 0.0), 1.0)
    return threshold - SMALL_RELIEF * short


def colour_threshold_for(side: float, threshold: float) -> float:
    """Return the ``colour_threshold`` for a target of ``side`` pixels (0 under COLOUR_SIDE)."""
    return threshold if side >= COLOUR_SIDE else 0.0


def unit(vector) -> np.ndarray:
    """Return ``vector`` as a float32 unit vector (zero stays zero)."""
    v = np.asarray(vector, np.float32).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class Appearance:
    """One target's views and the look-alikes refused for it.

    ``views``: feature vectors of the target; ``colours``: the colour of the box of each view
    (None where it was not given); ``refused``: candidates refused since the target was
    added; ``since_check``: frames followed since the last periodic check.
    """

    __slots__ = ('views', 'colours', 'look_alikes', 'refused', 'since_check')

    def __init__(self, first, colour=None):
        self.views: List[np.ndarray] = [unit(first)]
        self.colours: List[Optional[np.ndarray]] = [_colour(colour)]
        self.look_alikes: List[np.ndarray] = []
        self.refused = 0
        self.since_check = 0

    def similarity(self, view) -> Tuple[float, float]:
        """Return (best cosine to a target view, best cosine to a look-alike, -1 if none)."""
        v = unit(view)
        target = max(float(v @ w) for w in self.views)
        other = max((float(v @ w) for w in self.look_alikes), default=-1.0)
        return target, other

    def colour_similarity(self, colour) -> float:
        """Return the best match of ``colour`` to a view's colour (1.0 when none is kept)."""
        c = unit(colour)
        return max((float(c @ k) for k in self.colours if k is not None), default=1.0)

    def matches(self, view, threshold: float, colour=None, colour_threshold: float = 0.0
                ) -> bool:
        """Say whether ``view`` (and its box's ``colour``) is this instance (the module's rule)."""
        target, other = self.similarity(view)
        if target < threshold or target < other + LOOK_ALIKE_MARGIN:
            return False
        return (colour is None or colour_threshold <= 0 or
                self.colour_similarity(colour) >= colour_threshold)

    def remember(self, view, colour=None) -> None:
        """Keep ``view`` as a target view (the first is kept for good, the rest roll)."""
        self.views.append(unit(view))
        self.colours.append(_colour(colour))
        if len(self.views) > TARGET_VIEWS:
            del self.views[1]
            del self.colours[1]

    def refuse(self, view, threshold: float) -> None:
        """Count ``view`` refused; keep it as a look-alike if it is clearly unlike the target."""
        self.refused += 1
        if self.similarity(view)[0] < threshold - LOOK_ALIKE_GAP:
            self.look_alikes.append(unit(view))
            if len(self.look_alikes) > LOOK_ALIKES:
                del self.look_alikes[0]

    def due(self, interval: int) -> bool:
        """Count one followed frame; True every ``interval`` frames (never for 0)."""
        if interval <= 0:
            return False
        self.since_check += 1
        if self.since_check < interval:
            return False
        self.since_check = 0
        return True


def _colour(colour) -> Optional[np.ndarray]:
    """Return a colour as kept: a unit vector, or None."""
    return None if colour is None else unit(colour)
