"""Training tasks: a batch in, a dict of losses out (``loss`` is the one to minimise).

Each is a ``TrainingTask`` (train/base.py): what trains is registered, a teacher is held
frozen with ``hold_frozen`` (eval mode, run under ``no_grad``, never wrapped by DDP, moved by
``.to()`` with the task). Random stage masks come from the task's own seeded generator, never
from inside the network.
"""

import copy
from dataclasses import dataclass, replace
import math
from typing import Dict, List, Sequence

import torch

from track_core.net.network import OneStreamTracker
from track_core.train.base import TrainingTask
from track_core.train.losses import (ban_cls_loss, ban_iou_loss, ban_labels, ban_point_iou,
                                     box_iou,
                                     center_to_edge_distributions, feature_mimic_loss,
                                     focal_loss, gaussian_heatmap, giou_loss, kl_edge_loss,
                                     l1_loss, log_size_loss, score_map_distill_loss)
from track_core.train.schedule import draw_stage_mask, replacement_probability
from track_core.train.stages import (Ranges, replaced_block_list, StageAdapters,
                                     teacher_stage_ends)


@dataclass(frozen=True)
class LossWeights:
    """Defaults are CompressTracker's published weights.

    ``log_size`` (not in the published recipes; 0 = off) weights ``log_size_loss`` on the
    predicted box. ``ban_cls`` / ``ban_iou`` weight the 'ban' head's SiamBAN losses (point
    labels, IoU of the positive points' boxes), which take the focal loss's place there;
    ``ban_quality`` makes the positives' classification target the IoU of each point's box
    (an IoU-aware score, as in GFL / VarifocalNet) instead of 1.
    """

    giou: float = 2.0
    l1: float = 5.0
    focal: float = 1.0
    guidance: float = 1.0
    feature: float = 0.2
    logit: float = 0.0
    kl: float = 0.0
    kl_temperature: float = 1.0
    log_size: float = 0.0
    cnn_map: float = 0.0
    cnn_kl: float = 0.0
    cnn_guidance: float = 0.0
    cnn_min_conf: float = 0.5
    ban_cls: float = 1.0
    ban_iou: float = 1.0
    ban_quality: bool = False


def _box_terms(out, target, w: LossWeights, prefix: str, weight=None, negative=None
               ) -> Dict[str, torch.Tensor]:
    giou, iou = giou_loss(out['box'], target, weight)
    terms = {f'{prefix}giou': w.giou * giou,
             f'{prefix}l1': w.l1 * l1_loss(out['box'], target, weight)}
    if w.log_size:
        terms[f'{prefix}log_size'] = w.log_size * log_size_loss(out['box'], target)
    if prefix == 'loss/box_' and 'cls_logits' in out:
        points = out['points']
        labels = ban_labels(target, points)
        cls_weight = weight
        if negative is not None:       # negative pairs: every point is background
            labels = torch.where(negative.view(-1, 1, 1) > 0, torch.zeros_like(labels), labels)
            cls_weight = torch.clamp((weight if weight is not None else 1.0) + negative, max=1.0)
        quality = ban_point_iou(out['ltrb'], target, points).detach() if w.ban_quality \
            else None
        terms['loss/ban_cls'] = w.ban_cls * ban_cls_loss(out['cls_logits'], labels, cls_weight,
                                                         quality)
        terms['loss/ban_iou'] = w.ban_iou * ban_iou_loss(out['ltrb'], target, points, labels,
                                                         weight)
    elif prefix == 'loss/box_' and 'score_map' in out and w.focal:
        heat = gaussian_heatmap(target, out['score_map'].shape[-1])
        terms['loss/focal'] = w.focal * focal_loss(out['score_map'], heat, weight=weight)
    return terms, iou


