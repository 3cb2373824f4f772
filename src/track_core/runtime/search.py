"""Looking for a lost target: the local search widens, the frame scan, candidate verification.

While a target is SEARCHING (``presence.py``) its local search crop grows by ``search_growth``
a frame, up to ``max_search_scale`` times the normal crop, around the box held (with
``search_near`` the tracker also runs the normal-size crop there, in the same batch: the widened
crop shows a target back near where it left too small to be found); with
``scan_tiles`` the whole frame is scanned too, a few search crops a frame: one where the target
would be had it kept its velocity, the rest round the frame, nearest the held box first; a
candidate is taken only once it is verified on ``scan_confirm`` frames in a row at
the same place; a detector's boxes are verified the same way, nearest first, at most
``max_candidates`` a frame, in chunks of ``CANDIDATE_CHUNK``.

Verifying is the network's work and lives in the tracker: every call here takes a ``probe``,
``probe(boxes, min_score, min_iou) -> (score, box) or None``, which searches the target's
template in a crop centred on each box and returns the best that passes. What this module
decides is where to look and when a find is trusted.
"""

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from track_core.runtime.preprocess import crop_side

Found = Optional[Tuple[float, Tuple[float, float, float, float]]]
Probe = Callable[[Sequence[Sequence[float]], float, float], Found]
# Candidates verified in one batch: bounds the memory of a frame with many detections.
CANDIDATE_CHUNK = 8


# A scan candidate is confirmed where the next frame finds it again overlapping its box by at
# least this IoU: 0.3 lets a 20-px target move 10 px a frame meanwhile (0.5 held it to 6).
CONFIRM_IOU = 0.3

# Weight of the previous velocity in the motion model's running estimate (per followed frame).
VELOCITY_SMOOTHING = 0.5


class SearchState:
    """One target's search: the local crop's scale and centre, the scan, its motion.

    ``velocity``: the target's centre motion per frame, estimated while it is followed
    (TRACKING); ``center``: where the local search looks while the target is lost: the held
    box moved on by the decaying motion of ``motion_decay`` (None: at the held box);
    ``ahead``: where the target would be had it kept, since its last TRACKING frame, the
    velocity it had then (None: no velocity yet), where the frame scan looks first each
    frame. A prediction is never a reported box: the target's box stays where it was last
    seen.
    """

    __slots__ = ('scale', 'scan_next', 'pending', 'pending_hits', 'velocity', 'center',
                 'seen_at', 'unseen', 'heading', 'ahead')

    def __init__(self):
        self.velocity = None
        self.reset()

    def reset(self) -> None:
        self.scan_next = 0          # the next tile of the frame scan
        self.pending = None         # a scan candidate being confirmed, and on how many frames
        self.pending_hits = 0
        self.seen_at = None         # the centre on the last TRACKING frame
        self.unseen = 0             # frames since then
        self.heading = None         # the velocity it had then
        self.followed()

    def followed(self) -> None:
        """Forget the local search's widening: the target is followed."""
        self.scale = 1.0
        self.center = None
        self.ahead = None


def observe_motion(state: SearchState, before, after) -> None:
    """Update the velocity estimate with a TRACKING frame's centre move."""
    step = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    state.velocity = step if state.velocity is None else \
        VELOCITY_SMOOTHING * state.velocity + (1.0 - VELOCITY_SMOOTHING) * step
    state.seen_at = np.asarray(after, np.float64)
    state.unseen = 0
    state.heading = np.array(state.velocity)


def unseen(state: SearchState) -> None:
    """Count a frame on which the target was not seen for sure (UNSURE, SEARCHING)."""
    state.unseen += 1


def widen(state: SearchState, config, held=None, image_size=None) -> None:
    """Grow the local search crop by one step (a frame more without the target).

    ``ahead`` (where the frame scan looks first) moves on from the centre of the last TRACKING
    frame at the velocity the target had then, inside the image. With ``motion_decay`` > 0 the
    local crop's centre also moves on from ``held`` (the held box's centre), the velocity
    decaying by that factor a frame.
    """
    state.scale = min(max(state.scale, 1.0) * config.search_growth, config.max_search_scale)
    unseen(state)
    if state.heading is not None:
        ahead = state.seen_at + state.heading * state.unseen
        if image_size is not None:
            ahead = np.clip(ahead, 0.0, np.asarray(image_size, np.float64) - 1.0)
        state.ahead = ahead
    if config.motion_decay <= 0 or state.velocity is None or held is None:
        return
    center = np.asarray(held if state.center is None else state.center, np.float64)
    state.velocity = state.velocity * config.motion_decay
    center = center + state.velocity
    if image_size is not None:
        center = np.clip(center, 0.0, np.asarray(image_size, np.float64) - 1.0)
    state.center = center


