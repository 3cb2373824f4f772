"""Turn network outputs into a box in the search crop (numpy, per target)."""

from typing import Dict, List, Optional, Tuple

import numpy as np


def _padded_side(w, h):
    pad = (w + h) / 2.0
    return np.sqrt((w + pad) * (h + pad))


def _change(r):
    return np.maximum(r, 1.0 / r)


def size_change_penalty(size_map: np.ndarray, prior, strength: float) -> np.ndarray:
    """Return SiamRPN's scale/aspect penalty, exp(-k (change(scale) change(aspect) - 1)), per cell.

    size_map (2, F, F) and ``prior`` (w, h), both normalised to the crop; change(r) =
    max(r, 1/r); the scale compares padded sides sqrt((w + p)(h + p)), p = (w + h) / 2. A box
    the size of the prior scores 1, one twice as large exp(-k).
    """
    w = np.maximum(size_map[0], 1e-6)
    h = np.maximum(size_map[1], 1e-6)
    pw, ph = max(float(prior[0]), 1e-6), max(float(prior[1]), 1e-6)
    scale = _change(_padded_side(w, h) / _padded_side(pw, ph))
    aspect = _change((pw / ph) / (w / h))
    return np.exp(-(scale * aspect - 1.0) * strength)


def decode_center(score_map: np.ndarray, size_map: np.ndarray, offset_map: np.ndarray,
                  window: Optional[np.ndarray] = None, prior=None, size_penalty: float = 0.0,
                  window_blend: float = 0.0) -> Tuple[np.ndarray, float, float]:
    """Peak of score (x penalty x window) -> (cx, cy, w, h) in the crop, raw score, penalty.

    score_map (F, F), size_map and offset_map (2, F, F). cx = (column + offset_x) / F,
    cy = (row + offset_y) / F, (w, h) = size at the peak: the convention of the training-side
    ``track_core.net.heads.decode_center_maps`` (a test holds them equal). With a ``prior``
    size (w, h in the crop) and ``size_penalty`` > 0, cells whose box differs from the prior in
    scale or aspect are ranked down (``size_change_penalty``); the returned score stays the
    network's, and the returned penalty is the peak's (1.0 without a penalty). The ``window``
    multiplies the ranking, or with ``window_blend`` b > 0 is mixed in: (1 - b) x ranked + b x
    window (SiamRPN).
    """
    feat = score_map.shape[-1]
    ranked = score_map
    penalty_map = None
    if prior is not None and size_penalty > 0:
        penalty_map = size_change_penalty(size_map, prior, size_penalty)
        ranked = ranked * penalty_map
    if window is not None:
        ranked = ranked * (1.0 - window_blend) + window * window_blend if window_blend > 0 \
            else ranked * window
    row, col = divmod(int(np.argmax(ranked)), feat)
    box = cell_box(size_map, offset_map, row, col)
    penalty = 1.0 if penalty_map is None else float(penalty_map[row, col])
    return box, float(score_map[row, col]), penalty


def cell_box(size_map: np.ndarray, offset_map: np.ndarray, row: int, col: int) -> np.ndarray:
    """Return the box (cx, cy, w, h) in the crop that cell (``row``, ``col``) predicts."""
    feat = size_map.shape[-1]
    return np.array([(col + float(offset_map[0, row, col])) / feat,
                     (row + float(offset_map[1, row, col])) / feat,
                     float(size_map[0, row, col]), float(size_map[1, row, col])])


def local_peaks(score_map: np.ndarray, min_score: float) -> List[Tuple[int, int]]:
    """Cells (row, col) that are the maximum of their 3x3 neighbourhood, best first.

    Only cells scoring ``min_score`` or more; of equal neighbours, each is a peak.
    """
    rows, cols = score_map.shape
    padded = np.full((rows + 2, cols + 2), -np.inf, np.float64)
    padded[1:-1, 1:-1] = score_map
    across = np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    around = np.maximum(np.maximum(across[:-2], across[1:-1]), across[2:])
    r, c = np.nonzero((score_map >= around) & (score_map >= min_score))
    order = np.argsort(-score_map[r, c], kind='stable')
    return [(int(r[i]), int(c[i])) for i in order]


def decode_output(out: Dict[str, np.ndarray], i: int, window: Optional[np.ndarray],
                  prior=None, size_penalty: float = 0.0, window_blend: float = 0.0
                  ) -> Tuple[np.ndarray, float, float]:
    """Decode sample ``i`` of a backend output dict (center maps or token-head box/score).

    Returns (box, score, penalty) as ``decode_center``; a token head has one box, whose
    penalty against ``prior`` is returned (nothing to rank).
    """
    if 'score_map' in out:
        return decode_center(out['score_map'][i, 0], out['size_map'][i], out['offset_map'][i],
                             window, prior, size_penalty, window_blend)
    box = np.asarray(out['box'][i], dtype=np.float64)
    penalty = 1.0
    if prior is not None and size_penalty > 0:
        penalty = float(size_change_penalty(box[2:], prior, size_penalty))
    return box, float(out['score'][i]), penalty