def supervision_terms(out, batch, w: LossWeights, num_bins: int = 0):
    """Ground-truth terms, and a CNN teacher's where the batch carries its maps.

    Annotated pairs are supervised by their box. A pair whose box a tracker proposed
    (``has_box`` 0) takes the CNN teacher's box instead, weighted 1 where the teacher is
    confident (``cnn_min_conf``) and 0 where not, or counts for nothing without a teacher.
    With a teacher (``cnn_*`` weights): its score map (binary cross-entropy for a center head;
    the dense-to-sparse KL of its boxes for a token head) and box guidance, gated likewise.
    Returns (terms, IoU with the box used).
    """
    target, weight = batch['box'], None
    has_teacher = 'teacher_score' in batch
    negative = batch.get('negative')
    if negative is not None and not bool(negative.any()):
        negative = None
    gate = (batch['teacher_conf'] >= w.cnn_min_conf).to(target.dtype) if has_teacher else None
    if gate is not None and negative is not None:
        gate = gate * (1 - negative)          # the teacher's box is no target of a negative
    if 'has_box' in batch and not bool(batch['has_box'].all()):
        labelled = batch['has_box'] > 0
        weight = labelled.to(target.dtype)
        if has_teacher:
            target = torch.where(labelled[:, None], target, batch['teacher_box'])
            weight = torch.where(labelled, weight, gate)
    terms, iou = _box_terms(out, target, w, 'loss/box_', weight, negative)
    if not has_teacher:
        return terms, iou
    if w.cnn_map and 'score_map' in out:
        teacher_score = batch['teacher_score']
        if negative is not None:       # nothing of the template is in a negative crop
            teacher_score = teacher_score * (1 - negative).view(-1, 1, 1)
        terms['loss/cnn_map'] = w.cnn_map * score_map_distill_loss(
            out['score_map'][:, 0], teacher_score)
    if w.cnn_kl and 'edge_logits' in out:
        dist = center_to_edge_distributions(batch['teacher_score'][:, None],
                                            batch['teacher_size'], batch['teacher_offset'],
                                            num_bins, w.kl_temperature)
        terms['loss/cnn_kl'] = w.cnn_kl * kl_edge_loss(out['edge_logits'], dist)
    if w.cnn_guidance and bool(gate.any()):
        guide, _ = _box_terms(out, batch['teacher_box'], w, 'loss/cnn_', gate)
        terms.update({k: w.cnn_guidance * v for k, v in guide.items()})
    return terms, iou


