"""The stateful tracker: initialize on a box, track frame by frame, lose and re-acquire.

One model serves any number of targets; all targets of a frame run in one batched forward
pass. Images are HxWx3 uint8 RGB; boxes are (x, y, w, h) in pixels.
"""

from dataclasses import dataclass, field, fields
import itertools
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from track_core.boxes import check_box, clip_box, cxcywh_to_xywh, iou_xywh, xywh_to_cxcywh
from track_core.errors import TooManyTargets
from track_core.net.config import ModelConfig, PreprocessConfig
from track_core.runtime import rivals, search
from track_core.runtime.appearance import (Appearance, colour_threshold_for, CONFIDENT,
                                           threshold_for)
from track_core.runtime.decode import cell_box, decode_output, local_peaks, size_change_penalty
from track_core.runtime.preprocess import (check_image, colour_histogram, crop_side, crop_square,
                                           crop_to_image, hann2d, Normalizer)
from track_core.runtime.presence import Presence
from track_core.runtime.search import SearchState
from track_core.types import TrackResult, TrackState


def _setting(default, text: str, limits: Optional[Tuple[float, float]] = None):
    """Make a TrackerConfig field: its default, its one description and its finite range."""
    return field(default=default, metadata={'help': text, 'limits': limits})


@dataclass(frozen=True)
class TrackerConfig:
    """Run-time behaviour (everything that is not a property of the trained network).

    Each field's description is in its metadata (``setting_help``); the node's parameter table
    and the docs read it from there. The confidence these settings compare is the model's score
    head where it has one (``ModelConfig.score_head``), else the box head's peak score; it is
    the score reported. Presence (is the target there?) is decided in ``presence.py``, the
    search for a lost target in ``search.py``.
    These are the library defaults; a model brings its own values in its checkpoint (the
    settings chosen for it on dev, ``track_core.runtime.model_runtime``). How many targets may
    be tracked at once is not among them: it is a deployment limit (``Tracker.max_targets``).
    """

    lost_threshold: float = _setting(
        0.3, 'confidence under which a frame counts as low-confidence', (0.0, 1.0))
    lost_frames: int = _setting(
        5, 'low-confidence frames in a row before the target is lost (SEARCHING)', (1, 10_000))
    recover_threshold: float = _setting(
        0.5, 'confidence at which the local search re-acquires a SEARCHING target', (0.0, 1.0))
    search_growth: float = _setting(
        1.2, 'growth of the local search region per frame while SEARCHING', (1.0, 4.0))
    max_search_scale: float = _setting(
        2.0, 'largest local search region while SEARCHING, as a multiple of the normal one',
        (1.0, 8.0))
    search_near: bool = _setting(
        False, 'while SEARCHING, also search a crop of the normal size where the widened one '
        'is, in the same batch, and take the more confident (the widened crop shows a target '
        'back near where it left too small to be found)')
    hann_window: bool = _setting(True, 'motion prior on the score map while following')
    window_blend: float = _setting(
        0.0, 'mix the motion prior in: (1 - b) x score + b x window (0: multiply the score '
        "map by it; SiamRPN's window influence)", (0.0, 1.0))
    size_penalty: float = _setting(
        1.0, "rank boxes that change scale or aspect down (SiamRPN's penalty k; 0: off; "
        'score-map heads only)', (0.0, 10.0))
    size_smoothing: float = _setting(0.5, 'weight of the previous box size', (0.0, 0.99))
    size_by_confidence: bool = _setting(
        True, "low-score frames change the box size less (SiamRPN's update rate)")
    scan_tiles: int = _setting(
        0, 'while SEARCHING, search crops of the whole frame scanned per frame: one where the '
        'target was heading, the rest nearest the held box first (0: off)', (0, 64))
    scan_confirm: int = _setting(
        2, 'frames in a row a frame-scan candidate must be verified on, at one place',
        (1, 10))
    scan_threshold: float = _setting(
        0.5, 'confidence a frame-scan candidate needs on each of those frames', (0.0, 1.0))
    absent_threshold: float = _setting(
        0.0, 'report UNSURE (not seen) at once on a frame under this confidence while the '
        'target is still followed (0: off)', (0.0, 1.0))
    motion_decay: float = _setting(
        0.0, 'while SEARCHING, move the local search (and the start of the frame scan) on '
        "by the target's last velocity, decaying by this factor a frame (0: stay at the held "
        'box); the reported box never moves', (0.0, 1.0))
    appearance_threshold: float = _setting(
        0.0, 'check a target that comes back (and, every appearance_interval frames, one '
        'followed) against the views kept of it: under this cosine (less for a small '
        'target), or nearer a look-alike refused before, it is another instance and is not '
        'reported (0: off)',
        (0.0, 1.0))
    colour_threshold: float = _setting(
        0.0, 'with appearance_threshold, a target of 48 px or more (sqrt(w h)) must also '
        "match the colours of a view's box at this Bhattacharyya coefficient where it is "
        'checked (0: off)', (0.0, 1.0))
    appearance_interval: int = _setting(
        10, 'frames between appearance checks of a followed target, which also keep a view '
        'of it from confident frames (0: check only when it comes back)', (0, 10_000))
    rivals: float = _setting(
        0.0, 'while following, keep the other peaks of the score map at this share of the '
        "best one's score or more (objects like the target beside it) and do not move the box "
        'onto one: a best match that jumps to one is another instance (score-map heads only; '
        '0: off)', (0.0, 1.0))
    rescale_on_return: bool = _setting(
        False, 'when the target is found again by its own search (the local search or the '
        "frame scan; a detector's box brings its size), search it once more at six scales "
        'round the box found (x0.35 .. x2) and take the box the confidence prefers, '
        "less the network's disagreement with each crop's scale: a target back nearer or "
        'further away is sized as it is, not as it left')
    rescale_unsure: bool = _setting(
        False, 'on the first followed frame under absent_threshold, search five scales round '
        'the box (x0.5 .. x2); where one reaches absent_threshold, its size (not its place) '
        "is the size found on the frame: a box drifting off the target's size is pulled back "
        '(needs absent_threshold)')
    max_candidates: int = _setting(
        16, "a detector's boxes verified per frame for a target not seen, nearest first "
        '(the rest are dropped and counted)', (1, 1024))

    def __post_init__(self):
        problems = [check_setting(f.name, getattr(self, f.name), f.type) for f in fields(self)]
        problems = [p for p in problems if p]
        if problems:
            raise ValueError('; '.join(problems))


