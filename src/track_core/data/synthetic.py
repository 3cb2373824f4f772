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


def figure(rng, upper, lower, size: Tuple[int, int] = (36, 72)) -> np.ndarray:
    """Draw a person-like figure, w x h: a head, upper and lower body in these RGB colours."""
    w, h = size
    patch = np.empty((h, w, 3), np.uint8)
    patch[:] = (40, 40, 40)
    cv2.ellipse(patch, (w // 2, h // 7), (w // 5, h // 8), 0, 0, 360, (224, 172, 105), -1)
    cv2.rectangle(patch, (w // 6, h // 4), (w - w // 6, h * 3 // 5), upper, -1)
    cv2.rectangle(patch, (w // 4, h * 3 // 5), (w * 3 // 4, h - 1), lower, -1)
    return _grain(rng, patch)


def coated_figure(rng, coat, skirt, stripes, size: Tuple[int, int] = (36, 72)) -> np.ndarray:
    """Another person-like figure of the same size: a hat, a wide striped coat, a skirt."""
    w, h = size
    patch = np.empty((h, w, 3), np.uint8)
    patch[:] = (40, 40, 40)
    cv2.rectangle(patch, (w // 4, 0), (w * 3 // 4, h // 8), (20, 20, 20), -1)
    cv2.ellipse(patch, (w // 2, h // 6), (w // 5, h // 10), 0, 0, 360, (150, 100, 70), -1)
    cv2.rectangle(patch, (0, h // 4), (w - 1, h // 2), coat, -1)
    for y in range(h // 4, h // 2, 5):
        patch[y:y + 2, :] = stripes
    cv2.rectangle(patch, (w // 8, h // 2), (w - w // 8, h * 3 // 4), skirt, -1)
    cv2.rectangle(patch, (w // 4, h * 3 // 4), (w // 2 - 2, h - 1), (20, 20, 20), -1)
    cv2.rectangle(patch, (w // 2 + 2, h * 3 // 4), (w * 3 // 4, h - 1), (20, 20, 20), -1)
    return _grain(rng, patch)


def _grain(rng, patch):
    noise = rng.integers(-20, 20, patch.shape)
    return np.clip(patch.astype(int) + noise, 0, 255).astype(np.uint8)


def look_alike_scene(before: int = 25, gap: int = 8, away: int = 30, back: int = 20,
                     size: Tuple[int, int] = (240, 320), seed: int = 0):
    """Make a scene: a figure walks, leaves, another of its size walks in, the first returns.

    The target (red top, blue trousers) walks right for ``before`` frames; then the scene is
    empty for ``gap`` frames; then a look-alike (``coated_figure``: hat, white coat with
    black stripes, grey skirt) walks where the target left for ``away`` frames; then the
    target is back for ``back`` frames, elsewhere. The network alone scores the look-alike as
    high as the target. Returns (frames, target boxes (NaN while away), look-alike
    boxes (NaN while not in view), per-frame 'target' / 'none' / 'other').
    """
    rng = np.random.default_rng(seed)
    height, width = size
    background = cv2.resize(rng.integers(60, 140, (15, 20, 3), dtype=np.uint8), (width, height),
                            interpolation=cv2.INTER_LINEAR)
    target = figure(rng, (200, 40, 40), (30, 30, 120))
    other = coated_figure(rng, (240, 240, 240), (60, 60, 60), (20, 20, 20))
    ph, pw = target.shape[:2]
    frames, boxes, others, shown = [], [], [], []
    nan = [np.nan] * 4
    for i in range(before + gap + away + back):
        frame = background.copy()
        if i < before:
            kind, x, y, patch = 'target', 0.2 * width + 3 * i, 0.4 * height, target
        elif i < before + gap:
            kind, patch = 'none', None
        elif i < before + gap + away:
            kind = 'other'
            x, y, patch = 0.2 * width + 3 * before - 10 + (i - before - gap), 0.4 * height, other
        else:
            kind, x, y, patch = 'target', 0.65 * width + (i - before - gap - away), \
                0.45 * height, target
        box = nan
        if patch is not None:
            xi, yi = int(round(x)), int(round(y))
            frame[yi:yi + ph, xi:xi + pw] = patch
            box = [xi, yi, pw, ph]
        frames.append(frame)
        boxes.append(box if kind == 'target' else nan)
        others.append(box if kind == 'other' else nan)
        shown.append(kind)
    return frames, np.asarray(boxes, np.float64), np.asarray(others, np.float64), shown


def blurred_scene(rng, size: Tuple[int, int], side: int, cells: int):
    """Return a blurred grey-noise background (size h, w) and a blocky patch, side x side.

    The patch is ``cells`` x ``cells`` random colours blown up, lighter than the background.
    """
    background = cv2.GaussianBlur(rng.integers(60, 100, (size[0], size[1], 3)).astype(np.uint8),
                                  (0, 0), 3)
    patch = cv2.resize(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8), (side, side),
                       interpolation=cv2.INTER_NEAREST) // 2 + 128
    return background, patch


def twin_scene(length: int = 20, hidden: Tuple[int, int] = (10, 13), side: int = 24,
               apart: float = 1.4, speed: int = 3, size: Tuple[int, int] = (240, 320),
               seed: int = 0):
    """Make a scene: a patch moving right beside its twin, and hidden for a few frames.

    The twin, the same patch, moves ``apart`` sides to the left of the target, level with
    it; on frames ``hidden[0]`` to ``hidden[1] - 1`` the target is not drawn (only the twin
    is in view). Returns (frames, target boxes, twin boxes), boxes x, y, w, h.
    """
    height, width = size
    background, patch = blurred_scene(np.random.default_rng(seed), size, side, 6)
    frames, boxes, twins = [], [], []
    for i in range(length):
        x, y = int(0.375 * width) + speed * i, int(0.4 * height)
        tx = x - int(round(apart * side))
        frame = background.copy()
        frame[y:y + side, tx:tx + side] = patch
        if not hidden[0] <= i < hidden[1]:
            frame[y:y + side, x:x + side] = patch
        frames.append(frame)
        boxes.append([x, y, side, side])
        twins.append([tx, y, side, side])
    return frames, np.asarray(boxes, np.float64), np.asarray(twins, np.float64)
