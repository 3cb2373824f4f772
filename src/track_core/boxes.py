"""Box conventions and checks. Boxes are (x, y, w, h) in pixels unless a name says otherwise."""

import math
from typing import Sequence

import numpy as np


def xywh_to_cxcywh(box: Sequence[float]) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2.0, y + h / 2.0, w, h], dtype=np.float64)


def cxcywh_to_xywh(box: Sequence[float]) -> np.ndarray:
    cx, cy, w, h = box
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float64)


def clip_box(box: Sequence[float], width: int, height: int, min_size: float = 1.0) -> np.ndarray:
    """Clip an (x, y, w, h) box to the image, keeping at least ``min_size`` pixels each way."""
    x, y, w, h = (float(v) for v in box)
    x1 = min(max(x, 0.0), width - min_size)
    y1 = min(max(y, 0.0), height - min_size)
    x2 = min(max(x + w, x1 + min_size), float(width))
    y2 = min(max(y + h, y1 + min_size), float(height))
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise IoU of two (N, 4) arrays of (x, y, w, h) boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def check_box(box: Sequence[float], width: int, height: int) -> np.ndarray:
    """Validate a user box against an image of ``width`` x ``height``; return it as floats.

    Raises ValueError saying what is wrong: not four finite numbers, a zero or negative size,
    or no overlap with the image.
    """
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise ValueError(f'box must be four numbers (x, y, w, h), got {box!r}') from None
    if len(values) != 4:
        raise ValueError(f'box must be four numbers (x, y, w, h), got {len(values)} values')
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f'box has a NaN or infinite value: {values}')
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise ValueError(f'box width and height must be positive, got w={w:g}, h={h:g}')
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise ValueError(
            f'box {values} lies outside the image ({width}x{height} pixels)')
    return np.array(values, dtype=np.float64)