def without_effect(config: TrackerConfig) -> List[str]:
    """Say which settings ``config`` turns on that the others, as they are, leave idle.

    Each is valid alone, so none is an error; a robot's operator should still hear that the
    setting they gave does nothing (the node logs these at start-up and on a change).
    """
    notes = []
    if config.rescale_unsure and config.absent_threshold <= 0:
        notes.append('rescale_unsure does nothing while absent_threshold is 0: it searches the '
                     'first followed frame under absent_threshold')
    if config.colour_threshold > 0 and config.appearance_threshold <= 0:
        notes.append('colour_threshold does nothing while appearance_threshold is 0: colours '
                     'are compared by the appearance check')
    if config.search_near and (config.search_growth <= 1 or config.max_search_scale <= 1):
        notes.append('search_near does nothing while the local search does not widen '
                     '(search_growth or max_search_scale 1): it adds a normal-size crop beside '
                     'the widened one')
    return notes


def setting_help(name: str) -> str:
    """Return the description of ``TrackerConfig.<name>``."""
    return _FIELDS[name].metadata['help']


_FIELDS = {f.name: f for f in fields(TrackerConfig)}
# Finite bounds of every numeric setting (the node declares them as parameter ranges).
TRACKER_LIMITS: Dict[str, Tuple[float, float]] = {
    name: f.metadata['limits'] for name, f in _FIELDS.items() if f.metadata['limits']}
# Settings that were measured, left off and removed (docs/evaluation.md has the figures): a
# checkpoint that stores them at these values loads; any other value is refused.
RETIRED_SETTINGS = {'lost_follow': False, 'lost_rollback': False, 'update_interval': 0,
                    'update_threshold': None}
