"""Message <-> array conversions: pure functions, no node, no spinning.

Box convention: vision_msgs BoundingBox2D is centre + size in pixels; the core uses (x, y, w, h)
with (x, y) the top-left corner. Images go to the core as HxWx3 uint8 RGB.
"""

from typing import Dict

import numpy as np

from track_core.types import TrackState

# encoding -> (channels, index order to get R, G, B)
ENCODINGS = {
    'rgb8': (3, (0, 1, 2)),
    'bgr8': (3, (2, 1, 0)),
    'rgba8': (4, (0, 1, 2)),
    'bgra8': (4, (2, 1, 0)),
    'mono8': (1, (0, 0, 0)),
}


class ImageError(ValueError):
    """An image message that cannot be used; the message says why."""


def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 RGB (copy), honouring ``step`` (row padding)."""
    enc = msg.encoding.lower()
    if enc not in ENCODINGS:
        raise ImageError(f'unsupported encoding {msg.encoding!r}; supported: '
                         f'{", ".join(ENCODINGS)}')
    channels, order = ENCODINGS[enc]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageError(f'empty image ({width}x{height})')
    row = width * channels
    if step < row:
        raise ImageError(f'step {step} is smaller than width x channels = {row}')
    data = msg.data
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else \
        data.view(np.uint8)
    if buf.size < step * (height - 1) + row:
        raise ImageError(f'truncated data: {buf.size} bytes for {height} rows of step {step}')
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row), strides=(step, 1))
    pixels = rows.reshape(height, width, channels)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., list(order)])


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> HxWx3 uint8 RGB."""
    import cv2
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ImageError('empty compressed image')
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f'cannot decode compressed image (format {msg.format!r})')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class CvBridgeConverter:
    """The same conversion through cv_bridge, where it imports and works."""

    def __init__(self):
        from cv_bridge import CvBridge
        self.bridge = CvBridge()

    def __call__(self, msg) -> np.ndarray:
        enc = msg.encoding.lower()
        if enc not in ENCODINGS:
            raise ImageError(f'unsupported encoding {msg.encoding!r}; supported: '
                             f'{", ".join(ENCODINGS)}')
        channels = ENCODINGS[enc][0]
        if int(msg.step) < int(msg.width) * channels:
            raise ImageError(f'step {msg.step} is smaller than width x channels')
        if len(msg.data) < int(msg.step) * int(msg.height):
            raise ImageError(f'truncated data: {len(msg.data)} bytes for {msg.height} rows of '
                             f'step {msg.step}')
        row = int(msg.width) * channels
        if int(msg.step) != row:
            # The PyPI cv_bridge ignores ``step`` and returns garbage for padded rows: hand it
            # an unpadded copy.
            msg = _unpadded(msg, row)
        return np.ascontiguousarray(self.bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8'))


def _unpadded(msg, row: int):
    from sensor_msgs.msg import Image
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(buf, shape=(int(msg.height), row),
                                           strides=(int(msg.step), 1))
    out = Image()
    out.header, out.height, out.width = msg.header, msg.height, msg.width
    out.encoding, out.is_bigendian, out.step = msg.encoding, msg.is_bigendian, row
    out.data = np.ascontiguousarray(rows).tobytes()
    return out


def make_converter(prefer_cv_bridge: bool = True):
    """cv_bridge when it imports and converts a probe correctly; else the NumPy path.

    Returns (converter, name). cv_bridge's compiled module fails under NumPy 2 on many
    Humble/Jazzy installs, and the PyPI port's encoding table has mistakes, hence the probe.
    """
    if prefer_cv_bridge:
        try:
            conv = CvBridgeConverter()
            probe = _probe_message()
            if np.array_equal(conv(probe), image_to_rgb(probe)):
                return conv, 'cv_bridge'
        except Exception:  # noqa: BLE001 - any failure of the optional path means: not usable
            pass
    return image_to_rgb, 'numpy'


def _probe_message():
    from sensor_msgs.msg import Image
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.step = 2, 3, 'bgr8', 12
    msg.data = bytes(range(24))
    return msg


def rgb_to_image_msg(rgb: np.ndarray, header):
    from sensor_msgs.msg import Image
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = 'rgb8'
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def detections_msg(header, results: Dict[str, object], class_id: str):
    """Detection2DArray: one Detection2D per target (bbox centre + size in pixels, id, score)."""
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    out = Detection2DArray()
    out.header = header
    for target_id, result in results.items():
        x, y, w, h = result.box
        det = Detection2D()
        det.header = header
        det.id = str(target_id)
        det.bbox.center.position.x = float(x + w / 2.0)
        det.bbox.center.position.y = float(y + h / 2.0)
        det.bbox.center.theta = 0.0
        det.bbox.size_x = float(w)
        det.bbox.size_y = float(h)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = class_id
        hyp.hypothesis.score = float(result.score)
        det.results.append(hyp)
        out.detections.append(det)
    return out


def detection_to_xywh(det):
    """Inverse of the box part of detections_msg (for clients and tests)."""
    w, h = det.bbox.size_x, det.bbox.size_y
    return (det.bbox.center.position.x - w / 2.0, det.bbox.center.position.y - h / 2.0, w, h)


def state_msg(header, results: Dict[str, object], latency_ms: float, fps: float,
              dropped: int):
    from track_interfaces.msg import TargetState, TrackingState
    out = TrackingState()
    out.header = header
    out.latency_ms = float(latency_ms)
    out.fps = float(fps)
    out.dropped_frames = int(dropped)
    for target_id, result in results.items():
        t = TargetState()
        t.id = str(target_id)
        t.state = TargetState.STATE_LOST if result.state == TrackState.LOST else \
            TargetState.STATE_TRACKING
        t.score = float(result.score)
        t.frames_below_threshold = int(result.frames_below_threshold)
        out.targets.append(t)
    return out
