"""Template/search pair sampling, jitter and augmentation (the common OSTrack recipe).

Each item is drawn from a generator seeded by (seed, epoch, index), so any worker process
produces the same sample for the same index, and a resumed run repeats its data exactly.
"""

from dataclasses import dataclass
import math
from typing import Dict, List, Optional, Sequence as Seq, Tuple

import cv2
import numpy as np
import torch

from track_core.data.sequences import (DataError, jpeg_roundtrip, occluder_size, paste, scaled,
                                       Sequence)
from track_core.data.stills import load_image, StillBox
from track_core.net.config import ModelConfig, PreprocessConfig
from track_core.runtime.preprocess import crop_side, crop_square, image_to_crop, Normalizer


@dataclass(frozen=True)
class SamplingConfig:
    """Pair sampling and augmentation; defaults are the published recipe.

    The search box is jittered before the crop is cut: each side by exp(N(0, scale_jitter)),
    the aspect by exp(N(0, aspect_jitter)), both sides together by exp(N(0, zoom_jitter)) (the
    scale errors a tracker must recover from), the centre by up to center_jitter x its size.
    ``negative_prob``: the share of negative pairs (SiamRPN++ / SiamBAN): the search crop is
    cut around another object of another draw, so the template's target is not in it (the other
    draw may come from the same video, about once in as many draws as there are videos, as in
    those recipes). ``background_prob``: the share of negative pairs whose search crop is cut
    from the search frame itself, away from the target (the crop and the target's box overlap
    by at most a tenth of the smaller): the scene the target has just left, as a tracker sees
    it then. ``look_alike_prob``: the share of the other negative pairs made of two objects of
    the same label from the stills (a person as the template, another person in the search
    crop), from the same image where the label occurs twice there (the crop then leaves the
    template's target out, as for ``background_prob``), else from another image: the
    look-alikes a tracker must not take for its target. ``look_alike_min_size``: both objects
    of such a pair at least this many pixels (sqrt(w h) in the still): two small instances of a
    label are blurs the network cannot tell apart, and taught to score them low it scores a
    small target low as well. ``small_jpeg_prob``: the share of pairs seen as a small target
    in a compressed stream: both crops brought down to the resolution a target of
    ``small_jpeg_side`` pixels (uniform in that range) would have, encoded as JPEG at a quality
    uniform in ``small_jpeg_quality``, decoded and brought back to the crop size (what
    ``track-eval --small-target --jpeg`` replays). ``crowd_prob``: the share of positive
    pairs drawn from a still where the target's label occurs twice, with the search crop cut
    so that it shows the target and its nearest look-alike of that image (DaSiamRPN's
    distractor-aware pairs: the target is labelled, the other is background, so the network
    learns to place the peak on this instance rather than on any of its kind);
    ``crowd_min_size``: both at least this many pixels (sqrt(w h)). A minimum size that no
    pair of the stills reaches is an error when the dataset is made, not a draw skipped.
    ``occluder_prob``: the share of positive pairs with a static occluder: an object cut
    from a still is pasted over part of the template's target box, its area a fraction
    uniform in ``occluder_area`` of the box's, and at the same place in the search frame (it
    stays where it was while the target moves on): a target selected behind a post, a sign
    or a chair, which the network must not take for the target. The box is unchanged.
    """

    max_gap: int = 200
    scale_jitter: float = 0.25
    center_jitter: float = 3.0
    aspect_jitter: float = 0.0
    zoom_jitter: float = 0.0
    template_scale_jitter: float = 0.0
    template_center_jitter: float = 0.0
    grayscale_prob: float = 0.05
    flip_prob: float = 0.5
    brightness: float = 0.2
    min_box_size: float = 4.0
    max_tries: int = 20
    negative_prob: float = 0.0
    background_prob: float = 0.0
    look_alike_prob: float = 0.0
    look_alike_min_size: float = 0.0
    small_jpeg_prob: float = 0.0
    small_jpeg_side: Tuple[float, float] = (10.0, 24.0)
    small_jpeg_quality: Tuple[int, int] = (30, 70)
    crowd_prob: float = 0.0
    crowd_min_size: float = 0.0
    occluder_prob: float = 0.0
    occluder_area: Tuple[float, float] = (0.05, 0.3)