def _total(terms: Dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(terms.values())


def stop_stem_gradients(model: OneStreamTracker, train_projection: bool = False) -> None:
    """Stop gradients into the stem; with ``train_projection`` its 1x1 projection still learns.

    The projection (a MobileNetV2 stem's ``proj``: pretrained features -> token width) starts
    at random values, so freezing it fixes a random map; a patch stem has none.
    """
    model.stem.requires_grad_(False)
    if train_projection:
        if not hasattr(model.stem, 'features'):
            raise ValueError(f'train_stem_projection: the {model.cfg.stem!r} stem has no '
                             'separate projection (it is one)')
        model.stem.proj.requires_grad_(True)


def keep_pretrained_statistics(model: OneStreamTracker, freeze_stem: bool) -> None:
    """After ``train()``: keep the BatchNorm statistics of the pretrained parts.

    A frozen stem goes back to eval mode; so do the BatchNorm layers of a pretrained head and
    its stem (NanoTrack v3's, whose weights may still learn, e.g. at ``optim.stem_lr_scale``):
    their statistics come from NanoTrack's full training, and small CPU batches would only
    blur them.
    """
    if freeze_stem:
        model.stem.eval()
    if model.cfg.head_kind.pretrained:
        for part in (model.box_head, model.stem):
            for m in part.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()


class GroundTruthTask(TrainingTask):
    """Plain supervised training (teachers trained here): GIoU + L1 + focal."""

    def __init__(self, model: OneStreamTracker, weights: LossWeights = LossWeights(),
                 freeze_stem: bool = False, train_stem_projection: bool = False):
        super().__init__()
        self.model = model
        self.weights = weights
        self.freeze_stem = freeze_stem
        if freeze_stem:
            stop_stem_gradients(model, train_stem_projection)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            keep_pretrained_statistics(self.model, self.freeze_stem)
        return self

    def trained_model(self) -> OneStreamTracker:
        return self.model

    def forward(self, batch):
        out = self.model(batch['template'], batch['search'])
        terms, iou = supervision_terms(out, batch, self.weights, self.model.cfg.num_bins)
        return {'loss': _total(terms), **terms, 'metric/iou': iou}


class DistillTask(TrainingTask):
    """CompressTracker: replacement training + prediction guidance + feature mimicking.

    Optional extras: logit distillation (score maps, or edge logits between token heads) and
    MixFormerV2's dense-to-sparse KL (a center-head teacher's heat map -> a token-head
    student's edge distributions).
    """

    def __init__(self, student: OneStreamTracker, teacher: OneStreamTracker, ranges: Ranges,
                 weights: LossWeights = LossWeights(), schedule: str = 'progressive',
                 constant_p: float = 0.5, seed: int = 0, freeze_stem: bool = False,
                 train_stem_projection: bool = False, teacher_input=None):
        """``teacher_input``: maps the student's input crops to the teacher's convention."""
        super().__init__()
        self.teacher_input = teacher_input
        self.student = student
        self.freeze_stem = freeze_stem
        if freeze_stem:
            stop_stem_gradients(student, train_stem_projection)
        self.hold_frozen('teacher', teacher)
        self.ranges = ranges
        self.adapters = StageAdapters(student.cfg.embed_dim, teacher.cfg.embed_dim, len(ranges))
        self.weights = weights
        self.schedule = schedule
        self.constant_p = constant_p
        self.generator = torch.Generator().manual_seed(seed)
        self.last_mask: List[bool] = []

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            keep_pretrained_statistics(self.student, self.freeze_stem)
        return self

    def trained_model(self) -> OneStreamTracker:
        return self.student

    def forward(self, batch, mask: Sequence[bool] = None):
        z, x = batch['template'], batch['search']
        w = self.weights
        tz, tx = (z, x)
        if self.teacher_input is not None:
            tz, tx = self.teacher_input(z), self.teacher_input(x)
        with torch.no_grad():
            t_out, t_hidden = self.teacher.forward_intermediates(
                tz, tx, teacher_stage_ends(self.ranges))
        if mask is None:
            p = replacement_probability(self.progress, self.schedule, self.constant_p)
            mask = draw_stage_mask(len(self.ranges), p, self.generator)
        self.last_mask = list(mask)
        blocks, ends, _ = replaced_block_list(self.student, self.teacher, self.ranges, mask,
                                              self.adapters)
        s = self.student
        tokens = s.join(s.embed_template(z), s.embed_search(x))
        tokens, hidden = s.run_blocks(tokens, blocks, collect=ends)
        out = s.predict(tokens)

        terms, iou = supervision_terms(out, batch, w, s.cfg.num_bins)
        if w.guidance:
            guide, _ = _box_terms(out, t_out['box'].detach(), w, 'loss/guide_')
            terms.update({k: w.guidance * v for k, v in guide.items()})
        if w.feature:
            nz = s.cfg.num_template_tokens
            feats = []
            for i, (h, th) in enumerate(zip(hidden, t_hidden)):
                if h.shape[-1] != th.shape[-1]:
                    h = self.adapters.up[i](h)
                feats.append(feature_mimic_loss(h[:, :th.shape[1]], th, nz))
            terms['loss/feature'] = w.feature * torch.stack(feats).mean()
        if w.logit:
            if 'score_map' in out and 'score_map' in t_out:
                terms['loss/logit'] = w.logit * score_map_distill_loss(out['score_map'],
                                                                       t_out['score_map'])
            elif 'edge_logits' in out and 'edge_logits' in t_out:
                terms['loss/logit'] = w.logit * kl_edge_loss(
                    out['edge_logits'], t_out['edge_logits'].softmax(-1))
        if w.kl and 'edge_logits' in out and 'score_map' in t_out:
            dist = center_to_edge_distributions(t_out['score_map'], t_out['size_map'],
                                                t_out['offset_map'], s.cfg.num_bins,
                                                w.kl_temperature)
            terms['loss/kl'] = w.kl * kl_edge_loss(out['edge_logits'], dist)
        return {'loss': _total(terms), **terms, 'metric/iou': iou,
                'metric/replaced': torch.tensor(float(sum(mask)))}


def cosine_fade(progress: float, fade_fraction: float) -> float:
    """1 -> 0 along a half cosine over the first ``fade_fraction`` of training, then 0."""
    if fade_fraction <= 0:
        return 0.0
    t = min(progress / fade_fraction, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * t))


