"""rosbag2 recordings (sqlite3 or MCAP) as sequences, read and written with ``rosbags``.

``rosbags`` is a pure-Python reader and writer of ROS bags: no ROS installation is needed, so
a recording from the robot can be tracked and evaluated at a desk. ``read_bag`` turns an image
topic (``sensor_msgs/Image`` or ``CompressedImage``) into a ``Sequence`` whose frames are
decoded on request, with each frame's recorded stamp and frame id; with a reference topic
(``vision_msgs/Detection2DArray``, e.g. hand-labelled boxes) its boxes are the ground truth,
matched by stamp. ``typestore()`` knows the message types the product writes: vision_msgs
4.1 (upstream's field lists) and track_interfaces (a test holds these definitions equal to
the package's .msg files).
"""

import contextlib
import pathlib
from typing import Dict, List, NamedTuple, Optional

import cv2
import numpy as np

from track_core.data.sequences import DataError, Sequence

# vision_msgs 4.1 (Humble, Jazzy; 4.2 on Kilted changed only CMake) and track_interfaces.
DEFINITIONS: Dict[str, str] = {
    'vision_msgs/msg/Point2D': 'float64 x\nfloat64 y\n',
    'vision_msgs/msg/Pose2D': 'vision_msgs/Point2D position\nfloat64 theta\n',
    'vision_msgs/msg/BoundingBox2D': 'vision_msgs/Pose2D center\nfloat64 size_x\n'
                                     'float64 size_y\n',
    'vision_msgs/msg/ObjectHypothesis': 'string class_id\nfloat64 score\n',
    'vision_msgs/msg/ObjectHypothesisWithPose': 'vision_msgs/ObjectHypothesis hypothesis\n'
                                                'geometry_msgs/PoseWithCovariance pose\n',
    'vision_msgs/msg/Detection2D': 'std_msgs/Header header\n'
                                   'vision_msgs/ObjectHypothesisWithPose[] results\n'
                                   'vision_msgs/BoundingBox2D bbox\nstring id\n',
    'vision_msgs/msg/Detection2DArray': 'std_msgs/Header header\n'
                                        'vision_msgs/Detection2D[] detections\n',
    'track_interfaces/msg/TargetState': (
        'uint8 STATE_TRACKING=1\nuint8 STATE_SEARCHING=2\nuint8 STATE_REACQUIRED=3\n'
        'uint8 STATE_UNSURE=4\nuint8 STATE_LOST=2\n'
        'string id\nuint8 state\nfloat32 score\nuint32 frames_below_threshold\n'
        'float32 seconds_since_seen\nbool has_position\ngeometry_msgs/Point position\n'
        'string position_frame\nstring position_status\n'),
    'track_interfaces/msg/TrackingState': (
        'std_msgs/Header header\ntrack_interfaces/TargetState[] targets\nfloat32 latency_ms\n'
        'float32 fps\nuint64 dropped_frames\nstring message\n'),
}
IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
DETECTIONS = 'vision_msgs/msg/Detection2DArray'
BAG_SUFFIXES = ('.mcap', '.db3')


def typestore():
    """Return a rosbags typestore with ROS 2's common types and the product's own."""
    from rosbags.typesys import get_types_from_msg, get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for name, text in DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def is_bag(path) -> bool:
    """Say whether ``path`` is a rosbag2 folder (with metadata.yaml) or a .mcap / .db3 file."""
    path = pathlib.Path(path)
    return (path.is_dir() and (path / 'metadata.yaml').is_file()) or \
        (path.is_file() and path.suffix in BAG_SUFFIXES)


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class BagFrame(NamedTuple):
    """One recorded image: its header stamp and frame id, its log time, and its message."""

    stamp_ns: int
    frame_id: str
    log_ns: int
    message: object


def _reader(path):
    from rosbags.highlevel import AnyReader
    try:
        return AnyReader([pathlib.Path(path)], default_typestore=typestore())
    except Exception as exc:  # noqa: BLE001 - rosbags' errors share no base; say which bag
        raise DataError(f'{path}: not a readable rosbag2 recording ({exc})') from None