def _side(box) -> float:
    """Return a box's size in pixels, sqrt(w h)."""
    return math.sqrt(max(0.0, float(box[2])) * max(0.0, float(box[3])))


def _overlap(box, cx: float, cy: float, side: float) -> float:
    """Area of ``box`` (x, y, w, h) inside the square crop of ``side`` centred at (cx, cy)."""
    x, y, w, h = box
    ix = max(0.0, min(x + w, cx + side / 2) - max(x, cx - side / 2))
    iy = max(0.0, min(y + h, cy + side / 2) - max(y, cy - side / 2))
    return ix * iy


class SequenceSource:
    """Pairs from annotated videos.

    a visible template frame, then a visible search frame at most ``max_gap`` frames after it (the
    gap grows if none is visible).
    """

    def __init__(self, sequences: List[Sequence], name: str = 'sequences'):
        self.sequences = [s for s in sequences if s.visible.sum() >= 1]
        if not self.sequences:
            raise DataError(f'{name}: no sequence with a visible target')
        self.name = name

    def sample(self, rng, max_gap):
        seq = self.sequences[rng.integers(len(self.sequences))]
        visible = np.flatnonzero(seq.visible)
        t = int(visible[rng.integers(len(visible))])
        gap = max_gap
        while True:
            candidates = visible[(visible >= t) & (visible <= t + gap)]
            if len(candidates) > 1 or gap >= len(seq):
                break
            gap *= 2
        s = int(candidates[rng.integers(len(candidates))])
        template = seq.frame(t)
        search = template if s == t else seq.frame(s)
        return template, seq.boxes[t], search, seq.boxes[s]


