"""One-pass evaluation metrics (OTB / LaSOT conventions).

Per frame: IoU between predicted and ground-truth (x, y, w, h) boxes, centre error in
pixels, and centre error normalised by the ground-truth size. Frames whose ground truth is
absent (NaN or empty) are skipped. A missing prediction (NaN) counts as IoU 0 and an infinite
centre error.

- success curve: fraction of frames with IoU > t for t = 0, 0.05, ..., 1 (21 thresholds);
  AUC is the mean of that curve;
- precision curve: fraction with centre error <= t px, t = 0..50; precision = value at 20 px;
- normalised precision: fraction with normalised error <= t, t = 0..0.5 (51 points); the
  reported figure is the value at 0.2 (the issue's convention; LaSOT reports the curve's AUC).
"""

from dataclasses import dataclass
from typing import Dict, Iterable

import numpy as np

from track_core.boxes import iou_xywh

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)


@dataclass
class FrameErrors:
    iou: np.ndarray
    center_error: np.ndarray
    norm_center_error: np.ndarray


def frame_errors(pred: np.ndarray, gt: np.ndarray) -> FrameErrors:
    """Per-frame errors over the frames with a valid ground truth."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if len(pred) != len(gt):
        raise ValueError(f'{len(pred)} predictions for {len(gt)} ground-truth boxes')
    valid = np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    pred, gt = pred[valid], gt[valid]
    ok = np.isfinite(pred).all(axis=1)
    safe = np.where(ok[:, None], pred, 0.0)
    iou = np.where(ok, iou_xywh(safe, gt), 0.0)
    pc = safe[:, :2] + safe[:, 2:] / 2
    gc = gt[:, :2] + gt[:, 2:] / 2
    err = np.where(ok, np.linalg.norm(pc - gc, axis=1), np.inf)
    norm = np.where(ok, np.linalg.norm((pc - gc) / gt[:, 2:], axis=1), np.inf)
    return FrameErrors(iou, err, norm)


def curves(errors: FrameErrors) -> Dict[str, np.ndarray]:
    n = max(len(errors.iou), 1)
    return {
        'success': np.array([(errors.iou > t).sum() / n for t in SUCCESS_THRESHOLDS]),
        'precision': np.array([(errors.center_error <= t).sum() / n
                               for t in PRECISION_THRESHOLDS]),
        'norm_precision': np.array([(errors.norm_center_error <= t).sum() / n
                                    for t in NORM_PRECISION_THRESHOLDS]),
    }


def summary(errors: FrameErrors) -> Dict[str, float]:
    c = curves(errors)
    return {'auc': float(c['success'].mean()),
            'precision': float(c['precision'][20]),
            'norm_precision': float(c['norm_precision'][20]),
            'mean_iou': float(errors.iou.mean()) if len(errors.iou) else 0.0,
            'frames': int(len(errors.iou))}


def concat(errors: Iterable[FrameErrors]) -> FrameErrors:
    errors = list(errors)
    return FrameErrors(np.concatenate([e.iou for e in errors]),
                       np.concatenate([e.center_error for e in errors]),
                       np.concatenate([e.norm_center_error for e in errors]))
