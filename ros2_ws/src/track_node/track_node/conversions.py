"""Message <-> array conversions: pure functions, no node, no spinning.

Box convention: vision_msgs BoundingBox2D is centre + size in pixels; the core uses (x, y, w, h)
with (x, y) the top-left corner. Images go to the core as HxWx3 uint8 RGB.
"""

from typing import Dict, Optional

import numpy as np


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


def compressed_size(data: bytes):
    """Return (width, height) from a PNG or JPEG header without decoding, or None.

    JPEG: the markers are walked to the first start-of-frame; fill bytes (any number of 0xFF
    before a marker, which the standard allows) are skipped. Anything else, a truncated header
    included, gives None: its size cannot be known before decoding.
    """
    if data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) >= 24 and data[12:16] == b'IHDR':
        return int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
    if data[:2] != b'\xff\xd8':
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        while i + 1 < len(data) and data[i + 1] == 0xFF:     # fill bytes
            i += 1
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):          # end of image, or scan data before any frame header
            return None
        length = int.from_bytes(data[i + 2:i + 4], 'big')
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF):
            if i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5:i + 7], 'big')
            width = int.from_bytes(data[i + 7:i + 9], 'big')
            return width, height
        if length < 2:
            return None
        i += 2 + length
    return None


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Raise ImageError when a ``width`` x ``height`` image is larger than ``max_pixels``."""
    if width * height > max_pixels:
        raise ImageError(f'image of {width}x{height} pixels is larger than max_image_pixels '
                         f'({max_pixels})')


def compressed_to_rgb(msg, max_pixels: int = 1 << 30) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> HxWx3 uint8 RGB.

    The size in a PNG or JPEG header is checked against ``max_pixels`` before decoding, so a
    small file that decodes to gigabytes is refused without being decoded; a payload whose
    size cannot be read first (WebP, TIFF, BMP, a broken header) is refused without decoding.
    Under that, OpenCV's own cap (``OPENCV_IO_MAX_IMAGE_PIXELS``, set by this package) bounds
    any decode.
    """
    import cv2
    raw = bytes(msg.data)
    if not raw:
        raise ImageError('empty compressed image')
    size = compressed_size(raw)
    if size is None:
        raise ImageError(f'cannot decode safely (format {msg.format!r}): only PNG and JPEG '
                         'are accepted, whose size is read from the header before decoding')
    check_pixels(size[0], size[1], max_pixels)
    data = np.frombuffer(raw, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f'cannot decode compressed image (format {msg.format!r})')
    check_pixels(bgr.shape[1], bgr.shape[0], max_pixels)
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
        if enc != msg.encoding or msg.is_bigendian or int(msg.width) <= 0 or \
                int(msg.height) <= 0:
            # cv_bridge throws on an upper-case encoding, on is_bigendian under NumPy 2 and on
            # empty images; 8-bit pixels have no byte order, so the NumPy path is exact here.
            return image_to_rgb(msg)
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


class ImageDecoder:
    """Frames in, HxWx3 uint8 RGB out; every failure, whatever raised it, is an ImageError.

    Raw images go through cv_bridge where it works (else NumPy); compressed ones through
    OpenCV. Images larger than ``max_pixels`` are refused (compressed ones before decoding).
    """

    def __init__(self, prefer_cv_bridge: bool = True, max_pixels: int = 1 << 24):
        self.convert, self.name = make_converter(prefer_cv_bridge)
        self.max_pixels = int(max_pixels)

    def __call__(self, msg, compressed: bool) -> np.ndarray:
        try:
            if compressed:
                return compressed_to_rgb(msg, self.max_pixels)
            check_pixels(int(msg.width), int(msg.height), self.max_pixels)
            return self.convert(msg)
        except ImageError:
            raise
        except Exception as exc:  # noqa: BLE001 - a converter's own failure becomes a reason
            raise ImageError(f'cannot convert the image ({msg_summary(msg, compressed)}): '
                             f'{type(exc).__name__}: {exc}') from None


def msg_summary(msg, compressed: bool) -> str:
    if compressed:
        return f'compressed, format {msg.format!r}, {len(msg.data)} bytes'
    return (f'{msg.width}x{msg.height} {msg.encoding!r}, step {msg.step}, '
            f'is_bigendian {msg.is_bigendian}, {len(msg.data)} bytes')


def message_bytes(msg) -> int:
    """Return the size of an image message's pixel data in bytes."""
    return len(msg.data)


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
    """Detection2DArray: one Detection2D per target seen (bbox centre + size in pixels, id, score).

    A target not seen (UNSURE, SEARCHING) has no detection: its box is not known to be the
    target (``~/state`` says which).
    """
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    out = Detection2DArray()
    out.header = header
    for target_id, result in results.items():
        if not result.state.present:
            continue
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
    """Return the (x, y, w, h) of a Detection2D's box (the inverse of detections_msg's)."""
    w, h = det.bbox.size_x, det.bbox.size_y
    return (det.bbox.center.position.x - w / 2.0, det.bbox.center.position.y - h / 2.0, w, h)


def state_msg(header, results: Dict[str, object], latency_ms: float, fps: float,
              dropped: int, positions: Optional[Dict[str, object]] = None,
              status: Optional[Dict[str, object]] = None):
    from track_interfaces.msg import TargetState, TrackingState
    out = TrackingState()
    out.header = header
    out.latency_ms = float(latency_ms)
    out.fps = float(fps)
    out.dropped_frames = int(dropped)
    for target_id, result in results.items():
        t = TargetState()
        t.id = str(target_id)
        extra = (status or {}).get(target_id)
        t.state = int(result.state)         # TrackState's values are the message's constants
        if extra is not None:
            t.seconds_since_seen = float(extra.seconds_since_seen)
        t.score = float(result.score)
        t.frames_below_threshold = int(result.frames_below_threshold)
        where = (positions or {}).get(target_id)
        if where is not None:
            t.position_frame, t.position_status = where.frame, where.status
            if where.point is not None:
                t.has_position = True
                t.position.x, t.position.y, t.position.z = where.point
        out.targets.append(t)
    return out


def detections_3d_msg(header, frame_id: str, results: Dict[str, object],
                      positions: Dict[str, object], class_id: str):
    """Return a Detection3DArray of the targets that have a 3D position (others left out)."""
    from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
    out = Detection3DArray()
    out.header.stamp = header.stamp
    out.header.frame_id = frame_id
    for target_id, where in positions.items():
        if where.point is None:
            continue
        det = Detection3D()
        det.header = out.header
        det.id = str(target_id)
        det.bbox.center.position.x, det.bbox.center.position.y, det.bbox.center.position.z = \
            where.point
        det.bbox.center.orientation.w = 1.0
        det.bbox.size.x, det.bbox.size.y = where.size
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = class_id
        hyp.hypothesis.score = float(results[target_id].score)
        hyp.pose.pose = det.bbox.center
        det.results.append(hyp)
        out.detections.append(det)
    return out


def diagnostics_msg(stamp, name: str, hardware_id: str, active: bool, values: Dict[str, str]):
    """Return a DiagnosticArray with one status: OK while active, else WARN; ``values`` as is."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    status = DiagnosticStatus()
    status.name = name
    status.hardware_id = hardware_id
    status.level = DiagnosticStatus.OK if active else DiagnosticStatus.WARN
    status.message = 'tracking' if active else 'inactive'
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = [status]
    return msg
