"""The stateful tracker: initialize on a box, track frame by frame, lose and re-acquire.

One model serves any number of targets; all targets of a frame run in one batched forward
pass. Images are HxWx3 uint8 RGB; boxes are (x, y, w, h) in pixels.
"""

from dataclasses import dataclass, fields, replace
import itertools
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from track_core.boxes import check_box, clip_box, cxcywh_to_xywh, iou_xywh, xywh_to_cxcywh
from track_core.errors import TooManyTargets
from track_core.net.config import ModelConfig, PreprocessConfig
from track_core.runtime.decode import decode_output
from track_core.runtime.preprocess import (check_image, crop_side, crop_square, crop_to_image,
                                           hann2d, Normalizer)
from track_core.types import TrackResult, TrackState


@dataclass(frozen=True)
class TrackerConfig:
    """Run-time behaviour (everything that is not a property of the trained network).

    The confidence these settings compare is the model's score head where it has one
    (``ModelConfig.score_head``), else the box head's peak score; it is the score reported.
    lost_threshold: a confidence under this counts as a low-confidence frame.
    lost_frames: low-confidence frames in a row before the target is LOST.
    recover_threshold: while LOST, a confidence at or above this re-acquires the target.
    search_growth / max_search_scale: while LOST the search crop grows by this factor per frame
    up to this multiple of the normal crop, around the position held (the box of the frame
    that declared LOST, or with ``lost_rollback`` of the last confident frame).
    lost_follow: while LOST, centre the next search crop on this frame's best match instead
    of holding the position (the size is held either way): a target that is
    still there at low confidence keeps being followed; one that has gone is looked for
    wherever the best match wanders.
    lost_rollback: when the target becomes LOST, hold (and search around) its box of the last
    frame at or above ``lost_threshold`` instead of the box of the LOST frame: the
    low frames before it have followed whatever matched best once the target had gone,
    often something else.
    hann_window: weight the score map by a Hann window (a motion prior) while TRACKING.
    window_blend: 0 multiplies the score map by the window; b > 0 ranks cells by
    (1 - b) x score + b x window instead (SiamRPN's window influence, NanoTrack v3's 0.455).
    update_interval / update_threshold: replace the template every ``update_interval`` frames
    when the score is at least ``update_threshold`` (0 = never; the first frame's template).
    scan_tiles / scan_confirm: while LOST, also search the whole frame, ``scan_tiles`` search
    crops a frame (tiles of the normal search crop's side, nearest the last position first,
    round the frame in turn; 0 = off), taking a candidate only once its confidence is at least
    ``scan_threshold`` on ``scan_confirm`` frames in a row at the same place (far from where
    the target was lost, a look-alike is likelier than near it: this may be stricter than
    ``recover_threshold``).
    absent_threshold: report a TRACKING target as LOST on a frame whose confidence is under
    this, while the tracker goes on following it as before (0 = off): what the target reports
    falls at once, the box and the LOST rule's behaviour do not change, so the boxes are
    exactly those without it. The LOST rule waits ``lost_frames`` before it stops following
    (an unsure target may still be there); this says on the first frame that it is not seen.
    size_penalty: rank score-map cells down by how far their box's scale and aspect differ from
    the current size (SiamRPN's penalty, exp(-k (change - 1)); 0 = off; score-map heads only:
    center and ban).
    size_smoothing: 0..1, weight of the previous size in the new box (0 = none).
    size_by_confidence: scale the new size's weight (1 - size_smoothing) by the peak's score (the
    box head's, which ranked the cells) and size penalty, so unsure frames barely change the
    size (SiamRPN's update rate).
    These are the library defaults; a model brings its own values in its checkpoint (the
    settings chosen for it on dev, ``track_core.runtime.model_runtime``). How many targets may
    be tracked at once is not among them: it is a deployment limit (``Tracker.max_targets``).
    """

    lost_threshold: float = 0.3
    lost_frames: int = 5
    recover_threshold: float = 0.5
    search_growth: float = 1.2
    max_search_scale: float = 2.0
    lost_follow: bool = False
    lost_rollback: bool = False
    hann_window: bool = True
    window_blend: float = 0.0
    update_interval: int = 0
    update_threshold: float = 0.8
    size_penalty: float = 1.0
    size_smoothing: float = 0.5
    size_by_confidence: bool = True
    scan_tiles: int = 0
    scan_confirm: int = 2
    scan_threshold: float = 0.5
    absent_threshold: float = 0.0

    def __post_init__(self):
        problems = [check_setting(f.name, getattr(self, f.name), f.type) for f in fields(self)]
        problems = [p for p in problems if p]
        if problems:
            raise ValueError('; '.join(problems))