class DepthPruneTask(TrainingTask):
    """MixFormerV2 deep-to-shallow.

    the student starts as a copy of the teacher; the residual branches of the layers in ``remove``
    fade out along a cosine over the first ``fade_fraction`` of training, after which they are
    identities and ``pruned_model`` drops them. Trained with ground truth, teacher guidance and
    score-map distillation. ``freeze_stem`` keeps the student's stem fixed (weights and
    BatchNorm statistics), as in the other tasks. An empty ``remove`` is the control run: the
    same training with every layer kept, which tells what the data and losses do on their own.
    ``attention`` ('joint' / 'asymmetric', '' for the teacher's) sets the student's attention:
    the same weights with the template tokens no longer attending to the search tokens, so
    that the template side runs once per target, trained back to the teacher's predictions.
    """

    def __init__(self, teacher: OneStreamTracker, remove: Sequence[int],
                 weights: LossWeights = LossWeights(feature=0.0, logit=1.0),
                 fade_fraction: float = 0.3, freeze_stem: bool = False, attention: str = ''):
        super().__init__()
        depth = teacher.cfg.depth
        self.remove = sorted({int(i) for i in remove})
        if self.remove and (self.remove[0] < 0 or self.remove[-1] >= depth or
                            len(self.remove) >= depth):
            raise ValueError(f'remove must name some (not all) of the {depth} layers or none '
                             f'(the control run), got {list(remove)}')
        if attention and attention != teacher.cfg.attention:
            self.student = OneStreamTracker(replace(teacher.cfg, attention=attention))
            self.student.load_state_dict(teacher.state_dict())
        else:
            self.student = copy.deepcopy(teacher)
        self.student.requires_grad_(True)
        self.freeze_stem = freeze_stem
        if freeze_stem:
            stop_stem_gradients(self.student)
        self.hold_frozen('teacher', teacher)
        self.weights = weights
        self.fade_fraction = fade_fraction

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            keep_pretrained_statistics(self.student, self.freeze_stem)
        return self

    def branch_scale(self) -> float:
        return cosine_fade(self.progress, self.fade_fraction)

    def forward(self, batch):
        scale = self.branch_scale()
        for i in self.remove:
            self.student.blocks[i].branch_scale = scale
        z, x = batch['template'], batch['search']
        with torch.no_grad():
            t_out = self.teacher(z, x)
        out = self.student(z, x)
        w = self.weights
        terms, iou = supervision_terms(out, batch, w, self.student.cfg.num_bins)
        if w.guidance:
            guide, _ = _box_terms(out, t_out['box'], w, 'loss/guide_')
            terms.update({k: w.guidance * v for k, v in guide.items()})
        if w.logit and 'score_map' in out:
            terms['loss/logit'] = w.logit * score_map_distill_loss(out['score_map'],
                                                                   t_out['score_map'])
        fading = {'metric/branch_scale': torch.tensor(scale)} if self.remove else {}
        return {'loss': _total(terms), **terms, 'metric/iou': iou, **fading}

    def trained_model(self) -> OneStreamTracker:
        return self.pruned_model()

    def pruned_model(self) -> OneStreamTracker:
        """Return the student without the faded layers (valid once their scale is 0)."""
        import dataclasses
        keep = [i for i in range(self.student.cfg.depth) if i not in self.remove]
        name = self.student.cfg.name
        cfg = dataclasses.replace(self.student.cfg, depth=len(keep),
                                  name=f'{name}_pruned{len(keep)}' if self.remove else name)
        model = OneStreamTracker(cfg)
        state = {}
        for key, value in self.student.state_dict().items():
            if key.startswith('blocks.'):
                idx = int(key.split('.')[1])
                if idx not in keep:
                    continue
                key = f'blocks.{keep.index(idx)}.' + key.split('.', 2)[2]
            state[key] = value
        model.load_state_dict(state)
        return model


