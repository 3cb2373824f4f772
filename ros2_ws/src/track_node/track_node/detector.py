"""A detector's help: its detections by frame, to select targets and to re-acquire them (no rclpy).

A detector (yolo_ros, Isaac ROS, most others) publishes ``vision_msgs/Detection2DArray`` with
the stamp of the image it ran on. ``DetectionBook`` keeps the latest sets by stamp; ``choose``
picks one detection for a selection request (by id, by class, or nearest a point);
``candidates`` gives, for a LOST target, the detections of the frame just tracked that may be
it: those of its class when its class is known (it was selected from a detection), else all.
Every candidate is then verified by the tracker before the target moves (never a blind jump).
"""

import collections
import threading
from typing import Deque, Dict, List, NamedTuple, Optional, Tuple


class Detected(NamedTuple):
    """One detection: its id, best class and score, and box (x, y, w, h) in pixels."""

    id: str  # noqa: A003 - the field is vision_msgs' name
    class_id: str
    score: float
    box: Tuple[float, float, float, float]


def from_message(msg) -> List[Detected]:
    """Detection2DArray -> [Detected], the best hypothesis of each (class '' when none)."""
    out = []
    for det in msg.detections:
        b = det.bbox
        box = (b.center.position.x - b.size_x / 2.0, b.center.position.y - b.size_y / 2.0,
               float(b.size_x), float(b.size_y))
        best = max(det.results, key=lambda r: r.hypothesis.score, default=None)
        out.append(Detected(str(det.id), best.hypothesis.class_id if best else '',
                            float(best.hypothesis.score) if best else 0.0, box))
    return out


class DetectionBook:
    """The latest detection sets by stamp (bounded), from the detector's callback."""

    def __init__(self, keep: int = 30):
        self._lock = threading.Lock()
        self._sets: Deque[Tuple[int, List[Detected]]] = collections.deque(maxlen=keep)

    def add(self, stamp_ns: int, detections: List[Detected]) -> None:
        with self._lock:
            self._sets.append((int(stamp_ns), detections))

    def find(self, stamp_ns: int) -> Tuple[Optional[int], List[Detected], str]:
        """Return (stamp, detections, '') of frame ``stamp_ns`` (0: the newest), or why not."""
        with self._lock:
            sets = list(self._sets)
        if not sets:
            return None, [], 'no detections received from the detector'
        if stamp_ns == 0:
            return sets[-1][0], sets[-1][1], ''
        for stamp, dets in reversed(sets):
            if stamp == stamp_ns:
                return stamp, dets, ''
        return None, [], (f'no detections for stamp {stamp_ns / 1e9:.9f} (the detector '
                          'stamps its output with its image; kept: the last '
                          f'{len(sets)} sets)')


def choose(detections: List[Detected], detection_id: str = '', class_id: str = '',
           point: Optional[Tuple[float, float]] = None) -> Tuple[Optional[Detected], str]:
    """Pick one detection for a request, or say why none (the first criterion given decides)."""
    if not detections:
        return None, 'that frame has no detections'
    if detection_id:
        for det in detections:
            if det.id == detection_id:
                return det, ''
        have = ', '.join(sorted({d.id or '(no id)' for d in detections}))
        return None, f'no detection with id {detection_id!r} in that frame (have: {have[:200]})'
    if class_id:
        same = [d for d in detections if d.class_id == class_id]
        if not same:
            have = ', '.join(sorted({d.class_id for d in detections}))
            return None, f'no detection of class {class_id!r} in that frame (have: {have[:200]})'
        return max(same, key=lambda d: d.score), ''
    if point is not None:
        px, py = point

        def distance(d):
            x, y, w, h = d.box
            dx = max(x - px, 0.0, px - (x + w))
            dy = max(y - py, 0.0, py - (y + h))
            return (dx * dx + dy * dy, (x + w / 2 - px) ** 2 + (y + h / 2 - py) ** 2)
        return min(detections, key=distance), ''
    return None, 'say which detection: detection_id, class_id or use_point with x, y'


def candidates(detections: List[Detected], target_classes: Dict[str, str],
               lost_ids) -> Dict[str, List[Tuple[float, float, float, float]]]:
    """For each LOST target, the boxes that may be it: its class's, or all when unknown."""
    out = {}
    for tid in lost_ids:
        cls = target_classes.get(tid, '')
        out[tid] = [d.box for d in detections if not cls or d.class_id == cls]
    return out