# Finite bounds of every numeric setting (the node declares them as parameter ranges).
TRACKER_LIMITS: Dict[str, Tuple[float, float]] = {
    'lost_threshold': (0.0, 1.0),
    'lost_frames': (1, 10_000),
    'recover_threshold': (0.0, 1.0),
    'search_growth': (1.0, 4.0),
    'max_search_scale': (1.0, 8.0),
    'window_blend': (0.0, 1.0),
    'update_interval': (0, 100_000),
    'update_threshold': (0.0, 1.0),
    'size_penalty': (0.0, 10.0),
    'size_smoothing': (0.0, 0.99),
    'scan_tiles': (0, 64),
    'scan_confirm': (1, 10),
    'scan_threshold': (0.0, 1.0),
    'absent_threshold': (0.0, 1.0),
}
MAX_TARGETS_LIMITS = (1, 64)
# A target smaller than this (pixels, either side) gives a template of a few pixels blown up
# to the template crop: nothing to track. Ids are copied into every message at frame rate.
MIN_TARGET_SIDE = 4.0
MAX_ID_LENGTH = 64
ID_CHARACTERS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:')


def check_target_id(target_id: str) -> str:
    """Return ``target_id`` if it is a valid id, else raise ValueError saying why.

    At most MAX_ID_LENGTH characters from letters, digits and ``_ - . :``.
    """
    if not isinstance(target_id, str) or not target_id:
        raise ValueError(f'a target id must be a non-empty string, got {target_id!r}')
    if len(target_id) > MAX_ID_LENGTH:
        raise ValueError(f'target id of {len(target_id)} characters is longer than '
                         f'{MAX_ID_LENGTH}')
    bad = sorted(set(target_id) - ID_CHARACTERS)
    if bad:
        raise ValueError(f'target id {target_id[:20]!r} has characters other than letters, '
                         f'digits and _ - . : ({"".join(bad)[:10]!r})')
    return target_id


def check_setting(name: str, value, kind) -> Optional[str]:
    """Return why ``value`` is not a valid ``TrackerConfig.<name>`` of type ``kind``, or None.

    Integers are accepted for floats; booleans are not numbers here; every number must be
    finite and inside ``TRACKER_LIMITS``.
    """
    kind = {'float': float, 'int': int, 'bool': bool}.get(kind, kind)
    if kind is bool:
        return None if isinstance(value, bool) else f'{name} must be true or false, got {value!r}'
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (kind is int and not isinstance(value, int)):
        return f'{name} must be {"an integer" if kind is int else "a number"}, got {value!r}'
    low, high = TRACKER_LIMITS[name]
    if not (math.isfinite(value) and low <= value <= high):
        return f'{name} must be in [{low}, {high}], got {value!r}'
    return None


class _Target:
    __slots__ = ('center', 'size', 'z_tokens', 'state', 'below', 'scale', 'score',
                 'since_update', 'scan_next', 'pending', 'pending_hits', 'confident')

    def __init__(self, center, size, z_tokens):
        self.center = center
        self.size = size
        self.z_tokens = z_tokens
        self.state = TrackState.TRACKING
        self.below = 0
        self.scale = 1.0
        self.score = 1.0
        self.since_update = 0
        self.scan_next = 0          # the next tile of the frame scan while LOST
        self.pending = None         # a scan candidate being confirmed, and on how many frames
        self.pending_hits = 0
        self.confident = (center, size)     # the box of the last confident frame

    def result(self) -> TrackResult:
        box = cxcywh_to_xywh([self.center[0], self.center[1], self.size[0], self.size[1]])
        return TrackResult(tuple(float(v) for v in box), float(self.score), self.state,
                           self.below)


