"""Annotated frames for RViz and the demo video (kept out of the hot path)."""

from typing import Dict

import cv2
import numpy as np


COLORS = [(0, 200, 255), (255, 120, 0), (120, 255, 0), (255, 0, 180), (0, 255, 255)]
LOST_COLOR = (255, 40, 40)


def draw_results(rgb: np.ndarray, results: Dict[str, object], fps: float = 0.0,
                 note: str = '') -> np.ndarray:
    """Return a copy of ``rgb`` with each target's box, id, score and state, and the frame rate."""
    out = rgb.copy()
    text = f'{fps:.1f} fps' + (f'  {note}' if note else '')
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    band = out[:height + 12, :width + 12]
    band[:] = band // 3                  # a dark band keeps the text legible on any image
    cv2.putText(out, text, (6, height + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    for k, (target_id, r) in enumerate(results.items()):      # boxes and labels on top
        x, y, w, h = (int(round(v)) for v in r.box)
        lost = not r.state.present
        color = LOST_COLOR if lost else COLORS[k % len(COLORS)]
        thickness = 1 if lost else 2
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thickness)
        label = f'{target_id} {r.score:.2f}' + (f' {r.state.name}' if lost else '')
        label_y = max(12, y - 4)
        if label_y - 12 < height + 12 and x < width + 12:   # it would sit under the band
            label_y = max(y, 0) + 16                          # inside the box instead
        cv2.putText(out, label, (x + 2, label_y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1,
                    cv2.LINE_AA)
    return out