MAX_TARGETS_LIMITS = (1, 64)
# The id of the single-target API's target (initialize / track).
SINGLE_ID = '1'
# A target smaller than this (pixels, either side) gives a template of a few pixels blown up
# to the template crop: nothing to track. Ids are copied into every message at frame rate.
MIN_TARGET_SIDE = 4.0
# rescale_on_return / rescale_unsure: the scales searched round a box, and the weight of the
# network's size disagreement with a crop's scale in choosing among them. Measured on dev
# (docs/evaluation.md): handed a box 0.5-2.8x the true size, the box chosen has a mean IoU of
# 0.78 with the truth whatever the size handed (0.81 handed the true size, 0.39 handed 2x).
RESCALES = (0.5, 2 ** -0.5, 1.0, 2 ** 0.5, 2.0)
# A target found again may be back at any distance, and the box found carries the size it
# left at: on a return the ladder goes half an octave further down (x0.35).
RESCALES_ON_RETURN = (2 ** -1.5,) + RESCALES
RESCALE_DISAGREEMENT = 0.3
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
    """One target: where it is, its template, what it is, whether it is there, its looks."""

    __slots__ = ('center', 'size', 'z_tokens', 'score', 'label', 'presence', 'search',
                 'appearance', 'rivals', 'held')

    def __init__(self, center, size, z_tokens, label: str = '', appearance=None):
        self.center = center
        self.size = size
        self.z_tokens = z_tokens
        self.score = 1.0
        self.label = label              # its class, where it came from a detection
        self.presence = Presence()
        self.search = SearchState()
        self.appearance = appearance
        self.rivals = []                # centres of objects like it beside it (``rivals``)
        self.held = 0                   # frames in a row its box was held off one

    def move(self, box) -> None:
        cx, cy, w, h = xywh_to_cxcywh(box)
        self.center, self.size = np.array([cx, cy]), np.array([w, h])

    def result(self) -> TrackResult:
        box = cxcywh_to_xywh([self.center[0], self.center[1], self.size[0], self.size[1]])
        return TrackResult(tuple(float(v) for v in box), float(self.score),
                           self.presence.state, self.presence.below, self.label)


