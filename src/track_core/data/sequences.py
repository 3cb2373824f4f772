"""Readers for annotated tracking sequences.

Layouts (see ../shared/docs/method.md): the shared uniform layout (``<seq>/img/*.jpg`` +
``groundtruth.txt``), GOT-10k (``<seq>/00000001.jpg`` + ``groundtruth.txt`` +
``absence.label``), LaSOT (``<class>/<class>-N/img`` + ``groundtruth.txt`` +
``full_occlusion.txt`` + ``out_of_view.txt``), OTB / UAV123 / DTB70 (``<seq>/img`` +
``groundtruth_rect.txt``), TrackingNet (``TRAIN_k/frames/<seq>/0.jpg`` +
``TRAIN_k/anno/<seq>.txt``), and a folder of videos, each with a box file beside it
(``clip.mp4`` + ``clip.txt``).

Box files hold one row per frame: ``x,y,w,h`` (comma, tab or space separated), an 8-value
polygon (its axis-aligned bounding box is used), or NaN values where the target is absent.
"""

from dataclasses import dataclass, field
import math
import pathlib
import re
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm')


class DataError(ValueError):
    """Unusable data; the message names the file (and line) and what is wrong."""


@dataclass
class Sequence:
    """One annotated sequence. ``boxes`` (N, 4) x, y, w, h; ``visible`` (N,) bool."""

    name: str
    boxes: np.ndarray
    visible: np.ndarray
    frames: List[pathlib.Path] = field(default_factory=list)
    video: Optional[pathlib.Path] = None
    _video_cache: Optional[list] = field(default=None, repr=False)
    # frames made on request (with_cut_away) instead of read from files or a video
    source: Optional[Callable[[int], np.ndarray]] = field(default=None, repr=False)

    def __len__(self):
        return len(self.boxes)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an HxWx3 uint8 RGB array."""
        if self.source is not None:
            return self.source(index)
        if self.video is not None:
            if self._video_cache is None:
                self._video_cache = read_video(self.video)
            return self._video_cache[index]
        path = self.frames[index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f'{path}: cannot read image (missing or corrupt)')
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_video(path: pathlib.Path) -> list:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise DataError(f'{path}: no frames could be decoded')
    return frames


_SPLIT = re.compile(r'[,\s]+')


def read_boxes(path) -> np.ndarray:
    """Read a box file: (N, 4) float array, NaN rows where the target is absent."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f'{path}: box file not found')
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        parts = [p for p in _SPLIT.split(text) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise DataError(f'{path}:{lineno}: not numbers: {text!r}') from None
        if len(values) == 4:
            box = values
        elif len(values) == 8:
            xs, ys = values[0::2], values[1::2]
            box = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        else:
            raise DataError(f'{path}:{lineno}: expected 4 (x,y,w,h) or 8 (polygon) values, '
                            f'got {len(values)}')
        if any(math.isnan(v) for v in box):
            box = [math.nan] * 4
        rows.append(box)
    if not rows:
        raise DataError(f'{path}: no boxes')
    return np.asarray(rows, dtype=np.float64)


def _read_flags(path: pathlib.Path, count: int) -> np.ndarray:
    if not path.is_file():
        return np.zeros(count, dtype=bool)
    text = path.read_text().replace(',', ' ').split()
    try:
        flags = np.array([int(float(v)) for v in text], dtype=bool)
    except ValueError:
        raise DataError(f'{path}: flags must be 0/1 values') from None
    if len(flags) != count:
        raise DataError(f'{path}: {len(flags)} flags for {count} boxes')
    return flags


def _visible(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def _images(folder: pathlib.Path) -> List[pathlib.Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def _make(name, frames, boxes, box_file, absent=None) -> Sequence:
    if not frames:
        raise DataError(f'{box_file.parent}: no frames')
    if len(frames) < len(boxes):
        raise DataError(f'{box_file}: {len(boxes)} boxes but only {len(frames)} frames')
    frames = frames[:len(boxes)]
    visible = _visible(boxes)
    if absent is not None:
        visible &= ~absent
    return Sequence(name, boxes, visible, frames)


# ---------------------------------------------------------------- one sequence per layout
def read_uniform(seq_dir: pathlib.Path) -> Sequence:
    box_file = seq_dir / 'groundtruth.txt'
    return _make(seq_dir.name, _images(seq_dir / 'img'), read_boxes(box_file), box_file)


def read_got10k(seq_dir: pathlib.Path) -> Sequence:
    box_file = seq_dir / 'groundtruth.txt'
    boxes = read_boxes(box_file)
    absent = _read_flags(seq_dir / 'absence.label', len(boxes))
    return _make(seq_dir.name, _images(seq_dir), boxes, box_file, absent)


def read_lasot(seq_dir: pathlib.Path) -> Sequence:
    box_file = seq_dir / 'groundtruth.txt'
    boxes = read_boxes(box_file)
    absent = (_read_flags(seq_dir / 'full_occlusion.txt', len(boxes))
              | _read_flags(seq_dir / 'out_of_view.txt', len(boxes)))
    return _make(seq_dir.name, _images(seq_dir / 'img'), boxes, box_file, absent)


def read_otb(seq_dir: pathlib.Path) -> Sequence:
    box_file = seq_dir / 'groundtruth_rect.txt'
    return _make(seq_dir.name, _images(seq_dir / 'img'), read_boxes(box_file), box_file)


def read_trackingnet_chunk(chunk: pathlib.Path) -> List[Sequence]:
    out = []
    for box_file in sorted((chunk / 'anno').glob('*.txt')):
        frames_dir = chunk / 'frames' / box_file.stem
        frames = sorted(_images(frames_dir), key=lambda p: int(p.stem)) \
            if frames_dir.is_dir() else []
        out.append(_make(box_file.stem, frames, read_boxes(box_file), box_file))
    return out


def read_video_folder(folder: pathlib.Path) -> List[Sequence]:
    out = []
    for video in sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS):
        box_file = video.with_suffix('.txt')
        if not box_file.is_file():
            continue
        boxes = read_boxes(box_file)
        out.append(Sequence(video.stem, boxes, _visible(boxes), [], video))
    return out


def fit_frame(image: np.ndarray, shape) -> np.ndarray:
    """Return another scene's ``image`` at the frame size ``shape`` (height, width, ...)."""
    height, width = shape[:2]
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def with_cut_away(seq: Sequence, other: Sequence, count: int) -> Sequence:
    """``seq`` followed by ``count`` frames of another scene, where its target is absent.

    The view cuts to ``other``'s frames from its start (resized to ``seq``'s frame size,
    repeated if ``other`` is shorter), as when a robot's camera turns away or the target leaves
    for good: whether a tracker then still says TRACKING shows whether its LOST state can be
    trusted. The added frames have no box (NaN), so accuracy figures skip them; the name stays,
    so runs with and without the cut compare sequence by sequence.
    """
    if count < 0:
        raise ValueError(f'cut-away frame count must be >= 0, got {count}')
    if other is seq or other.name == seq.name:
        raise ValueError(f"{seq.name}: a cut-away needs another sequence's frames")
    size = {}

    def frame(index):
        if index < len(seq):
            image = seq.frame(index)
            size.setdefault('hw', image.shape[:2])
            return image
        if 'hw' not in size:
            size['hw'] = seq.frame(0).shape[:2]
        return fit_frame(other.frame((index - len(seq)) % len(other)), size['hw'])
    boxes = np.concatenate([seq.boxes, np.full((count, 4), np.nan)])
    visible = np.concatenate([seq.visible, np.zeros(count, bool)])
    return Sequence(seq.name, boxes, visible, source=frame)


def with_leave_and_return(seq: Sequence, other: Sequence, leave_at: int, count: int,
                          skip: int = 0) -> Sequence:
    """``seq``'s frames before ``leave_at``, ``count`` frames of another scene, then the rest.

    The target leaves the view for ``count`` frames (another scene at ``seq``'s frame size,
    no box) and comes back where its ground truth is: where it left (``skip`` = 0), or where
    it has moved to meanwhile (the next ``skip`` frames of ``seq`` are dropped). The return
    is at index ``leave_at + count`` of the result.
    """
    if other is seq or other.name == seq.name:
        raise ValueError(f"{seq.name}: the absence needs another sequence's frames")

    def away(k, h, w):
        return fit_frame(other.frame(k % len(other)), (h, w))
    return _splice(seq, leave_at, count, skip, away)


def _splice(seq: Sequence, leave_at: int, count: int, skip: int, away) -> Sequence:
    """``seq`` cut at ``leave_at`` by ``count`` frames ``away(k, height, width)``, then on.

    The frames away have no box; ``skip`` frames of ``seq`` are dropped before the rest.
    """
    if not 0 < leave_at < len(seq) - skip:
        raise ValueError(f'{seq.name}: leave at 1..{len(seq) - skip - 1}, got {leave_at}')
    if count < 1 or skip < 0:
        raise ValueError(f'absent frames must be >= 1 and skip >= 0, got {count}, {skip}')
    size = {}

    def frame(index):
        if index < leave_at:
            return seq.frame(index)
        if index >= leave_at + count:
            return seq.frame(index - count + skip)
        if 'hw' not in size:
            size['hw'] = seq.frame(0).shape[:2]
        return away(index - leave_at, *size['hw'])
    rest = slice(leave_at + skip, len(seq))
    boxes = np.concatenate([seq.boxes[:leave_at], np.full((count, 4), np.nan),
                            seq.boxes[rest]])
    visible = np.concatenate([seq.visible[:leave_at], np.zeros(count, bool),
                              seq.visible[rest]])
    return Sequence(seq.name, boxes, visible, source=frame)


def with_small_target(seq: Sequence, side: float = 16.0) -> Sequence:
    """``seq`` replayed so that its target is about ``side`` pixels (sqrt(w h) on frame 1).

    Each frame is downscaled by s = side / sqrt(w h) of the first box (s <= 1: a target
    already that small is left as it is), with area interpolation, and pasted in the middle of
    a canvas of the original size filled with the frame's mean colour; the boxes are scaled by
    s and shifted by the same offset. The camera sees the same scene from farther away, so the
    target and everything around it shrink together, as for a small target in a real video.
    """
    if not side > 0:
        raise ValueError(f'a small target is a positive number of pixels, got {side}')
    first = np.flatnonzero(np.isfinite(seq.boxes).all(axis=1))
    if not len(first):
        raise ValueError(f'{seq.name}: no box to size the target by')
    w0, h0 = seq.boxes[first[0], 2:]
    scale = min(1.0, side / float(np.sqrt(max(w0 * h0, 1e-9))))
    size = {}

    def geometry():
        if 'hw' not in size:
            h, w = seq.frame(0).shape[:2]
            sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
            size['hw'] = (h, w, sw, sh, (w - sw) // 2, (h - sh) // 2)
        return size['hw']

    def frame(index):
        h, w, sw, sh, ox, oy = geometry()
        image = seq.frame(index)
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        canvas[oy:oy + sh, ox:ox + sw] = small
        return canvas
    h, w, sw, sh, ox, oy = geometry()
    boxes = seq.boxes.astype(np.float64).copy()     # at the rounded scale the frames get
    boxes[:, [0, 2]] *= sw / w
    boxes[:, [1, 3]] *= sh / h
    boxes[:, 0] += ox
    boxes[:, 1] += oy
    return Sequence(seq.name, boxes, seq.visible.copy(), source=frame)


def with_jpeg(seq: Sequence, quality: int) -> Sequence:
    """``seq`` with every frame encoded as JPEG at ``quality`` (1-100) and decoded again.

    What a camera's encoder does to a frame at the size it is replayed at: a replay that
    shrinks the scene (``with_small_target``) also shrinks the original's compression
    artefacts away, and leaves a small target cleaner than a real one; re-encoding puts
    them back at the new scale. The boxes are unchanged.
    """
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f'JPEG quality must be 1-100, got {quality}')
    return Sequence(seq.name, seq.boxes.copy(), seq.visible.copy(),
                    source=lambda index: jpeg_roundtrip(seq.frame(index), quality))


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Return the RGB ``image`` encoded as JPEG at ``quality`` (1-100) and decoded again."""
    ok, data = cv2.imencode('.jpg', np.ascontiguousarray(image[..., ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError('the image could not be encoded as JPEG')
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def with_look_alike(seq: Sequence, still: np.ndarray, instance, leave_at: int, count: int,
                    skip: int = 0, drift=(2.0, 1.0)) -> Sequence:
    """Leave-and-return where the absence shows another object of the target's kind.

    ``still`` (an RGB image) holds the look-alike at ``instance`` (x, y, w, h). For the
    ``count`` frames away, the still is scaled so that the look-alike is the size the target
    had when it left, and placed with the look-alike's centre where the target was, drifting
    by ``drift`` pixels a frame (a canvas of the frame's size in the still's mean colour
    around it). The target then comes back as in ``with_leave_and_return``. The result's
    ``distractors`` (N, 4) are the look-alike's boxes (NaN on the target's frames).
    """
    last = seq.boxes[:leave_at][np.isfinite(seq.boxes[:leave_at]).all(axis=1)]
    if not len(last):
        raise ValueError(f'{seq.name}: no box before frame {leave_at}')
    tx, ty, tw, th = last[-1]
    ix, iy, iw, ih = (float(v) for v in instance)
    scale = float(np.sqrt(tw * th / max(iw * ih, 1e-9)))
    scaled = cv2.resize(still, (max(1, round(still.shape[1] * scale)),
                                max(1, round(still.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    colour = still.reshape(-1, 3).mean(axis=0).astype(np.uint8)

    def placement(k):
        """Return the still's top-left corner in frame ``k`` away, and the look-alike's box."""
        cx = tx + tw / 2 + drift[0] * k
        cy = ty + th / 2 + drift[1] * k
        ox = round(cx - (ix + iw / 2) * scale)
        oy = round(cy - (iy + ih / 2) * scale)
        return ox, oy, (ox + ix * scale, oy + iy * scale, iw * scale, ih * scale)

    def away(k, h, w):
        ox, oy, _ = placement(k)
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = colour
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + scaled.shape[1], w), min(oy + scaled.shape[0], h)
        if x1 > x0 and y1 > y0:
            canvas[y0:y1, x0:x1] = scaled[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        return canvas
    out = _splice(seq, leave_at, count, skip, away)
    out.distractors = np.full((len(out), 4), np.nan)
    for k in range(count):
        out.distractors[leave_at + k] = placement(k)[2]
    return out


def with_distractor(seq: Sequence, still: np.ndarray, instance, period: int = 90
                    ) -> Sequence:
    """``seq`` with another object of the target's kind beside the target on every frame.

    ``still`` (RGB) holds the look-alike at ``instance`` (x, y, w, h). From the second frame
    on, while the target is annotated, the look-alike's box, cut from the still and scaled to
    the target's area, is pasted level with the target on the side with more room, from
    touching it to 1.5 target widths away and back over ``period`` frames (it comes and goes
    beside the target, never over it). The result's
    ``distractors`` (N, 4) are the pasted boxes (NaN where there is none).
    """
    ix, iy, iw, ih = (int(round(float(v))) for v in instance)
    patch = still[max(iy, 0):iy + ih, max(ix, 0):ix + iw]
    if patch.size == 0:
        raise ValueError(f'look-alike box {tuple(instance)} is outside its image')
    first = seq.frame(0)
    height, width = first.shape[:2]
    boxes = np.asarray(seq.boxes, np.float64)
    valid = np.flatnonzero(np.isfinite(boxes).all(axis=1))
    if not len(valid):
        raise ValueError(f'{seq.name}: no box to place a look-alike by')
    x0, _, w0, _ = boxes[valid[0]]
    side = 1.0 if x0 + w0 / 2 < width / 2 else -1.0     # towards the wider half
    ph, pw = patch.shape[:2]
    placed = np.full((len(seq), 4), np.nan)
    for k in valid[valid > valid[0]]:
        x, y, w, h = boxes[k]
        if w <= 0 or h <= 0:
            continue
        scale = float(np.sqrt(w * h / (pw * ph)))
        dw, dh = max(1, round(pw * scale)), max(1, round(ph * scale))
        distance = (w + dw) / 2 + w * 0.75 * (1 - np.cos(2 * np.pi * k / period))
        cx, cy = x + w / 2 + side * distance, y + h / 2
        bx, by = round(cx - dw / 2), round(cy - dh / 2)
        if bx + dw > 0 and by + dh > 0 and bx < width and by < height:
            placed[k] = (bx, by, dw, dh)

    def frame(index):
        image = seq.frame(index)
        if not np.isfinite(placed[index]).all():
            return image
        bx, by, dw, dh = (int(v) for v in placed[index])
        return paste(image, scaled(patch, dw, dh), (bx, by))
    out = Sequence(seq.name, boxes.copy(), seq.visible.copy(), source=frame)
    out.distractors = placed
    return out


def occluder_size(size, patch_shape, area: float) -> Tuple[int, int]:
    """Return (w, h) of a patch of ``patch_shape`` scaled over ``area`` x a box of ``size``.

    The patch's aspect is kept, then each side is capped at 0.8 of the box's (w, h), so some
    of the box stays in view; rounded to pixels (0 where a side rounds away).
    """
    w, h = (float(v) for v in size)
    ph, pw = patch_shape[:2]
    scale = math.sqrt(area * w * h / (pw * ph))
    return int(round(min(pw * scale, 0.8 * w))), int(round(min(ph * scale, 0.8 * h)))


def scaled(patch: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return ``patch`` resized to (width, height): area interpolation down, linear up."""
    return cv2.resize(patch, (width, height), interpolation=cv2.INTER_AREA
                      if width < patch.shape[1] else cv2.INTER_LINEAR)


def with_occluder(seq: Sequence, patch: np.ndarray, area: float, offset=(0.0, 0.0)
                  ) -> Sequence:
    """``seq`` with a static occluder over part of its first box, on every frame.

    ``patch`` (RGB) is scaled, its aspect kept, to ``area`` x the first box's area, each side
    then capped at 0.8 of the box's, and pasted centred at the box centre moved by ``offset``
    (dx, dy) x (w, h), at the same pixels on every frame: a target selected while partly
    behind a post or a sign, which stays while the target moves on. The boxes are unchanged.
    """
    boxes = np.asarray(seq.boxes, np.float64)
    valid = np.flatnonzero(np.isfinite(boxes).all(axis=1))
    if not len(valid):
        raise ValueError(f'{seq.name}: no box to place an occluder by')
    if not 0.0 < area <= 1.0:
        raise ValueError(f'occluder area must be in (0, 1] of the box, got {area}')
    x, y, w, h = boxes[valid[0]]
    dw, dh = (max(1, side) for side in occluder_size((w, h), patch.shape, area))
    resized = scaled(patch, dw, dh)
    cx, cy = x + w * (0.5 + offset[0]), y + h * (0.5 + offset[1])
    bx, by = int(round(cx - dw / 2)), int(round(cy - dh / 2))

    def frame(index):
        return paste(seq.frame(index), resized, (bx, by))
    out = Sequence(seq.name, boxes.copy(), seq.visible.copy(), source=frame)
    out.occluder = (bx, by, dw, dh)
    return out


def paste(image: np.ndarray, patch: np.ndarray, at) -> np.ndarray:
    """Return a copy of ``image`` with ``patch`` at top-left ``at`` (x, y), clipped to it."""
    out = image.copy()
    bx, by = at
    dh, dw = patch.shape[:2]
    height, width = out.shape[:2]
    xa, ya, xb, yb = max(bx, 0), max(by, 0), min(bx + dw, width), min(by + dh, height)
    if xa < xb and ya < yb:
        out[ya:yb, xa:xb] = patch[ya - by:yb - by, xa - bx:xb - bx]
    return out


# ---------------------------------------------------------------- discovery
def detect_format(root: pathlib.Path) -> str:
    """Guess a dataset root's layout from what is inside it."""
    if any(root.glob('TRAIN_*/anno')) or (root / 'anno').is_dir():
        return 'trackingnet'
    if any(p.suffix.lower() in VIDEO_EXTENSIONS for p in root.iterdir() if p.is_file()):
        return 'videos'
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if (child / 'groundtruth_rect.txt').is_file():
            return 'otb'
        if (child / 'groundtruth.txt').is_file():
            return 'uniform' if (child / 'img').is_dir() else 'got10k'
        if any((g / 'groundtruth.txt').is_file() and (g / 'img').is_dir()
               for g in child.iterdir() if g.is_dir()):
            return 'lasot'
    raise DataError(f'{root}: no known sequence layout found')


def find_sequences(root, fmt: str = 'auto', on_skip: Optional[Callable[[str], None]] = None
                   ) -> List[Sequence]:
    """All sequences under ``root``.

    Unreadable ones are skipped and reported via ``on_skip`` (default: raise), never silently
    dropped.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DataError(f'{root}: dataset folder not found')
    fmt = detect_format(root) if fmt == 'auto' else fmt
    readers = {'uniform': read_uniform, 'got10k': read_got10k, 'otb': read_otb}
    sequences: List[Sequence] = []

    def attempt(fn, *args):
        try:
            result = fn(*args)
        except DataError as exc:
            if on_skip is None:
                raise
            on_skip(str(exc))
            return
        sequences.extend(result if isinstance(result, list) else [result])

    if fmt in readers:
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            attempt(readers[fmt], child)
    elif fmt == 'lasot':
        for cls in sorted(p for p in root.iterdir() if p.is_dir()):
            for child in sorted(p for p in cls.iterdir() if p.is_dir()):
                attempt(read_lasot, child)
    elif fmt == 'trackingnet':
        chunks = sorted(root.glob('TRAIN_*')) or [root]
        for chunk in chunks:
            attempt(read_trackingnet_chunk, chunk)
    elif fmt == 'videos':
        attempt(read_video_folder, root)
    else:
        raise DataError(f'unknown dataset format {fmt!r}; use auto, uniform, got10k, lasot, '
                        'otb, trackingnet or videos')
    return sequences
