"""Synthetic moving-object sequences for tests.

A textured patch moving over a textured background, with exact boxes. Deterministic for a given
seed.
"""

import pathlib
from typing import Tuple

import cv2
import numpy as np


def _texture(rng, height, width, cells=8):
    small = rng.integers(0, 256, (max(1, height // cells), max(1, width // cells), 3),
                         dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def moving_object_sequence(length: int = 20, size: Tuple[int, int] = (240, 320),
                           box_size: Tuple[int, int] = (40, 30), speed: float = 4.0,
                           seed: int = 0):
    """Frames (list of HxWx3 uint8 RGB) and boxes (N, 4) x, y, w, h of one moving object."""
    rng = np.random.default_rng(seed)
    height, width = size
    bw, bh = box_size
    background = _texture(rng, height, width, cells=16) // 2
    patch = _texture(rng, bh, bw, cells=4) // 2 + 128
    x, y = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
    angle = rng.uniform(0, 2 * np.pi)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    frames, boxes = [], []
    for _ in range(length):
        frame = background.copy()
        xi, yi = int(round(x)), int(round(y))
        frame[yi:yi + bh, xi:xi + bw] = patch
        frames.append(frame)
        boxes.append([xi, yi, bw, bh])
        x, y = x + vx, y + vy
        if not 0 <= x <= width - bw:
            vx, x = -vx, min(max(x, 0), width - bw)
        if not 0 <= y <= height - bh:
            vy, y = -vy, min(max(y, 0), height - bh)
    return frames, np.asarray(boxes, dtype=np.float64)


def write_uniform_sequence(root, name: str, frames, boxes) -> pathlib.Path:
    """Write frames + boxes in the shared uniform layout; return the sequence folder."""
    seq = pathlib.Path(root) / name
    (seq / 'img').mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        cv2.imwrite(str(seq / 'img' / f'{i:08d}.jpg'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
    lines = ['NaN,NaN,NaN,NaN' if not np.isfinite(b).all() else ','.join(f'{v:g}' for v in b)
             for b in boxes]
    (seq / 'groundtruth.txt').write_text('\n'.join(lines) + '\n')
    return seq