class Tracker:
    """Single- and multi-target tracking over one backend.

    Single target: ``initialize(image, box)`` then ``track(image) -> TrackResult``.
    Several: ``add_target(image, box, target_id=None) -> id``, ``track_all(image) -> {id:
    TrackResult}``, ``remove_target(id)``. ``reset()`` forgets every target. ``max_targets``
    bounds how many are tracked at once. ``candidates_dropped`` counts the detector boxes left
    unverified (over ``max_candidates``, or unusable); ``look_alikes_refused`` the boxes the
    network found that the appearance check refused as another instance.
    """

    def __init__(self, backend, model_cfg: ModelConfig, preprocess: PreprocessConfig,
                 config: TrackerConfig = TrackerConfig(), max_targets: int = 8):
        self.backend = backend
        self.max_targets = max_targets      # checked by the property
        self.model_cfg = model_cfg
        self.preprocess = preprocess
        self.config = config
        self.model_settings = config        # the model's own (load_tracker sets them)
        self.normalize = Normalizer.for_preprocess(preprocess)
        self.window = hann2d(model_cfg.score_feat) if model_cfg.head_kind.score_map else None
        self.candidates_dropped = 0
        self.look_alikes_refused = 0
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

    def label(self, target_id: str) -> str:
        """Return the class of ``target_id`` where it came from a detection, else ''."""
        return self._target(target_id).label

    def result(self, target_id: str = SINGLE_ID) -> TrackResult:
        """Return ``target_id``'s latest estimate (its box, confidence and state)."""
        return self._target(target_id).result()

    def reset(self) -> None:
        self._targets.clear()

    def set_config(self, config: TrackerConfig) -> None:
        """Change thresholds at run time (targets keep their state)."""
        self.config = config

    def add_target(self, image: np.ndarray, box, target_id: Optional[str] = None,
                   label: str = '') -> str:
        """Start (or restart, for an existing id) tracking ``box`` on ``image``; return its id.

        ``label``: what the target is (a detector's class), kept with it and forgotten with
        it; a detector's candidates for it are then of that class only.
        """
        return self.commit_target(self.prepare_target(image, box, label), target_id)

    def prepare_target(self, image: np.ndarray, box, label: str = '') -> '_Target':
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
        target = _Target(np.array([cx, cy]), np.array([w, h]), None, str(label))
        side = crop_side(w, h, self.preprocess.template_factor, self.preprocess.context)
        crop = crop_square(image, cx, cy, side, self.model_cfg.template_size)
        target.z_tokens = self.backend.embed_template(self.normalize([crop]))
        target.appearance = Appearance(self._pool(target.z_tokens)[0],
                                       self._colours(image, box))
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
        self._target(target_id)
        del self._targets[target_id]

    def _target(self, target_id: str) -> _Target:
        if target_id not in self._targets:
            raise KeyError(f'no target with id {target_id!r} (tracking: '
                           f'{", ".join(self._targets) or "none"})')
        return self._targets[target_id]

    def relocate(self, box, target_id: str = SINGLE_ID, image_size=None) -> None:
        """Move a target to ``box`` (x, y, w, h), keeping its template: it is there.

        For a correction from elsewhere (another sensor, an operator) that should not replace
        the appearance the tracker holds; ``image_size`` (w, h) clips the box when given. A
        SEARCHING target becomes REACQUIRED, any other TRACKING.
        """
        t = self._target(target_id)
        width, height = image_size if image_size is not None else (float('inf'),) * 2
        box = check_box(box, width, height)
        if image_size is not None:
            box = clip_box(box, width, height)
        t.move(box)
        t.presence.found()
        t.search.reset()
        t.rivals, t.held = [], 0

    def reacquire(self, target_id: str, image: np.ndarray, candidates,
                  min_score: Optional[float] = None, min_iou: float = 0.5,
                  stop=lambda: False) -> Optional[TrackResult]:
        """Verify candidate boxes (from a detector) for a target; move it to the best one.

        Each candidate is searched with the target's own template, in a search crop centred
        on it and sized from it, nearest the target's box first, at most ``max_candidates``
        (in chunks; the rest are counted in ``candidates_dropped``). A candidate is accepted
        only when the network finds the target there: its score reaches ``min_score``
        (default the ``recover_threshold``) and its box overlaps the candidate at IoU >=
        ``min_iou``; the target moves to it (template kept) and its result is returned. None
        when no candidate passes: nothing changes, never a blind jump to a detection.
        ``stop()``: checked between chunks; True ends the verification (shutting down).
        """
        t = self._target(target_id)
        height, width = check_image(image)
        min_score = self.config.recover_threshold if min_score is None else min_score
        found, _, dropped = search.verify_candidates(
            list(candidates), t.center, self._probe(t, image), min_score, min_iou,
            self.config.max_candidates, stop)
        self.candidates_dropped += dropped
        if found is None:
            return None
        self.relocate(found[1], target_id, (width, height))
        t.score = found[0]
        return t.result()

    def initialize(self, image: np.ndarray, box) -> None:
        """Forget all targets and start tracking ``box`` (the single-target API)."""
        check_image(image)
        self.reset()
        self.add_target(image, box, SINGLE_ID)

    def track(self, image: np.ndarray) -> TrackResult:
        """Track the single target set by ``initialize``."""
        if len(self._targets) != 1:
            raise RuntimeError('track() needs exactly one target: call initialize(image, box) '
                               f'first (targets now: {len(self._targets)}); use track_all() '
                               'for several')
        return next(iter(self.track_all(image).values()))

    # ----------------------------------------------------------------- per frame
    def track_all(self, image: np.ndarray) -> Dict[str, TrackResult]:
        """One frame for every target: crop, run, decode, presence, search.

        All targets' search crops run in one batched forward pass. Each target's decoded box
        and confidence go to its presence state machine, which says whether the box is
        followed; a target that is lost (SEARCHING) is looked for by ``search``.
        """
        height, width = check_image(image)
        if not self._targets:
            return {}
        cfg = self.config
        ids = list(self._targets)
        targets = [self._targets[i] for i in ids]
        # crop: around the box held (or where it is predicted), widened while searching, and
        # with search_near a crop of the normal size there too (rows: target, scale)
        rows = [(k, t.search.scale) for k, t in enumerate(targets)]
        if cfg.search_near:
            rows += [(k, 1.0) for k, t in enumerate(targets)
                     if t.presence.searching and t.search.scale > 1.0]
        centres = [t.search.center if t.search.center is not None else t.center
                   for t in targets]
        sides = [crop_side(targets[k].size[0], targets[k].size[1],
                           self.preprocess.search_factor * scale, self.preprocess.context)
                 for k, scale in rows]
        crops = [crop_square(image, centres[k][0], centres[k][1], side,
                             self.model_cfg.search_size) for (k, _), side in zip(rows, sides)]
        # run
        out = self.backend.run(np.concatenate([targets[k].z_tokens for k, _ in rows]),
                               self.normalize(crops))
        # where each followed target is expected on this frame: for the others, a rival
        ahead = [None if t.presence.searching or cfg.rivals <= 0 else
                 t.center + (0.0 if t.search.velocity is None else t.search.velocity)
                 for t in targets]
        results = {}
        for k, (tid, t) in enumerate(zip(ids, targets)):
            # decode: the motion prior only while the target is followed; of a target's
            # crops, the most confident
            window = self.window if cfg.hann_window and not t.presence.searching else None
            best = None
            for i in (i for i, (owner, _) in enumerate(rows) if owner == k):
                box_norm, score, penalty = decode_output(out, i, window, t.size / sides[i],
                                                         cfg.size_penalty, cfg.window_blend)
                found = (_confidence(out, i, score), score, penalty,
                         crop_to_image(box_norm, centres[k][0], centres[k][1], sides[i]), i)
                if best is None or found[0] > best[0]:
                    best = found
            t.score, score, penalty, (cx, cy, w, h), i = best
            if cfg.rescale_unsure and not t.presence.searching and \
                    t.score < cfg.absent_threshold and t.presence.unseen == 0:
                w, h = self._rescaled_size(t, image, (cx, cy, w, h))
            # presence: is it there, and is this box followed? (is it this instance, and
            # not the object beside it?)
            follow = t.presence.step(t.score, cfg)
            if follow and t.presence.state == TrackState.REACQUIRED and \
                    self._taken(t, (cx, cy)):
                self.look_alikes_refused += 1          # a re-find on another target
                follow = t.presence.refuse(cfg)
            if cfg.rivals > 0 and 'score_map' in out:
                if follow:
                    others = [a for j, a in enumerate(ahead) if j != k and a is not None]
                    follow, (cx, cy, w, h), score, penalty = self._mind_rivals(
                        t, out, i, centres[k], sides[i], (cx, cy, w, h), score, penalty,
                        others)
                else:
                    t.rivals, t.held = [], 0
            rescaled = follow and cfg.rescale_on_return and \
                t.presence.state == TrackState.REACQUIRED
            if rescaled:
                t.score, (cx, cy, w, h) = self._rescaled(t, image, (cx, cy, w, h), t.score,
                                                         RESCALES_ON_RETURN)
            if follow and cfg.appearance_threshold > 0:
                follow = self._same_instance(t, image, (cx, cy, w, h))
            if follow:
                t.search.followed()
                before = t.center
                if rescaled:            # sized by the rescale check: taken as found
                    t.move(clip_box(cxcywh_to_xywh([cx, cy, w, h]), width, height))
                else:
                    self._follow(t, (width, height), np.array([cx, cy]), np.array([w, h]),
                                 score, penalty)
                if t.presence.state == TrackState.TRACKING:
                    search.observe_motion(t.search, before, t.center)
                else:
                    search.unseen(t.search)
            else:
                # search: widen the local crop (moving on with the target), scan the frame
                search.widen(t.search, cfg, t.center, (width, height))
                if cfg.scan_tiles:
                    start = t.search.center if t.search.center is not None else t.center
                    found = search.scan(t.search, start, t.size, (width, height),
                                        self.preprocess, cfg, self._probe(t, image))
                    if found is not None:
                        score, box = found
                        if cfg.rescale_on_return:
                            score, box = self._rescaled(t, image, xywh_to_cxcywh(box),
                                                        score, RESCALES_ON_RETURN)
                            box = cxcywh_to_xywh(box)
                        self.relocate(box, tid, (width, height))
                        t.score = score
            results[tid] = t.result()
        return results

    def _follow(self, t: _Target, image_size, center, size, score: float,
                penalty: float) -> None:
        """Move ``t`` to this frame's box; the size moves by the smoothed, gated rate.

        ``score`` (the box head's peak, which ranked the cells) and ``penalty`` weigh the size
        update with ``size_by_confidence``.
        """
        cfg = self.config
        width, height = image_size
        rate = 1.0 - cfg.size_smoothing
        if cfg.size_by_confidence:
            rate *= min(max(score, 0.0), 1.0) * penalty
        if rate < 1.0:
            size = rate * size + (1.0 - rate) * t.size
        t.move(clip_box(cxcywh_to_xywh([center[0], center[1], size[0], size[1]]), width,
                        height))

    def _rescaled(self, t: _Target, image, found, score: float, ladder=RESCALES):
        """Search ``t`` at ``ladder``'s scales round ``found`` (cx, cy, w, h); return (score, box).

        Each crop is cut for the box found times a scale; the network's box in it is scored by
        its confidence less RESCALE_DISAGREEMENT times |log(its size / the crop's)|: the
        network mostly keeps the scale of the crop it is handed, and is most confident where
        that scale is the target's. ``score``: the confidence of ``found`` as it is.
        """
        height, width = check_image(image)
        cx, cy, w, h = (float(v) for v in found)
        if not (w > 0 and h > 0):
            return score, (cx, cy, w, h)        # no size to scale (a box clipped away)
        # a larger scale only where its crop is no larger than the image: a crop mostly
        # padding shows the score head what it never saw in training, and it may like it
        scales = [s for s in ladder if s <= 1.0 or crop_side(
            w * s, h * s, self.preprocess.search_factor, self.preprocess.context) <=
            max(width, height)]
        best = (-math.inf, score, (cx, cy, w, h))
        for s, (conf, (bx, by, bw, bh)) in zip(
                scales, self._search_at(t, image, [(cx, cy, w * s, h * s) for s in scales])):
            if bw <= 0 or bh <= 0:
                continue
            rank = conf - RESCALE_DISAGREEMENT * abs(0.5 * math.log(bw * bh / (w * h * s * s)))
            if rank > best[0]:
                best = (rank, conf, (bx, by, bw, bh))
        return best[1], best[2]

    def _rescaled_size(self, t: _Target, image, found):
        """``rescale_unsure``: return this frame's size (w, h) for the unsure box ``found``.

        The size ``_rescaled`` prefers where its confidence reaches ``absent_threshold`` (the
        target is there, at another scale), else the size found. Only the size: the box stays
        where it was found, and its confidence (presence's) is the frame's own.
        """
        score, (_, _, w, h) = self._rescaled(t, image, found, t.score)
        if score >= self.config.absent_threshold:
            return w, h
        return found[2], found[3]

    def _taken(self, t: _Target, centre) -> bool:
        """Say whether a find centred at ``centre`` is another followed target's (one id each).

        It is when the centre is inside the box of a target other than ``t`` that is not
        SEARCHING (``apart`` under 0.5; the sizes may differ: a find's box and a followed box
        of one small object often do): a lost target's search must not take an object already
        tracked.
        """
        return any(other is not t and not other.presence.searching and
                   rivals.apart(centre, other.center, other.size) < 0.5
                   for other in self._targets.values())

    def _mind_rivals(self, t: _Target, out, i: int, centre, side: float, found, score: float,
                     penalty: float, others=()):
        """Keep ``t`` off the objects beside it (``rivals.py``); return what is followed.

        ``found`` (cx, cy, w, h) is crop ``i``'s best match (raw ``score``, size ``penalty``);
        ``others``: where the other targets followed are expected on this frame, rivals too
        (two people tracked at once: one hidden must not take the other's box).
        A best match that jumped onto a rival of the frame before is replaced by the target's
        own peak where the map has one; else the frame is refused as another instance
        (counted; ``Presence.refuse``) and the box held where it was. Returns (followed,
        box, score, penalty), and keeps this frame's rivals.
        """
        cfg = self.config
        score_map = out['score_map'][i, 0]
        peaks, boxes = [], []
        for row, col in local_peaks(score_map, cfg.rivals * score):
            box = crop_to_image(cell_box(out['size_map'][i], out['offset_map'][i], row, col),
                                centre[0], centre[1], side)
            peaks.append((float(score_map[row, col]), box[:2]))
            boxes.append(box)
        # where the target is expected: the box moved on at the target's velocity (for the
        # frames it was held off a rival too); the objects beside it, seen a frame ago, move
        # with it (a camera's motion, or a group's, moves them all)
        step = np.zeros(2) if t.search.velocity is None else t.search.velocity
        expected = t.center + step * (t.held + 1)
        near = [r + step for r in t.rivals] + [np.asarray(o, np.float64) for o in others]
        if rivals.onto_rival(found[:2], expected, near, t.size):
            own = rivals.own_peak(expected, near, peaks, t.size, cfg.rivals * score)
            if own >= 0:
                found, score = boxes[own], peaks[own][0]
                penalty = float(size_change_penalty(found[2:], t.size, cfg.size_penalty))
            else:
                self.look_alikes_refused += 1
                # the object taken for the target is the rival, now where it was found
                t.rivals = [np.asarray(found[:2], np.float64)] + [
                    r for r in rivals.rivals_of(found[:2], peaks, t.size)
                    if rivals.apart(r, expected, t.size) >= rivals.RIVAL_APART]
                # still followed (UNSURE) or lost; either way the box stays where it was
                t.held += 1
                held = (t.center[0], t.center[1], t.size[0], t.size[1])
                return t.presence.refuse(cfg), held, score, penalty
        t.held = 0
        t.rivals = rivals.rivals_of(found[:2], peaks, t.size)
        return True, found, score, penalty

    def _same_instance(self, t: _Target, image, found) -> bool:
        """Check this frame's box (cx, cy, w, h) against ``t``'s views when it is due.

        Due when the target comes back (``presence.returning``: a re-find, or followed again
        after unseen frames, so every frame while a refused target is followed) and every
        ``appearance_interval`` frames while it is TRACKING; the box must match (``Appearance
        .matches``). A periodic check that passes at ``CONFIDENT`` or above keeps the box as a
        view. A box refused is counted (and may be kept as a look-alike), and presence says
        what follows (``Presence.refuse``); returns whether the box is followed.
        """
        cfg = self.config
        returning = t.presence.returning
        if not returning and not (t.presence.state == TrackState.TRACKING and
                                  t.appearance.due(cfg.appearance_interval)):
            return True
        box = cxcywh_to_xywh(found)
        view = self._embed(image, [box])[0]
        colour = self._colours(image, box)
        threshold = self._appearance_threshold(t)
        if t.appearance.matches(view, threshold, colour, self._colour_threshold(t)):
            t.presence.confirm()
            if not returning and t.score >= CONFIDENT:
                t.appearance.remember(view, colour)     # followed, confident: as it looks
            return True
        t.appearance.refuse(view, threshold)
        self.look_alikes_refused += 1
        return t.presence.refuse(cfg)

    def _appearance_threshold(self, t: _Target) -> float:
        """``appearance_threshold`` for ``t`` at its size (lower for a small one)."""
        return threshold_for(math.sqrt(t.size[0] * t.size[1]), self.config.appearance_threshold)

    def _colours(self, image, box) -> Optional[np.ndarray]:
        """Return the colours of ``box`` for a view (None where ``colour_threshold`` is off).

        Kept for a target of any size, so that its views have them if it grows.
        """
        return colour_histogram(image, box) if self.config.colour_threshold > 0 else None

    def _colour_threshold(self, t: _Target) -> float:
        """``colour_threshold`` for ``t`` at its size (0, not compared, for a small one)."""
        return colour_threshold_for(math.sqrt(t.size[0] * t.size[1]),
                                    self.config.colour_threshold)

    def _embed(self, image, boxes) -> np.ndarray:
        """Appearance views (N, C) of ``boxes`` on ``image``: their template features."""
        crops = []
        for box in boxes:
            cx, cy, w, h = xywh_to_cxcywh(box)
            side = crop_side(w, h, self.preprocess.template_factor, self.preprocess.context)
            crops.append(crop_square(image, cx, cy, side, self.model_cfg.template_size))
        return self._pool(self.backend.embed_template(self.normalize(crops)))

    def _pool(self, state: np.ndarray) -> np.ndarray:
        """Pool template states (B, Nz, C * k) over the target's tokens: (B, C).

        The template crop is ``template_factor`` times the target, so the target covers the
        central 1 / factor of the token grid; a grid that is not square is pooled whole.
        """
        tokens = state[:, :, :self.model_cfg.embed_dim]
        side = math.isqrt(tokens.shape[1])
        if side * side != tokens.shape[1]:
            return tokens.mean(axis=1)
        grid = tokens.reshape(len(tokens), side, side, -1)
        margin = min(int(round(side * (1 - 1 / self.preprocess.template_factor) / 2)),
                     (side - 1) // 2)
        return grid[:, margin:side - margin, margin:side - margin].mean(axis=(1, 2))

    def _probe(self, t: _Target, image):
        """Return the search's probe for ``t`` on ``image`` (``search.Probe``)."""
        return lambda boxes, min_score, min_iou: self._verify(t, image, boxes, min_score,
                                                              min_iou)

    def _search_at(self, t: _Target, image, boxes):
        """Search ``t``'s template in a crop cut for each box (cx, cy, w, h), in one batch.

        Returns [(confidence, box found (cx, cy, w, h) in the image)], one per box; each
        crop is centred on its box and sized from it, which is also the size prior.
        """
        sides = [crop_side(w, h, self.preprocess.search_factor, self.preprocess.context)
                 for _, _, w, h in boxes]
        crops = [crop_square(image, cx, cy, side, self.model_cfg.search_size)
                 for (cx, cy, _, _), side in zip(boxes, sides)]
        out = self.backend.run(np.concatenate([t.z_tokens] * len(boxes)),
                               self.normalize(crops))
        found = []
        for i, ((cx, cy, w, h), side) in enumerate(zip(boxes, sides)):
            box_norm, peak, _ = decode_output(out, i, self.window, np.array([w, h]) / side,
                                              self.config.size_penalty,
                                              self.config.window_blend)
            found.append((_confidence(out, i, peak), crop_to_image(box_norm, cx, cy, side)))
        return found

    def _verify(self, t: _Target, image, candidates, min_score: float, min_iou: float):
        """Search ``t``'s template around each candidate; the best (score, box) that passes.

        A search crop is centred on each candidate and sized from it, all in one batch; a
        candidate passes when the score reaches ``min_score``, the found box overlaps the
        candidate at IoU >= ``min_iou`` and, with ``appearance_threshold``, the box is this
        instance (one that is not is kept as a look-alike). None when none does.
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
        passed = []
        for b, (score, (pcx, pcy, pw, ph)) in zip(
                boxes, self._search_at(t, image, [xywh_to_cxcywh(b) for b in boxes])):
            found = clip_box(cxcywh_to_xywh([pcx, pcy, pw, ph]), width, height)
            overlap = float(iou_xywh(np.asarray(found), np.asarray(b))[0])
            if score >= min_score and overlap >= min_iou:
                if self._taken(t, (found[0] + found[2] / 2, found[1] + found[3] / 2)):
                    self.look_alikes_refused += 1      # another target's: not this one
                    continue
                passed.append((float(score), tuple(float(v) for v in found)))
        passed.sort(key=lambda p: -p[0])
        if passed and self.config.appearance_threshold > 0:
            # the network found something like the target: is it this instance?
            views = self._embed(image, [p[1] for p in passed])
            threshold = self._appearance_threshold(t)
            colour_at = self._colour_threshold(t)
            kept = []
            for p, view in zip(passed, views):
                colour = colour_histogram(image, p[1]) if colour_at else None
                if t.appearance.matches(view, threshold, colour, colour_at):
                    kept.append(p)
                else:
                    t.appearance.refuse(view, threshold)
                    self.look_alikes_refused += 1
            passed = kept
        return passed[0] if passed else None


def _confidence(out: Dict[str, np.ndarray], i: int, score: float) -> float:
    """Sample ``i``'s confidence: the score head's where the model has one, else ``score``."""
    return float(out['confidence'][i]) if 'confidence' in out else score