class ScoreTask(TrainingTask):
    """A score head for a trained tracker, everything else frozen (STARK-ST's second stage).

    The tracker runs frozen (eval mode, no gradients), so the trained model's boxes are
    bit-identical to the tracker's and its accuracy cannot drop: only the new head learns. Its
    target is the IoU of the tracker's own box (the box head's peak, as trained) with the
    ground truth on an annotated pair, 0 on a negative pair (the template's target is not in
    the search crop), binary cross-entropy on soft targets, so the confidence estimates the
    box's IoU. Pairs whose box a tracker proposed (pseudo-labels) count for nothing. A
    tracker that has a score head already gets a new one (the same recipe gives the same
    model from the tracker with or without it; resuming is the run folder's business).
    """

    def __init__(self, tracker: OneStreamTracker):
        super().__init__()
        if tracker.cfg.score_head:
            base = OneStreamTracker(replace(tracker.cfg, score_head=''))
            base.load_state_dict({k: v for k, v in tracker.state_dict().items()
                                  if not k.startswith('score_head.')})
            tracker = base
        self.score_head = OneStreamTracker(replace(tracker.cfg, score_head='query')).score_head
        self.hold_frozen('tracker', tracker)
        self.score_head.requires_grad_(True)

    def forward(self, batch):
        net = self.tracker
        with torch.no_grad():
            out, (last,) = net.forward_intermediates(batch['template'], batch['search'],
                                                     [net.cfg.depth - 1])
            tokens = net.norm(last)                 # what the head reads, as in predict()
            nz, nx = net.cfg.num_template_tokens, net.cfg.num_search_tokens
            negative = batch.get('negative', torch.zeros_like(batch['has_box']))
            iou = box_iou(out['box'], batch['box'])
            target = torch.where(negative > 0, torch.zeros_like(iou), iou)
            weight = torch.clamp(batch['has_box'] + negative, max=1.0)
        logit = self.score_head(tokens[:, :nz], tokens[:, nz:nz + nx], out['score'])
        per = torch.nn.functional.binary_cross_entropy_with_logits(logit, target,
                                                                   reduction='none')
        loss = (per * weight).sum() / weight.sum().clamp(min=1.0)
        conf = torch.sigmoid(logit.detach())
        pos = (weight > 0) & (negative == 0)
        metrics = {'metric/iou': iou[pos].mean() if bool(pos.any()) else torch.tensor(0.0)}
        for name, mask in (('pos', pos), ('neg', negative > 0)):
            if bool(mask.any()):
                metrics[f'metric/conf_{name}'] = conf[mask].mean()
        return {'loss': loss, 'loss/score': loss, **metrics}

    def trained_model(self) -> OneStreamTracker:
        """Return the tracker with this score head (its ``confidence`` is the head's)."""
        model = OneStreamTracker(replace(self.tracker.cfg, score_head='query'))
        state = {k: v.detach().clone() for k, v in self.tracker.state_dict().items()}
        state.update({f'score_head.{k}': v.detach().clone()
                      for k, v in self.score_head.state_dict().items()})
        model.load_state_dict(state)
        return model.eval()