def topics(path) -> Dict[str, str]:
    """Return {topic: message type} of a bag."""
    with _reader(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


@contextlib.contextmanager
def image_stream(path, topic: str):
    """Yield (message type, count, iterator of (log ns, message, CDR bytes)) of an image topic.

    One message at a time, in log order: memory stays that of a frame whatever the bag's size.
    """
    with _reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            have = ', '.join(f'{c.topic} ({c.msgtype})' for c in reader.connections)
            raise DataError(f'{path}: no topic {topic!r} (it has: {have or "none"})')
        kind = connections[0].msgtype
        if kind not in (IMAGE, COMPRESSED):
            raise DataError(f'{path}: {topic} is {kind}, not {IMAGE} or {COMPRESSED}')
        total = sum(c.msgcount for c in connections)
        yield kind, total, ((log_ns, reader.deserialize(raw, kind), raw)
                            for _, log_ns, raw in reader.messages(connections=connections))


def read_images(path, topic: str) -> List[BagFrame]:
    """Return every message of image topic ``topic`` (raw or compressed), in log order."""
    with image_stream(path, topic) as (_, _, messages):
        return [BagFrame(stamp_ns(m.header), m.header.frame_id, log, m)
                for log, m, _ in messages]


def read_detections(path, topic: str) -> Dict[int, object]:
    """Return {header stamp: Detection2DArray} of a detections topic."""
    with _reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            raise DataError(f'{path}: no topic {topic!r}')
        if connections[0].msgtype != DETECTIONS:
            raise DataError(f'{path}: {topic} is {connections[0].msgtype}, not {DETECTIONS}')
        return {stamp_ns(m.header): m for m in
                (reader.deserialize(raw, c.msgtype)
                 for c, _, raw in reader.messages(connections=connections))}


def to_rgb(msg) -> np.ndarray:
    """Convert an Image (rgb8, bgr8, rgba8, bgra8, mono8) or CompressedImage to HxWx3 RGB."""
    if hasattr(msg, 'format'):
        bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataError(f'compressed image ({msg.format!r}) does not decode')
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}.get(msg.encoding)
    if channels is None:
        raise DataError(f'image encoding {msg.encoding!r} is not rgb8, bgr8, rgba8, bgra8 or '
                        'mono8')
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(bytes(msg.data), np.uint8)
    if h <= 0 or w <= 0 or step < w * channels or data.size < step * h:
        raise DataError(f'image {w}x{h} (step {step}) does not match its {data.size} bytes')
    pixels = data[:step * h].reshape(h, step)[:, :w * channels].reshape(h, w, channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    order = [0, 1, 2] if msg.encoding.startswith('rgb') else [2, 1, 0]
    return np.ascontiguousarray(pixels[..., order])


def detection_box(msg, detection_id: str = '', class_id: str = '') -> Optional[tuple]:
    """Return (x, y, w, h) of the chosen detection of a Detection2DArray, or None.

    The one with ``detection_id`` if given, else the best-scoring one of ``class_id`` if given,
    else the first.
    """
    dets = list(msg.detections)
    if detection_id:
        dets = [d for d in dets if d.id == detection_id]
    elif class_id:
        dets = [d for d in dets if any(r.hypothesis.class_id == class_id for r in d.results)]
        dets.sort(key=lambda d: -max((r.hypothesis.score for r in d.results), default=0.0))
    if not dets:
        return None
    b = dets[0].bbox
    w, h = float(b.size_x), float(b.size_y)
    box = (float(b.center.position.x) - w / 2, float(b.center.position.y) - h / 2, w, h)
    return box if np.isfinite(box).all() and w > 0 and h > 0 else None


def read_bag(path, image_topic: str, reference_topic: str = '', reference_id: str = '',
             reference_class: str = '') -> Sequence:
    """Return the bag's image topic as a Sequence (frames decoded on request).

    Boxes come from ``reference_topic`` (a Detection2DArray per image, matched by stamp:
    ``detection_box`` of it), NaN where it has none or no topic is given. The sequence's
    ``stamps``, ``frame_ids`` and ``log_times`` keep the recording's.
    """
    frames = read_images(path, image_topic)
    if not frames:
        raise DataError(f'{path}: {image_topic} has no messages')
    boxes = np.full((len(frames), 4), np.nan)
    if reference_topic:
        reference = read_detections(path, reference_topic)
        for i, f in enumerate(frames):
            box = detection_box(reference[f.stamp_ns], reference_id, reference_class) \
                if f.stamp_ns in reference else None
            if box is not None:
                boxes[i] = box
    seq = Sequence(pathlib.Path(path).stem or str(path), boxes, np.isfinite(boxes).all(axis=1),
                   source=lambda i: to_rgb(frames[i].message))
    seq.messages = [f.message for f in frames]
    seq.msgtype = frames[0].message.__msgtype__
    seq.stamps = [f.stamp_ns for f in frames]
    seq.frame_ids = [f.frame_id for f in frames]
    seq.log_times = [f.log_ns for f in frames]
    return seq
