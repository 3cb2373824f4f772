"""A detector's help: its detections by frame, to select targets and to re-acquire them (no rclpy).

A detector (yolo_ros, Isaac ROS, most others) publishes ``vision_msgs/Detection2DArray`` with
the stamp of the image it ran on. The node takes these messages serialized (a subscription
with ``raw=True``): ``peek`` reads the stamp and the number of detections from the bytes
without building a Python object per detection, so a flood of boxes costs the executor thread a
copy of bytes, not seconds. A set with more than ``max_detections`` is refused there and
counted. The kept sets (a ``StampCache``, bounded in count and bytes) are turned into
``Detected`` only when someone looks one up: ``DetectionSet.detections()`` parses the bytes
once (``parse``: pure Python, every length checked, so a malformed set is none rather than a
crash), on the thread that needs it (the engine's worker, a service), and keeps only the usable
boxes (four finite numbers of sane size).

``choose`` picks one detection for a selection request (by id, by class, or nearest a point);
``candidates`` gives, for a target not seen, the detections of the frame just tracked that may
be it: those of its class when its class is known (it was selected from a detection), else all.
Every candidate is then verified by the tracker before the target moves (never a blind jump).
"""

import math
import struct
import threading
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

# Coordinates beyond this many pixels are not a camera's: such a box or point is refused.
MAX_COORDINATE = 1e6
MAX_TEXT = 256                  # characters of an id or class kept


class Detected(NamedTuple):
    """One detection: its id, best class and score, and box (x, y, w, h) in pixels."""

    id: str  # noqa: A003 - the field is vision_msgs' name
    class_id: str
    score: float
    box: Tuple[float, float, float, float]


