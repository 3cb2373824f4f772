"""Turn network outputs into a box in the search crop (numpy, per target)."""

from typing import Dict, Optional, Tuple

import numpy as np


def decode_center(score_map: np.ndarray, size_map: np.ndarray, offset_map: np.ndarray,
                  window: Optional[np.ndarray] = None) -> Tuple[np.ndarray, float]:
    """Peak of score (x window) -> (cx, cy, w, h) normalised to the crop, and the raw score.

    score_map (F, F), size_map and offset_map (2, F, F).
    """
    feat = score_map.shape[-1]
    ranked = score_map * window if window is not None else score_map
    idx = int(np.argmax(ranked))
    row, col = divmod(idx, feat)
    cx = (col + float(offset_map[0, row, col])) / feat
    cy = (row + float(offset_map[1, row, col])) / feat
    box = np.array([cx, cy, float(size_map[0, row, col]), float(size_map[1, row, col])])
    return box, float(score_map[row, col])


def decode_output(out: Dict[str, np.ndarray], i: int, window: Optional[np.ndarray]
                  ) -> Tuple[np.ndarray, float]:
    """Decode sample ``i`` of a backend output dict (center maps or token-head box/score)."""
    if 'score_map' in out:
        return decode_center(out['score_map'][i, 0], out['size_map'][i], out['offset_map'][i],
                             window)
    return np.asarray(out['box'][i], dtype=np.float64), float(out['score'][i])