class Tracker:
    """Single- and multi-target tracking over one backend.

    Single target: ``initialize(image, box)`` then ``track(image) -> TrackResult``.
    Several: ``add_target(image, box, target_id=None) -> id``, ``track_all(image) -> {id:
    TrackResult}``, ``remove_target(id)``. ``reset()`` forgets every target. ``max_targets``
    bounds how many are tracked at once.
    """

    def __init__(self, backend, model_cfg: ModelConfig, preprocess: PreprocessConfig,
                 config: TrackerConfig = TrackerConfig(), max_targets: int = 8):
        self.backend = backend
        self.max_targets = max_targets      # checked by the property
        self.model_cfg = model_cfg
        self.preprocess = preprocess
        self.config = config
        self.normalize = Normalizer.for_preprocess(preprocess)
        self.window = hann2d(model_cfg.score_feat) if model_cfg.head_kind.score_map else None
        self._targets: Dict[str, _Target] = {}
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- targets
    @property
    def max_targets(self) -> int:
        return self._max_targets

    @max_targets.setter
    def max_targets(self, value: int) -> None:
        low, high = MAX_TARGETS_LIMITS
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f'max_targets must be an integer in [{low}, {high}], got {value!r}')
        self._max_targets = value

    @property
    def target_ids(self) -> List[str]:
        return list(self._targets)

    def reset(self) -> None:
        self._targets.clear()

    def set_config(self, config: TrackerConfig) -> None:
        """Change thresholds at run time (targets keep their state)."""
        self.config = config

    def _template_tokens(self, image, center, size) -> np.ndarray:
        side = crop_side(size[0], size[1], self.preprocess.template_factor,
                         self.preprocess.context)
        crop = crop_square(image, center[0], center[1], side, self.model_cfg.template_size)
        return self.backend.embed_template(self.normalize([crop]))

    def add_target(self, image: np.ndarray, box, target_id: Optional[str] = None) -> str:
        """Start (or restart, for an existing id) tracking ``box`` on ``image``; return its id."""
        return self.commit_target(self.prepare_target(image, box), target_id)

    def prepare_target(self, image: np.ndarray, box) -> '_Target':
        """Validate ``box`` on ``image`` and embed its template, changing no tracker state.

        The slow half of ``add_target``; it may run in another thread while ``track_all``
        runs (the backends' template pass is safe to call concurrently). ``commit_target``
        then adds the result.
        """
        height, width = check_image(image)
        box = clip_box(check_box(box, width, height), width, height)
        if min(box[2], box[3]) < MIN_TARGET_SIDE:
            raise ValueError(f'box of {box[2]:g}x{box[3]:g} pixels (in the image) is too small '
                             f'to track: at least {MIN_TARGET_SIDE:g} pixels a side')
        cx, cy, w, h = xywh_to_cxcywh(box)
        target = _Target(np.array([cx, cy]), np.array([w, h]), None)
        target.z_tokens = self._template_tokens(image, target.center, target.size)
        return target

    def commit_target(self, target: '_Target', target_id: Optional[str] = None) -> str:
        """Add a target made by ``prepare_target`` (quick); return its id.

        Raises TooManyTargets when ``max_targets`` are tracked and ``target_id`` is new, and
        ValueError for an id that ``check_target_id`` refuses.
        """
        if target_id is None or target_id == '':
            target_id = str(next(self._ids))
            while target_id in self._targets:
                target_id = str(next(self._ids))
        target_id = check_target_id(str(target_id))
        if target_id not in self._targets and len(self._targets) >= self.max_targets:
            raise TooManyTargets(f'already tracking {len(self._targets)} targets '
                                 f'(max_targets = {self.max_targets}); remove one first')
        self._targets[target_id] = target
        return target_id

    def remove_target(self, target_id: str) -> None:
        if target_id not in self._targets:
            raise KeyError(f'no target with id {target_id!r} (tracking: '
                           f'{", ".join(self._targets) or "none"})')
        del self._targets[target_id]

    def relocate(self, box, target_id: str = '0', image_size=None) -> None:
        """Move a target to ``box`` (x, y, w, h) and mark it TRACKING, keeping its template.

        For a correction from elsewhere (another sensor, an operator) that should not replace
        the appearance the tracker holds; ``image_size`` (w, h) clips the box when given.
        """
        if target_id not in self._targets:
            raise KeyError(f'no target with id {target_id!r} (tracking: '
                           f'{", ".join(self._targets) or "none"})')
        width, height = image_size if image_size is not None else (float('inf'),) * 2
        box = check_box(box, width, height)
        if image_size is not None:
            box = clip_box(box, width, height)
        t = self._targets[target_id]
        cx, cy, w, h = xywh_to_cxcywh(box)
        t.center, t.size = np.array([cx, cy]), np.array([w, h])
        t.state, t.below, t.scale = TrackState.TRACKING, 0, 1.0
        t.confident = (t.center, t.size)

    def reacquire(self, target_id: str, image: np.ndarray, candidates,
                  min_score: Optional[float] = None, min_iou: float = 0.5
                  ) -> Optional[TrackResult]:
        """Verify candidate boxes (from a detector) for a target; move it to the best one.

        Each candidate is searched with the target's own template, in a search crop centred
        on it and sized from it, all in one batch. A candidate is accepted only when the
        network finds the target there: its score reaches ``min_score`` (default the
        ``recover_threshold``) and its box overlaps the candidate at IoU >= ``min_iou``;
        the best accepted one becomes the target's box (TRACKING, template kept) and its
        result is returned. None when no candidate passes: nothing changes, never a blind
        jump to a detection.
        """
        if target_id not in self._targets:
            raise KeyError(f'no target with id {target_id!r}')
        height, width = check_image(image)
        min_score = self.config.recover_threshold if min_score is None else min_score
        t = self._targets[target_id]
        best = self._verify(t, image, candidates, min_score, min_iou)
        if best is None:
            return None
        score, found = best
        self.relocate(found, target_id, (width, height))
        t.score = float(score)
        t.pending, t.pending_hits = None, 0
        return self._reported(t)

    def initialize(self, image: np.ndarray, box) -> None:
        """Forget all targets and start tracking ``box`` (the single-target API)."""
        check_image(image)
        self.reset()
        self.add_target(image, box, '0')

    def track(self, image: np.ndarray) -> TrackResult:
        """Track the single target set by ``initialize``."""
        if len(self._targets) != 1:
            raise RuntimeError('track() needs exactly one target: call initialize(image, box) '
                               f'first (targets now: {len(self._targets)}); use track_all() '
                               'for several')
        return next(iter(self.track_all(image).values()))

    # ----------------------------------------------------------------- per frame
    def track_all(self, image: np.ndarray) -> Dict[str, TrackResult]:
        """One batched forward pass for all targets on ``image``."""
        height, width = check_image(image)
        if not self._targets:
            return {}
        cfg = self.config
        ids = list(self._targets)
        targets = [self._targets[i] for i in ids]
        sides, crops = [], []
        for t in targets:
            side = crop_side(t.size[0], t.size[1], self.preprocess.search_factor * t.scale,
                             self.preprocess.context)
            sides.append(side)
            crops.append(crop_square(image, t.center[0], t.center[1], side,
                                     self.model_cfg.search_size))
        z = np.concatenate([t.z_tokens for t in targets])
        out = self.backend.run(z, self.normalize(crops))
        results = {}
        for i, (tid, t, side) in enumerate(zip(ids, targets, sides)):
            window = self.window if (cfg.hann_window and t.state == TrackState.TRACKING) \
                else None
            prior = t.size / side
            box_norm, score, penalty = decode_output(out, i, window, prior,
                                                     cfg.size_penalty, cfg.window_blend)
            cx, cy, w, h = crop_to_image(box_norm, t.center[0], t.center[1], side)
            self._update(t, image, (width, height), np.array([cx, cy]), np.array([w, h]),
                         score, penalty, _confidence(out, i, score))
            if t.state == TrackState.LOST and cfg.scan_tiles:
                self._scan(tid, t, image, (width, height))
            results[tid] = self._reported(t)
        return results

    def _reported(self, t: _Target) -> TrackResult:
        """``t``'s result; LOST on a frame under ``absent_threshold`` though still followed."""
        result = t.result()
        if result.state == TrackState.TRACKING and t.score < self.config.absent_threshold:
            return replace(result, state=TrackState.LOST)
        return result

    def _scan(self, tid: str, t: _Target, image, image_size) -> None:
        """One step of the frame scan of a LOST target (confirm a candidate, or look on)."""
        cfg = self.config
        if t.pending is not None:
            found = self._verify(t, image, [t.pending], cfg.scan_threshold, 0.5)
            if found is None:
                t.pending, t.pending_hits = None, 0
                return
            t.pending, t.pending_hits = found[1], t.pending_hits + 1
        else:
            width, height = image_size
            tiles = self._tiles(t, width, height)
            picked = [tiles[(t.scan_next + k) % len(tiles)]
                      for k in range(min(cfg.scan_tiles, len(tiles)))]
            t.scan_next = (t.scan_next + len(picked)) % len(tiles)
            found = self._verify(t, image, picked, cfg.scan_threshold, 0.0)
            if found is None:
                return
            t.pending, t.pending_hits = found[1], 1
        if t.pending_hits >= cfg.scan_confirm:
            box, score = t.pending, found[0]
            t.pending, t.pending_hits, t.scan_next = None, 0, 0
            self.relocate(box, tid, image_size)
            t.score = float(score)

    def _tiles(self, t: _Target, width: int, height: int):
        """Candidate boxes of the target's size covering the frame, nearest the last first."""
        w, h = float(t.size[0]), float(t.size[1])
        side = crop_side(w, h, self.preprocess.search_factor, self.preprocess.context)
        step = max(side * 0.5, 1.0)       # every point within a quarter crop of a centre
        xs = np.arange(step / 2, width + step / 2, step).clip(0, width - 1)
        ys = np.arange(step / 2, height + step / 2, step).clip(0, height - 1)
        centres = [(float(x), float(y)) for y in ys for x in xs]
        centres.sort(key=lambda c: (c[0] - t.center[0]) ** 2 + (c[1] - t.center[1]) ** 2)
        return [(cx - w / 2, cy - h / 2, w, h) for cx, cy in centres]

    def _verify(self, t: _Target, image, candidates, min_score: float, min_iou: float):
        """Search ``t``'s template around each candidate; the best (score, box) that passes.

        A search crop is centred on each candidate and sized from it, all in one batch; a
        candidate passes when the score reaches ``min_score`` and the found box overlaps the
        candidate at IoU >= ``min_iou``. None when none does.
        """
        height, width = check_image(image)
        boxes = []
        for box in candidates:
            try:
                boxes.append(clip_box(check_box(box, width, height), width, height))
            except ValueError:
                continue                # a candidate outside the image is none
        if not boxes:
            return None
        sides, crops, centres = [], [], []
        for b in boxes:
            cx, cy, w, h = xywh_to_cxcywh(b)
            side = crop_side(w, h, self.preprocess.search_factor, self.preprocess.context)
            sides.append(side)
            centres.append((cx, cy, w, h))
            crops.append(crop_square(image, cx, cy, side, self.model_cfg.search_size))
        z = np.concatenate([t.z_tokens] * len(boxes))
        out = self.backend.run(z, self.normalize(crops))
        best = None
        for i, (b, side, (cx, cy, w, h)) in enumerate(zip(boxes, sides, centres)):
            box_norm, score, _ = decode_output(out, i, self.window, np.array([w, h]) / side,
                                               self.config.size_penalty,
                                               self.config.window_blend)
            score = _confidence(out, i, score)
            pcx, pcy, pw, ph = crop_to_image(box_norm, cx, cy, side)
            found = clip_box(cxcywh_to_xywh([pcx, pcy, pw, ph]), width, height)
            overlap = float(iou_xywh(np.asarray(found), np.asarray(b))[0])
            if score >= min_score and overlap >= min_iou and (best is None or score > best[0]):
                best = (float(score), tuple(float(v) for v in found))
        return best

    def _update(self, t: _Target, image, image_size, center, size, score,
                penalty: float = 1.0, confidence: Optional[float] = None) -> None:
        """Move ``t`` to the decoded box, or not: the state follows ``confidence``.

        ``score`` (the box head's peak) weighs the size update; ``confidence`` (the score
        head's, or ``score``) decides low-confidence frames, LOST, re-acquisition and
        template updates, and is what the target reports.
        """
        cfg = self.config
        width, height = image_size
        confidence = score if confidence is None else confidence
        t.score = confidence
        t.below = t.below + 1 if confidence < cfg.lost_threshold else 0
        if t.state == TrackState.LOST:
            if confidence < cfg.recover_threshold:
                t.scale = min(t.scale * cfg.search_growth, cfg.max_search_scale)
                if cfg.lost_follow:
                    cx = min(max(float(center[0]), 0.0), width - 1.0)
                    cy = min(max(float(center[1]), 0.0), height - 1.0)
                    t.center = np.array([cx, cy])
                return
            t.state, t.scale, t.below = TrackState.TRACKING, 1.0, 0
        elif t.below >= cfg.lost_frames:
            t.state = TrackState.LOST
            t.scale = min(cfg.search_growth, cfg.max_search_scale)
            if cfg.lost_rollback:
                t.center, t.size = t.confident
            return
        rate = 1.0 - cfg.size_smoothing
        if cfg.size_by_confidence:
            rate *= min(max(score, 0.0), 1.0) * penalty
        if rate < 1.0:
            size = rate * size + (1.0 - rate) * t.size
        box = clip_box(cxcywh_to_xywh([center[0], center[1], size[0], size[1]]), width, height)
        t.center = np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0])
        t.size = np.array([box[2], box[3]])
        if confidence >= cfg.lost_threshold:
            t.confident = (t.center, t.size)
        t.since_update += 1
        if (cfg.update_interval and t.since_update >= cfg.update_interval
                and confidence >= cfg.update_threshold):
            t.z_tokens = self._template_tokens(image, t.center, t.size)
            t.since_update = 0


def _confidence(out: Dict[str, np.ndarray], i: int, score: float) -> float:
    """Sample ``i``'s confidence: the score head's where the model has one, else ``score``."""
    return float(out['confidence'][i]) if 'confidence' in out else score
