"""Training losses.

Box (GIoU, L1), focal on a Gaussian heat map, SiamBAN point labels and losses (ban head), KL
dense-to-sparse, feature mimicking and logit distillation. Boxes are (cx, cy, w, h)
normalised to the crop.
"""

import math

import torch
import torch.nn.functional as F


def cxcywh_to_xyxy(box):
    cx, cy, w, h = box.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def _overlap(pred, target):
    """(xyxy pred, xyxy target, intersection, union) of (B, 4) cxcywh boxes."""
    p, t = cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target)
    area_p = (p[:, 2] - p[:, 0]).clamp(min=0) * (p[:, 3] - p[:, 1]).clamp(min=0)
    area_t = (t[:, 2] - t[:, 0]).clamp(min=0) * (t[:, 3] - t[:, 1]).clamp(min=0)
    lt = torch.max(p[:, :2], t[:, :2])
    rb = torch.min(p[:, 2:], t[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    return p, t, inter, area_p + area_t - inter


def giou_loss(pred, target, weight=None):
    """Mean (1 - GIoU) of (B, 4) cxcywh boxes; also returns the mean IoU (no gradient).

    ``weight`` (B,): per-sample weights of the mean (a weight-0 sample counts for nothing).
    """
    p, t, inter, union = _overlap(pred, target)
    iou = inter / union.clamp(min=1e-7)
    hull = (torch.max(p[:, 2:], t[:, 2:]) - torch.min(p[:, :2], t[:, :2])).clamp(min=0)
    hull_area = hull.prod(dim=1).clamp(min=1e-7)
    giou = iou - (hull_area - union) / hull_area
    if weight is None:
        return (1 - giou).mean(), iou.detach().mean()
    return weighted_mean(1 - giou, weight), weighted_mean(iou.detach(), weight)


def box_iou(pred, target):
    """Per-sample IoU of (B, 4) cxcywh boxes (no gradient)."""
    with torch.no_grad():
        _, _, inter, union = _overlap(pred, target)
        return inter / union.clamp(min=1e-7)


def weighted_mean(values, weight):
    """Mean of per-sample ``values`` (B, ...) weighted by ``weight`` (B,)."""
    w = weight.reshape(-1, *([1] * (values.dim() - 1))).to(values.dtype)
    per = (values * w).reshape(values.shape[0], -1).mean(1)
    return per.sum() / weight.sum().clamp(min=1e-6)


def l1_loss(pred, target, weight=None):
    """Mean absolute error of (B, 4) boxes (``weight``: per-sample weights)."""
    if weight is None:
        return (pred - target).abs().mean()
    return weighted_mean((pred - target).abs(), weight)


def log_size_loss(pred, target, eps: float = 1e-4):
    """Mean |log(w / w_gt)| + |log(h / h_gt)| of (cx, cy, w, h) boxes.

    Twice and half the size cost the same, unlike GIoU, which favours the larger box when the
    centre is uncertain; a tracker's size errors compound multiplicatively.
    """
    ratio = pred[..., 2:4].clamp(min=eps) / target[..., 2:4].clamp(min=eps)
    return ratio.log().abs().sum(-1).mean()


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Compute CenterNet's radius: the largest corner shift keeping IoU >= min_overlap."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_heatmap(boxes, feat: int):
    """(B, 4) normalised cxcywh -> (B, 1, feat, feat) Gaussians peaking at 1 at the centre."""
    grid = torch.arange(feat, dtype=boxes.dtype, device=boxes.device)
    maps = []
    for cx, cy, w, h in (boxes * feat).tolist():
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            maps.append(torch.zeros(feat, feat, dtype=boxes.dtype, device=boxes.device))
            continue
        radius = max(0.0, gaussian_radius(h, w))
        sigma = max((2 * int(radius) + 1) / 6.0, 0.5)
        gx = torch.exp(-((grid - int(cx)) ** 2) / (2 * sigma ** 2))
        gy = torch.exp(-((grid - int(cy)) ** 2) / (2 * sigma ** 2))
        maps.append(torch.outer(gy, gx))
    return torch.stack(maps).unsqueeze(1)


def focal_loss(score_map, heatmap, alpha: float = 2.0, beta: float = 4.0, weight=None):
    """Compute the CenterNet focal loss of a sigmoid score map against a Gaussian heat map.

    ``weight`` (B,): per-sample weights (a weight-0 sample adds nothing).
    """
    pos = heatmap.eq(1).float()
    w = 1.0 if weight is None else weight.view(-1, 1, 1, 1).to(score_map.dtype)
    neg = 1.0 - pos
    p = score_map.clamp(1e-4, 1 - 1e-4)
    pos_loss = torch.log(p) * (1 - p) ** alpha * pos * w
    neg_loss = torch.log(1 - p) * p ** alpha * (1 - heatmap) ** beta * neg * w
    num_pos = (pos * w).sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / num_pos


def feature_mimic_loss(student_hidden, teacher_hidden, num_template: int):
    """MSE on template and search tokens separately, averaged (CompressTracker)."""
    zs, xs = student_hidden[:, :num_template], student_hidden[:, num_template:]
    zt, xt = teacher_hidden[:, :num_template], teacher_hidden[:, num_template:]
    return 0.5 * (F.mse_loss(zs, zt) + F.mse_loss(xs, xt))


def score_map_distill_loss(student_map, teacher_map):
    """Binary cross-entropy of the student's score map against the teacher's (soft labels)."""
    s = student_map.clamp(1e-4, 1 - 1e-4)
    return F.binary_cross_entropy(s, teacher_map.detach())


def center_to_edge_distributions(score_map, size_map, offset_map, num_bins: int,
                                 temperature: float = 1.0):
    """Dense-to-sparse: turn a center-head heat map into four edge distributions.

    Every cell proposes a box (its centre + offset, its size); its weight is the softmax of the
    score logits over the map. Each proposed edge (left, right, top, bottom) is spread linearly
    over the two nearest of ``num_bins`` positions in [0, 1]; the weighted sum over cells is
    the marginal distribution of that edge. Returns (B, 4, num_bins).
    """
    b, _, feat, _ = score_map.shape
    logits = torch.logit(score_map.clamp(1e-4, 1 - 1e-4)).flatten(1) / temperature
    weight = logits.softmax(dim=1)                                           # (B, F*F)
    idx = torch.arange(feat * feat, device=score_map.device)
    col = (idx % feat).to(score_map.dtype)
    row = torch.div(idx, feat, rounding_mode='floor').to(score_map.dtype)
    cx = (col + offset_map[:, 0].flatten(1)) / feat
    cy = (row + offset_map[:, 1].flatten(1)) / feat
    w, h = size_map[:, 0].flatten(1), size_map[:, 1].flatten(1)
    edges = torch.stack([cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2], dim=1)  # (B,4,F*F)
    pos = edges.clamp(0, 1) * (num_bins - 1)
    lo = pos.floor().clamp(max=num_bins - 2)
    frac = pos - lo
    dist = torch.zeros(b, 4, num_bins, dtype=score_map.dtype, device=score_map.device)
    w4 = weight.unsqueeze(1).expand(b, 4, -1)
    dist.scatter_add_(2, lo.long(), w4 * (1 - frac))
    dist.scatter_add_(2, lo.long() + 1, w4 * frac)
    return dist


def kl_edge_loss(student_logits, teacher_dist):
    """KL(teacher || student) over each edge's bins, averaged over edges and batch."""
    log_s = student_logits.log_softmax(dim=-1)
    t = teacher_dist.detach().clamp(min=1e-8)
    return (t * (t.log() - log_s)).sum(dim=-1).mean()


def ban_labels(boxes, points):
    """Label SiamBAN's points: (B, 4) cxcywh boxes, (F,) point positions -> (B, F, F).

    1 inside the ellipse of semi-axes (w / 4, h / 4) around the box centre, 0 outside the
    ellipse inscribed in the box (semi-axes w / 2, h / 2), -1 (ignored) in between.
    """
    cx, cy, w, h = (v.view(-1, 1, 1) for v in boxes.unbind(1))
    px, py = points.view(1, 1, -1), points.view(1, -1, 1)
    dx = (px - cx) / (w / 2).clamp(min=1e-6)
    dy = (py - cy) / (h / 2).clamp(min=1e-6)
    outer = dx ** 2 + dy ** 2
    labels = torch.full_like(outer, -1.0)
    labels[outer > 1] = 0.0
    labels[outer * 4 <= 1] = 1.0
    return labels


def ban_cls_loss(cls_logits, labels, weight=None, quality=None):
    """Cross-entropy of (B, 2, F, F) logits on labelled points, positives and negatives 50/50.

    ``quality`` (B, F, F) in 0..1: soft targets for the positives (foreground with that
    probability: an IoU-aware score) instead of 1.
    """
    log_p = cls_logits.log_softmax(1)
    w = torch.ones_like(labels) if weight is None else \
        weight.view(-1, 1, 1).to(labels.dtype).expand_as(labels)
    pos = (labels == 1).to(log_p.dtype) * w
    neg = (labels == 0).to(log_p.dtype) * w
    fg = log_p[:, 1] if quality is None else \
        quality * log_p[:, 1] + (1 - quality) * log_p[:, 0]
    pos_loss = -(fg * pos).sum() / pos.sum().clamp(min=1.0)
    neg_loss = -(log_p[:, 0] * neg).sum() / neg.sum().clamp(min=1.0)
    return 0.5 * (pos_loss + neg_loss)


def ban_point_iou(ltrb, boxes, points):
    """Return the IoU with the true box of each point's box (l/t/r/b distances): (B, F, F)."""
    cx, cy, w, h = (v.view(-1, 1, 1) for v in boxes.unbind(1))
    px, py = points.view(1, 1, -1), points.view(1, -1, 1)
    tl, tt = px - (cx - w / 2), py - (cy - h / 2)       # broadcast to (B, F, F) below
    tr, tb = (cx + w / 2) - px, (cy + h / 2) - py
    left, top, right, bottom = ltrb.unbind(1)
    inter = ((torch.min(left, tl) + torch.min(right, tr)).clamp(min=0) *
             (torch.min(top, tt) + torch.min(bottom, tb)).clamp(min=0))
    union = (left + right) * (top + bottom) + (tl + tr) * (tt + tb) - inter
    return (inter / union.clamp(min=1e-7)).clamp(0.0, 1.0)


def ban_iou_loss(ltrb, boxes, points, labels, weight=None):
    """-log IoU of each positive point's box (left/top/right/bottom distances) with the truth."""
    iou = ban_point_iou(ltrb, boxes, points)
    mask = (labels == 1).to(ltrb.dtype)
    if weight is not None:
        mask = mask * weight.view(-1, 1, 1).to(ltrb.dtype)
    return (-(iou.clamp(min=1e-6).log()) * mask).sum() / mask.sum().clamp(min=1.0)
