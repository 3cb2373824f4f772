"""Objects like the target beside it, kept while it is followed (KeepTrack's lesson).

The score map shows every object that looks like the template: beside a followed target, a
second person or a second surfer makes a second peak. When the target's own peak fades for a
frame (turned, splashed, a few pixels), the best match is that other object, and following
it is a switch the confidence does not show: the other object scores as the target did.
So while the target is followed, the other peaks of each frame are kept as rivals (their
centres in the image); on the next frame a best match that jumps from where the target was
expected to where a rival was is not followed: the target's own peak is taken if the map
still has one, else the frame counts as the target not seen (``Presence.refuse``).

A peak is a rival when it is a local maximum of the map at the ``rivals`` share of the best
one's score or more (the tracker keeps only those), and its centre is ``RIVAL_APART`` target
sizes or more from the best one's (``apart``: the larger of the two axes' offsets, each in
the target's side along it; a rival touching the target is 1.0 apart). A best match is a
jump onto a rival when it is ``JUMP`` sizes or more from where the target was expected and
nearer a rival than that. Where the target is expected, and where the rivals are, is for the
tracker to say (it moves them on by the target's velocity; the other targets it tracks are
rivals too, where they are expected).
Pure: positions in, decisions out; no network, no image.
"""

from typing import List, Sequence, Tuple

import numpy as np

# A peak is a rival when its centre is this far from the best one's, in target sizes.
RIVAL_APART = 0.8
# A best match this far from where the target was expected has jumped (``apart``).
JUMP = 0.5

Point = Sequence[float]


def apart(a: Point, b: Point, size: Point) -> float:
    """Return how far centres ``a`` and ``b`` are, in target sizes: max(|dx| / w, |dy| / h)."""
    w, h = max(float(size[0]), 1e-6), max(float(size[1]), 1e-6)
    return max(abs(float(a[0]) - float(b[0])) / w, abs(float(a[1]) - float(b[1])) / h)


def rivals_of(best: Point, peaks: Sequence[Tuple[float, Point]], size: Point
              ) -> List[np.ndarray]:
    """Return the centres of the ``peaks`` (score, centre) apart enough from ``best``."""
    return [np.asarray(centre, np.float64) for _, centre in peaks
            if apart(centre, best, size) >= RIVAL_APART]


def onto_rival(found: Point, expected: Point, rivals: Sequence[Point], size: Point) -> bool:
    """Say whether a best match at ``found`` jumped from ``expected`` onto one of ``rivals``."""
    jump = apart(found, expected, size)
    return jump >= JUMP and any(apart(found, r, size) < jump for r in rivals)


def own_peak(expected: Point, rivals: Sequence[Point], peaks: Sequence[Tuple[float, Point]],
             size: Point, min_score: float) -> int:
    """Return the index of the best of ``peaks`` that is the target's, or -1 if none is.

    The target's: at ``min_score`` or more, and not a jump onto a rival (``onto_rival``).
    ``peaks`` are (score, centre), best first.
    """
    for i, (score, centre) in enumerate(peaks):
        if score >= min_score and not onto_rival(centre, expected, rivals, size):
            return i
    return -1