def tiles(center, size, width: int, height: int, preprocess) -> List[Tuple[float, ...]]:
    """Boxes of the target's size covering the frame, nearest ``center`` first."""
    w, h = float(size[0]), float(size[1])
    side = crop_side(w, h, preprocess.search_factor, preprocess.context)
    step = max(side * 0.5, 1.0)       # every point within a quarter crop of a centre
    xs = np.arange(step / 2, width + step / 2, step).clip(0, width - 1)
    ys = np.arange(step / 2, height + step / 2, step).clip(0, height - 1)
    centres = [(float(x), float(y)) for y in ys for x in xs]
    centres.sort(key=lambda c: (c[0] - center[0]) ** 2 + (c[1] - center[1]) ** 2)
    return [(cx - w / 2, cy - h / 2, w, h) for cx, cy in centres]


def _ahead_tile(state: SearchState, center, size, preprocess):
    """Return a box of the target's size at ``state.ahead`` (None: there is no prediction).

    None as well where the local search (around ``center``) already covers the place.
    """
    if state.ahead is None:
        return None
    w, h = float(size[0]), float(size[1])
    reach = crop_side(w, h, preprocess.search_factor, preprocess.context) * 0.25
    if np.hypot(*(np.asarray(state.ahead) - np.asarray(center, np.float64))) <= reach:
        return None
    return (float(state.ahead[0]) - w / 2, float(state.ahead[1]) - h / 2, w, h)


def scan(state: SearchState, center, size, image_size, preprocess, config, probe: Probe
         ) -> Found:
    """One frame of the frame scan; return (score, box) once a candidate is confirmed."""
    if state.pending is not None:
        found = probe([state.pending], config.scan_threshold, CONFIRM_IOU)
        if found is None:
            state.pending, state.pending_hits = None, 0
            return None
        state.pending, state.pending_hits = found[1], state.pending_hits + 1
    else:
        boxes = tiles(center, size, image_size[0], image_size[1], preprocess)
        first = _ahead_tile(state, center, size, preprocess) if config.scan_tiles > 1 else None
        count = min(config.scan_tiles - (first is not None), len(boxes))
        picked = [boxes[(state.scan_next + k) % len(boxes)] for k in range(count)]
        state.scan_next = (state.scan_next + len(picked)) % len(boxes)
        picked = ([first] if first is not None else []) + picked
        found = probe(picked, config.scan_threshold, 0.0)
        if found is None:
            return None
        state.pending, state.pending_hits = found[1], 1
    if state.pending_hits < config.scan_confirm:
        return None
    state.reset()
    return found


def usable(box) -> bool:
    """Say whether ``box`` is four finite numbers with a positive size (else it is none)."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        return False
    return len(values) == 4 and all(np.isfinite(values)) and values[2] > 0 and values[3] > 0


def verify_candidates(candidates, center, probe: Probe, min_score: float, min_iou: float,
                      max_candidates: int, stop: Callable[[], bool] = lambda: False
                      ) -> Tuple[Found, int, int]:
    """Verify boxes from outside (a detector's), nearest ``center`` first; return the find.

    At most ``max_candidates`` are verified, in chunks of ``CANDIDATE_CHUNK``, stopping at the
    first chunk with one that passes (the best of that chunk), or once ``stop()`` says so
    (the caller is shutting down). Returns (found or None,
    candidates verified, candidates dropped: unusable or over the cap).
    """
    boxes = [tuple(float(v) for v in b) for b in candidates if usable(b)]
    unusable = len(candidates) - len(boxes)
    boxes.sort(key=lambda b: (b[0] + b[2] / 2 - center[0]) ** 2
               + (b[1] + b[3] / 2 - center[1]) ** 2)
    kept = boxes[:max_candidates]
    dropped = unusable + len(boxes) - len(kept)
    verified = 0
    for start in range(0, len(kept), CANDIDATE_CHUNK):
        if stop():
            break
        chunk = kept[start:start + CANDIDATE_CHUNK]
        verified += len(chunk)
        found = probe(chunk, min_score, min_iou)
        if found is not None:
            return found, verified, dropped
    return None, verified, dropped