class StillSource:
    """Pairs cut from one still image (template and search share the frame)."""

    def __init__(self, boxes: List[StillBox], name: str = 'stills'):
        if not boxes:
            raise DataError(f'{name}: no boxes')
        self.boxes = boxes
        self.name = name
        by_label: Dict[str, List[int]] = {}
        for i, b in enumerate(boxes):
            if b.label:
                by_label.setdefault(b.label, []).append(i)
        self._by_label = {k: v for k, v in by_label.items() if len(v) > 1}
        self._alike = [i for v in self._by_label.values() for i in v]
        self._sized: Dict[float, Tuple[Dict[str, List[int]], List[int]]] = {0.0: (
            self._by_label, self._alike)}
        self._crowds: Dict[float, List[List[int]]] = {}

    def sample(self, rng, max_gap):
        item = self.boxes[rng.integers(len(self.boxes))]
        image = load_image(item.image)
        return image, item.box, image, item.box

    def patch(self, rng) -> np.ndarray:
        """Return the pixels of one box drawn uniformly (an object to paste elsewhere)."""
        for _ in range(10):
            item = self.boxes[rng.integers(len(self.boxes))]
            x, y, w, h = (int(round(float(v))) for v in item.box)
            patch = load_image(item.image)[max(y, 0):y + h, max(x, 0):x + w]
            if patch.shape[0] >= 2 and patch.shape[1] >= 2:
                return patch
        raise DataError(f'{self.name}: no box inside its image to cut an occluder from')

    def has_crowds(self, min_size: float = 0.0) -> bool:
        """Whether some image holds a label twice at ``min_size`` px or more (``crowd``)."""
        return bool(self._crowd_groups(float(min_size)))

    def has_look_alikes(self, min_size: float = 0.0) -> bool:
        """Whether some label occurs twice at ``min_size`` px or more (``look_alike``)."""
        return bool(self._of_size(float(min_size))[1])

    def _of_size(self, min_size: float) -> Tuple[Dict[str, List[int]], List[int]]:
        """Return the labels with two boxes of ``min_size`` px or more, and those boxes."""
        if min_size not in self._sized:
            by_label = {k: [i for i in v if _side(self.boxes[i].box) >= min_size]
                        for k, v in self._by_label.items()}
            by_label = {k: v for k, v in by_label.items() if len(v) > 1}
            self._sized[min_size] = by_label, [i for v in by_label.values() for i in v]
        return self._sized[min_size]

    def look_alike(self, rng, same_image_prob: float = 0.5, min_size: float = 0.0):
        """Two objects of one label: (image, box, image, box, box to leave out or None).

        The template's object is drawn uniformly from the boxes whose label occurs twice or
        more (counting boxes of at least ``min_size`` px, sqrt(w h), only); the other is of
        that label in the same image with ``same_image_prob`` where there is one, else
        anywhere. Where both are in one image the template's box is returned, to be left out
        of the search crop.
        """
        by_label, alike = self._of_size(float(min_size))
        if not alike:
            raise DataError(f'{self.name}: no label with two boxes of {min_size:g} px or more '
                            '(look-alike pairs)')
        first = alike[rng.integers(len(alike))]
        a = self.boxes[first]
        peers = [i for i in by_label[a.label] if i != first]
        here = [i for i in peers if self.boxes[i].image == a.image]
        same = bool(here) and rng.random() < same_image_prob
        pool = here if same else peers
        b = self.boxes[pool[rng.integers(len(pool))]]
        image = load_image(a.image)
        shared = b.image == a.image
        other = image if shared else load_image(b.image)
        return image, a.box, other, b.box, (a.box if shared else None)

    def _crowd_groups(self, min_size: float) -> List[List[int]]:
        """Boxes of one label in one image, two or more of ``min_size`` px or more."""
        if min_size not in self._crowds:
            groups: Dict[Tuple[str, str], List[int]] = {}
            for i, b in enumerate(self.boxes):
                if b.label and _side(b.box) >= min_size:
                    groups.setdefault((str(b.image), b.label), []).append(i)
            self._crowds[min_size] = [v for v in groups.values() if len(v) > 1]
        return self._crowds[min_size]

    def crowd(self, rng, min_size: float = 0.0):
        """Return a target beside another of its kind: (image, box, image, box, the other's box).

        The target is drawn uniformly from the boxes (of ``min_size`` px or more) whose label
        occurs again in the same image; the other is the nearest of those (centre distance).
        """
        groups = self._crowd_groups(float(min_size))
        if not groups:
            raise DataError(f'{self.name}: no image with two boxes of one label of '
                            f'{min_size:g} px or more (crowd pairs)')
        sizes = np.array([len(g) for g in groups], float)
        group = groups[rng.choice(len(groups), p=sizes / sizes.sum())]
        first = group[rng.integers(len(group))]
        a = self.boxes[first]

        def distance(i):
            b = self.boxes[i].box
            return math.hypot(b[0] + b[2] / 2 - a.box[0] - a.box[2] / 2,
                              b[1] + b[3] / 2 - a.box[1] - a.box[3] / 2)
        b = self.boxes[min((i for i in group if i != first), key=distance)]
        image = load_image(a.image)
        return image, a.box, image, a.box, b.box


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset of ``samples_per_epoch`` training pairs mixed from ``sources``.

    Each item: ``template`` (3, Ht, Wt) and ``search`` (3, Hs, Ws) float tensors, normalised;
    ``box`` (4,) the target in the search crop as (cx, cy, w, h) in [0, 1]; ``has_box`` 1 for
    annotated pairs, 0 for pairs whose box was proposed by a tracker (a source with
    ``pseudo = True``) and for negative pairs; ``negative`` 1 for a negative pair (the search
    crop shows another object: ``SamplingConfig.negative_prob``), else 0; with a ``teacher``,
    its maps and box (``train.cnn_teacher``).
    Unreadable frames are counted in ``skipped`` and replaced by another draw, never a crash
    mid-epoch.
    """

    def __init__(self, sources: Seq, weights: Optional[Seq[float]], model_cfg: ModelConfig,
                 preprocess: PreprocessConfig = PreprocessConfig(),
                 sampling: SamplingConfig = SamplingConfig(), samples_per_epoch: int = 60000,
                 seed: int = 0, teacher=None):
        """Mix pairs from ``sources``; ``teacher`` (optional) labels each on the fly.

        ``teacher``: a callable (template crop, search crop; uint8 RGB) -> dict of arrays added
        to every item (``train.cnn_teacher.CnnTeacher``).
        """
        if not sources:
            raise DataError('no data sources')
        weights = np.asarray(weights if weights is not None else [1.0] * len(sources), float)
        if len(weights) != len(sources) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError('source weights must be non-negative, one per source, not all 0')
        self.sources = list(sources)
        self.probs = weights / weights.sum()
        self.model_cfg = model_cfg
        self.pre = preprocess
        self.sampling = sampling
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.epoch = 0
        self.skipped: Dict[str, int] = {}
        self.normalize = Normalizer.for_preprocess(preprocess)   # as the runtime feeds it
        self.teacher = teacher
        self._alike_sources = self._stills_for(
            sampling.look_alike_prob, lambda s: s.has_look_alikes(sampling.look_alike_min_size),
            'look_alike_prob needs still images with a label that occurs twice at '
            f'look_alike_min_size ({sampling.look_alike_min_size:g} px) or more')
        self._crowd_sources = self._stills_for(
            sampling.crowd_prob, lambda s: s.has_crowds(sampling.crowd_min_size),
            'crowd_prob needs still images holding a label twice at '
            f'crowd_min_size ({sampling.crowd_min_size:g} px) or more')
        self._occluder_sources = self._stills_for(
            sampling.occluder_prob, lambda s: True, 'occluder_prob needs still images to cut '
            'occluders from')

    def _stills_for(self, prob: float, can_draw, needs: str) -> List['StillSource']:
        """Return the still sources ``can_draw`` says can give a pair (none for ``prob`` 0).

        Checked at the sizes configured, so a minimum size no pair reaches fails here, with
        ``needs`` as the message, rather than as draws skipped mid-epoch.
        """
        if prob <= 0:
            return []
        found = [s for s in self.sources if isinstance(s, StillSource) and can_draw(s)]
        if not found:
            raise DataError(f'{needs} (data.stills_csv / stills_coco)')
        return found

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return self.samples_per_epoch

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        cfg = self.sampling
        for _ in range(cfg.max_tries):
            source = self.sources[rng.choice(len(self.sources), p=self.probs)]
            try:
                pair = source.sample(rng, cfg.max_gap)
            except DataError as exc:
                key = f'{source.name}: {exc}'
                self.skipped[key] = self.skipped.get(key, 0) + 1
                continue
            away = cfg.background_prob > 0 and rng.random() < cfg.background_prob
            negative = away or (cfg.negative_prob > 0 and rng.random() < cfg.negative_prob)
            hidden = neighbour = None
            if not negative and self._crowd_sources and rng.random() < cfg.crowd_prob:
                source, drawn = self._from_stills(rng, self._crowd_sources, 'crowd',
                                                  cfg.crowd_min_size)
                if drawn is None:
                    continue
                *pair, neighbour = drawn
            elif negative and not away and self._alike_sources and \
                    rng.random() < cfg.look_alike_prob:
                _, drawn = self._from_stills(rng, self._alike_sources, 'look_alike',
                                             cfg.look_alike_min_size)
                if drawn is None:
                    continue
                *pair, hidden = drawn
            elif negative and not away:
                other = self.sources[rng.choice(len(self.sources), p=self.probs)]
                try:
                    pair = pair[:2] + other.sample(rng, cfg.max_gap)[2:]
                except DataError:
                    continue
            if not negative and self._occluder_sources and rng.random() < cfg.occluder_prob:
                pair = self._occluded(rng, *pair)
            item = self.make_item(rng, *pair, labelled=not getattr(source, 'pseudo', False)
                                  and not negative, away=away, hidden=hidden,
                                  neighbour=neighbour)
            if item is not None:
                item['negative'] = torch.tensor(1.0 if negative else 0.0)
                return item
        raise DataError(f'no usable pair after {cfg.max_tries} draws for index {index} '
                        f'(skipped so far: {sum(self.skipped.values())})')

    def _from_stills(self, rng, sources, draw: str, min_size: float):
        """Return (source, ``draw``'s pair) from one of ``sources``.

        The pair is None (and counted in ``skipped``) where that source has none to give.
        """
        stills = sources[rng.integers(len(sources))]
        try:
            return stills, getattr(stills, draw)(rng, min_size=min_size)
        except DataError as exc:
            key = f'{stills.name}: {exc}'
            self.skipped[key] = self.skipped.get(key, 0) + 1
            return stills, None

    def _occluded(self, rng, t_image, t_box, s_image, s_box):
        """Return the pair with a static occluder over part of the template's box.

        The occluder (an object of the stills) is scaled, its aspect kept, to a fraction
        uniform in ``occluder_area`` of the box, each side then capped at 0.8 of the box's, and
        centred within 0.35 of the box's sides from its centre; it is pasted at the same pixels
        of both frames.
        """
        stills = self._occluder_sources[rng.integers(len(self._occluder_sources))]
        patch = stills.patch(rng)
        x, y, w, h = (float(v) for v in t_box)
        dw, dh = occluder_size((w, h), patch.shape, rng.uniform(*self.sampling.occluder_area))
        if dw < 1 or dh < 1:
            return t_image, t_box, s_image, s_box
        cx = x + w / 2 + rng.uniform(-0.35, 0.35) * w
        cy = y + h / 2 + rng.uniform(-0.35, 0.35) * h
        at = (int(round(cx - dw / 2)), int(round(cy - dh / 2)))
        patch = scaled(patch, dw, dh)
        template = paste(t_image, patch, at)
        search = template if s_image is t_image else paste(s_image, patch, at)
        return template, t_box, search, s_box

    # ----------------------------------------------------------------- one pair
    def _jittered(self, rng, box, scale_j, center_j, aspect_j, zoom_j=0.0
                  ) -> Tuple[float, float, float, float]:
        x, y, w, h = box
        w2, h2 = w * math.exp(rng.normal() * scale_j), h * math.exp(rng.normal() * scale_j)
        if aspect_j:
            a = math.exp(rng.normal() * aspect_j)
            w2, h2 = w2 * math.sqrt(a), h2 / math.sqrt(a)
        if zoom_j:
            z = math.exp(rng.normal() * zoom_j)
            w2, h2 = w2 * z, h2 * z
        offset = math.sqrt(w2 * h2) * center_j
        cx = x + w / 2 + offset * (rng.random() - 0.5)
        cy = y + h / 2 + offset * (rng.random() - 0.5)
        return cx, cy, w2, h2

    def _away_centre(self, rng, image, box, side) -> Optional[Tuple[float, float]]:
        """Return a crop centre in ``image`` whose crop of ``side`` misses ``box`` (or None).

        The two overlap by at most a tenth of the smaller of them (of the target's box, and of
        the crop where the crop is smaller: a crop inside a large target shows only it).
        """
        height, width = image.shape[:2]
        allowed = 0.1 * min(box[2] * box[3], side * side)
        for _ in range(10):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            if _overlap(box, cx, cy, side) <= allowed:
                return cx, cy
        return None

    def make_item(self, rng, t_image, t_box, s_image, s_box, labelled: bool = True,
                  away: bool = False, hidden=None, neighbour=None):
        """One pair as the tracker sees it; ``away``: the search crop misses the target.

        ``hidden``: a box the search crop must leave out (the template's target in the same
        image as a look-alike): None when it would show more than a tenth of it.
        ``neighbour``: a box whose centre the search crop must show beside the target's (a
        crowd pair): the crop is centred between the two, jittered as far as both stay a
        tenth of the crop inside it; None when they are too far apart for one crop.
        """
        cfg, mcfg = self.sampling, self.model_cfg
        if min(t_box[2], t_box[3], s_box[2], s_box[3]) < cfg.min_box_size:
            return None
        tcx, tcy, tw, th = self._jittered(rng, t_box, cfg.template_scale_jitter,
                                          cfg.template_center_jitter, 0.0)
        t_side = crop_side(tw, th, self.pre.template_factor, self.pre.context)
        template = crop_square(t_image, tcx, tcy, t_side, mcfg.template_size)
        scx, scy, sw, sh = self._jittered(rng, s_box, cfg.scale_jitter, cfg.center_jitter,
                                          cfg.aspect_jitter, cfg.zoom_jitter)
        s_side = crop_side(sw, sh, self.pre.search_factor, self.pre.context)
        if away:
            centre = self._away_centre(rng, s_image, s_box, s_side)
            if centre is None:
                return None   # the target fills the frame: no crop without it
            scx, scy = centre
        if neighbour is not None:
            centre = _between(rng, s_box, neighbour, s_side)
            if centre is None:
                return None   # the two do not fit in one search crop
            scx, scy = centre
        if hidden is not None and _overlap(hidden, scx, scy, s_side) > \
                0.1 * min(hidden[2] * hidden[3], s_side * s_side):
            return None       # the template's own target would be in the crop
        search = crop_square(s_image, scx, scy, s_side, mcfg.search_size)
        x, y, w, h = s_box
        box = image_to_crop(np.array([x + w / 2, y + h / 2, w, h]), scx, scy, s_side)
        if not away and not (0.0 < box[0] < 1.0 and 0.0 < box[1] < 1.0):
            return None   # the target centre fell outside the search crop
        if cfg.small_jpeg_prob and rng.random() < cfg.small_jpeg_prob:
            side = rng.uniform(*cfg.small_jpeg_side)
            quality = int(rng.integers(cfg.small_jpeg_quality[0], cfg.small_jpeg_quality[1] + 1))
            template = _small_jpeg(template, side / math.sqrt(tw * th), quality)
            search = _small_jpeg(search, side / math.sqrt(sw * sh), quality)
        if rng.random() < cfg.grayscale_prob:
            template, search = _gray(template), _gray(search)
        if rng.random() < cfg.flip_prob:
            template, search = template[:, ::-1], search[:, ::-1]
            box[0] = 1.0 - box[0]
        if cfg.brightness:
            lo, hi = max(0.0, 1 - cfg.brightness), 1 + cfg.brightness
            template = _scale(template, rng.uniform(lo, hi))
            search = _scale(search, rng.uniform(lo, hi))
        item = {'template': torch.from_numpy(self.normalize([template])[0]),
                'search': torch.from_numpy(self.normalize([search])[0]),
                'box': torch.tensor(box.clip(0.0, 1.0), dtype=torch.float32),
                'has_box': torch.tensor(1.0 if labelled else 0.0)}
        if self.teacher is not None:
            item.update({k: torch.as_tensor(v) for k, v in
                         self.teacher(np.ascontiguousarray(template),
                                      np.ascontiguousarray(search)).items()})
        return item


def _between(rng, box, other, side) -> Optional[Tuple[float, float]]:
    """Return a centre for a crop of ``side`` showing both boxes' centres a tenth of it inside."""
    centre = []
    for k in (0, 1):
        a, b = box[k] + box[k + 2] / 2, other[k] + other[k + 2] / 2
        room = 0.4 * side - abs(a - b) / 2
        if room < 0:
            return None
        centre.append((a + b) / 2 + rng.uniform(-room, room))
    return centre[0], centre[1]


def _gray(image):
    g = (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return np.repeat(g[..., None], 3, axis=2).clip(0, 255).astype(np.uint8)


def _scale(image, factor):
    return (image.astype(np.float32) * factor).clip(0, 255).astype(np.uint8)


def _small_jpeg(crop, scale: float, quality: int):
    """Return ``crop`` with its content ``scale`` x as large, JPEG-compressed at that size.

    A scale of 1 or more (the target is already that small) only compresses.
    """
    size = crop.shape[0]
    small = max(8, int(round(size * scale))) if scale < 1 else size
    image = cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA) if small < size \
        else np.ascontiguousarray(crop)
    image = jpeg_roundtrip(image, quality)
    if small < size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return image