def sane_box(box) -> bool:
    """Say whether ``box`` is (x, y, w, h) of finite numbers within MAX_COORDINATE, w, h > 0."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        return False
    values = (x, y, w, h)
    return all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in values) and w > 0 < h


def point_problem(x, y) -> str:
    """Return why (x, y) is not a usable pixel position, or ''."""
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        return 'the point must be two numbers'
    if not (math.isfinite(x) and math.isfinite(y)):
        return f'the point ({x}, {y}) is not finite'
    if abs(x) > MAX_COORDINATE or abs(y) > MAX_COORDINATE:
        return f'the point ({x:g}, {y:g}) is beyond {MAX_COORDINATE:g} pixels'
    return ''


def from_message(msg) -> Tuple[List[Detected], int]:
    """Detection2DArray -> ([Detected], how many were unusable), the best hypothesis of each.

    A detection whose box is not finite, of non-positive size or beyond MAX_COORDINATE is left
    out; ids and classes are cut to MAX_TEXT characters; a missing score is 0.
    """
    out, bad = [], 0
    for det in msg.detections:
        b = det.bbox
        w, h = float(b.size_x), float(b.size_y)
        box = (float(b.center.position.x) - w / 2.0, float(b.center.position.y) - h / 2.0, w, h)
        if not sane_box(box):
            bad += 1
            continue
        best = None
        for r in det.results:
            score = float(r.hypothesis.score)
            if math.isfinite(score) and (best is None or score > best[1]):
                best = (str(r.hypothesis.class_id)[:MAX_TEXT], score)
        cls, score = best if best is not None else ('', 0.0)
        out.append(Detected(str(det.id)[:MAX_TEXT], cls, score, box))
    return out, bad


def peek(raw: bytes) -> Tuple[int, int]:
    """Return (stamp in ns, number of detections) of a serialized Detection2DArray.

    Reads the CDR bytes (4-byte encapsulation, then header.stamp, header.frame_id, and the
    length of ``detections``) without deserializing; ValueError when they do not hold that.
    """
    if len(raw) < 16 or raw[0] != 0 or raw[1] not in (0, 1):
        raise ValueError('not a CDR-serialized message')
    order = '<' if raw[1] == 1 else '>'
    body = memoryview(raw)[4:]
    sec, nanosec, text = struct.unpack_from(order + 'iII', body, 0)
    at = 12 + text
    at += -at % 4
    if text > len(body) or at + 4 > len(body):
        raise ValueError('truncated Detection2DArray')
    (count,) = struct.unpack_from(order + 'I', body, at)
    return sec * 1_000_000_000 + nanosec, count


class _Reader:
    """Reads CDR primitives from a buffer, every read bounds-checked (ValueError past the end)."""

    def __init__(self, raw: bytes):
        if len(raw) < 4 or raw[0] != 0 or raw[1] not in (0, 1):
            raise ValueError('not a CDR-serialized message')
        self.order = '<' if raw[1] == 1 else '>'
        self.body = memoryview(raw)[4:]
        self.at = 0

    def _take(self, fmt: str, size: int):
        self.at += -self.at % size                  # CDR aligns a primitive to its size
        if self.at + struct.calcsize(fmt) > len(self.body):
            raise ValueError('truncated message')
        values = struct.unpack_from(self.order + fmt, self.body, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def u32(self) -> int:
        return self._take('I', 4)[0]

    def f64(self, count: int = 1):
        values = self._take(f'{count}d', 8)
        return values[0] if count == 1 else values

    def string(self) -> str:
        size = self.u32()
        if size > len(self.body) - self.at:
            raise ValueError('string longer than the message')
        text = bytes(self.body[self.at:self.at + size]).rstrip(b'\0')
        self.at += size
        return text[:4 * MAX_TEXT].decode('utf-8', 'replace')

    def count(self, least_bytes: int) -> int:
        """Read a sequence length that the rest of the buffer can hold."""
        n = self.u32()
        if n * least_bytes > len(self.body) - self.at:
            raise ValueError(f'a sequence of {n} does not fit in the message')
        return n


def parse(raw: bytes) -> Tuple[List[Detected], int]:
    """Parse a serialized Detection2DArray into ([Detected], how many were unusable).

    Reads only what a candidate needs (the best hypothesis, the box, the id), checking every
    length against the buffer: a malformed message is a ValueError, never a crash (rclpy's C
    deserializer aborts the process on some malformed buffers).
    """
    r = _Reader(raw)
    r.u32()
    r.u32()                                         # header.stamp
    r.string()                                      # header.frame_id
    out, bad = [], 0
    for _ in range(r.count(16)):
        r.u32()
        r.u32()
        r.string()                                  # the detection's header
        best = None
        for _ in range(r.count(8)):
            cls = r.string()
            score = r.f64()
            r.f64(7)                                # pose: position, orientation
            r.f64(36)                               # covariance
            if math.isfinite(score) and (best is None or score > best[1]):
                best = (cls[:MAX_TEXT], score)
        cx, cy, _, w, h = r.f64(5)                  # bbox: centre x, y, theta, size
        det_id = r.string()[:MAX_TEXT]
        box = (cx - w / 2.0, cy - h / 2.0, w, h)
        if not sane_box(box):
            bad += 1
            continue
        cls, score = best if best is not None else ('', 0.0)
        out.append(Detected(det_id, cls, score, box))
    return out, bad


class DetectionSet:
    """One kept Detection2DArray, serialized; its detections made on first use (thread-safe)."""

    def __init__(self, raw: bytes, parse_raw: Callable[[bytes], Tuple[List[Detected], int]]
                 = parse):
        self.raw = raw
        self._parse = parse_raw
        self._lock = threading.Lock()
        self._made: Optional[Tuple[List[Detected], int]] = None

    def detections(self) -> List[Detected]:
        return self._make()[0]

    def unusable(self) -> int:
        return self._make()[1]

    def _make(self):
        with self._lock:
            if self._made is None:
                try:
                    self._made = self._parse(self.raw)
                except ValueError:          # a malformed set holds no usable detection
                    self._made = ([], 0)
                self.raw = b''
            return self._made


def choose(detections: List[Detected], detection_id: str = '', class_id: str = '',
           point: Optional[Tuple[float, float]] = None) -> Tuple[Optional[Detected], str]:
    """Pick one detection for a request, or say why none (the first criterion given decides)."""
    if not detections:
        return None, 'that frame has no usable detections'
    if detection_id:
        for det in detections:
            if det.id == detection_id:
                return det, ''
        have = ', '.join(sorted({d.id or '(no id)' for d in detections}))
        return None, f'no detection with id {detection_id[:64]!r} in that frame ' \
            f'(have: {have[:200]})'
    if class_id:
        same = [d for d in detections if d.class_id == class_id]
        if not same:
            have = ', '.join(sorted({d.class_id for d in detections}))
            return None, f'no detection of class {class_id[:64]!r} in that frame ' \
                f'(have: {have[:200]})'
        return max(same, key=lambda d: d.score), ''
    if point is not None:
        why = point_problem(*point)
        if why:
            return None, why
        px, py = float(point[0]), float(point[1])

        def distance(d):        # boxes and point within MAX_COORDINATE: no overflow
            x, y, w, h = d.box
            dx = max(x - px, 0.0, px - (x + w))
            dy = max(y - py, 0.0, py - (y + h))
            return (dx * dx + dy * dy, (x + w / 2 - px) ** 2 + (y + h / 2 - py) ** 2)
        return min(detections, key=distance), ''
    return None, 'say which detection: detection_id, class_id or use_point with x, y'


def candidates(detections: List[Detected], unseen) -> Dict[str, List[Tuple[float, ...]]]:
    """For each target not seen ({id: TrackResult}), the boxes that may be it.

    Those of its class (``TrackResult.label``) where it has one, else all.
    """
    return {tid: [d.box for d in detections if not r.label or d.class_id == r.label]
            for tid, r in unseen.items()}
