"""A target's 3D position from a registered depth image and camera_info (pure NumPy, no rclpy).

Depth follows REP 118: ``16UC1`` in millimetres or ``32FC1`` in metres, registered to the
colour camera (same size, same pixels); 0, NaN and inf are "no reading". The target's depth is
the **median of the valid readings in the inner half of its box** (the central 50 % of its
width and height): the box's edges hold background and the target's outline, where depth
jumps; the median then shrugs off holes, speckle and the background that remains, as long as
the target fills most of that inner part. A low percentile would follow the nearest surface
instead, which is wrong whenever something passes in front of the target. The point is the
box centre back-projected with the camera matrix: X = (u - cx) Z / fx, Y = (v - cy) Z / fy,
with u, v the centre in ROS pixel coordinates (pixel i's centre at i, so u = x + w / 2 - 0.5).

The look-ups return (value, why): a value only when it is right, else None and the reason.
A camera matrix whose focal lengths are not a camera's, and a point that is not finite or lies
beyond ``MAX_RANGE_M``, are refused with the reason: never a wrong point.
"""

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

MIN_VALID_FRACTION = 0.1       # of the inner box's pixels, for a depth to be trusted
# A point farther than this (metres) is no camera's reading: refused with the reason.
MAX_RANGE_M = 1000.0
# A focal length under a pixel, or a principal point this far outside the image, is no camera.
MIN_FOCAL_PX = 1.0
MAX_FOCAL_PX = 1e7


class Position(NamedTuple):
    """A target's 3D position for one frame: the point (None: none) and why not."""

    point: Optional[Tuple[float, float, float]]
    frame: str
    status: str
    size: Tuple[float, float] = (0.0, 0.0)


def depth_in_metres(msg) -> Tuple[Optional[np.ndarray], str]:
    """sensor_msgs/Image of depth -> (H x W float32 metres, NaN where no reading) or why."""
    enc = msg.encoding
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    kinds = {'16UC1': (np.uint16, 0.001), 'mono16': (np.uint16, 0.001), '32FC1': (np.float32, 1.0)}
    if enc not in kinds:
        return None, f'depth encoding {enc!r} is not 16UC1 (mm) or 32FC1 (m)'
    dtype, scale = kinds[enc]
    item = np.dtype(dtype).itemsize
    data = bytes(msg.data)
    if height <= 0 or width <= 0 or step < width * item or len(data) < step * height:
        return None, (f'depth image {width}x{height} (step {step}) does not match its '
                      f'{len(data)} bytes')
    order = '>' if msg.is_bigendian else '<'
    rows = np.frombuffer(data, np.uint8, step * height).reshape(height, step)
    values = rows[:, :width * item].copy().view(np.dtype(dtype).newbyteorder(order))
    metres = values.astype(np.float32) * np.float32(scale)
    metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
    return metres, ''


def robust_depth(metres: np.ndarray, box: Sequence[float]) -> Tuple[Optional[float], str]:
    """Median depth of the valid readings in the inner half of ``box`` (x, y, w, h)."""
    x, y, w, h = (float(v) for v in box)
    height, width = metres.shape
    x0, x1 = int(np.floor(x + w / 4)), int(np.ceil(x + 3 * w / 4))
    y0, y1 = int(np.floor(y + h / 4)), int(np.ceil(y + 3 * h / 4))
    x0, x1 = max(x0, 0), min(x1, width)
    y0, y1 = max(y0, 0), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return None, 'the box lies outside the depth image'
    inner = metres[y0:y1, x0:x1]
    valid = inner[np.isfinite(inner)]
    if valid.size < max(1, MIN_VALID_FRACTION * inner.size):
        return None, (f'no depth reading in the box ({valid.size} valid of {inner.size} '
                      'pixels)')
    return float(np.median(valid)), ''


def camera_matrix(info) -> Tuple[Optional[Tuple[float, float, float, float]], str]:
    """(fx, fy, cx, cy) of a sensor_msgs/CameraInfo, or why not."""
    k = [float(v) for v in info.k]
    fx, cx, fy, cy = k[0], k[2], k[4], k[5]
    if not np.isfinite([fx, fy, cx, cy]).all():
        return None, 'camera_info has no valid camera matrix (K is not finite)'
    if not (MIN_FOCAL_PX <= fx <= MAX_FOCAL_PX and MIN_FOCAL_PX <= fy <= MAX_FOCAL_PX):
        return None, (f'camera_info focal lengths fx={fx:g}, fy={fy:g} are not a camera '
                      f'(outside [{MIN_FOCAL_PX:g}, {MAX_FOCAL_PX:g}] pixels)')
    span = 10.0 * max(int(info.width), int(info.height), 1)
    if abs(cx) > span or abs(cy) > span:
        return None, f'camera_info principal point ({cx:g}, {cy:g}) is far outside the image'
    return (fx, fy, cx, cy), ''


def point_problem(point) -> str:
    """Return why ``point`` (X, Y, Z metres) is not a plausible position, or ''."""
    if not all(math.isfinite(v) for v in point):
        return 'the back-projected point is not finite'
    if point[2] <= 0 or math.sqrt(sum(v * v for v in point)) > MAX_RANGE_M:
        return f'the point lies beyond {MAX_RANGE_M:g} m (or behind the camera): not a reading'
    return ''


def target_points(boxes, rgb_size: Tuple[int, int], depth_msg, info):
    """Return {id: ((X, Y, Z) in metres, '') or (None, why)} for ``boxes`` {id: (x, y, w, h)}.

    Points are in the depth camera's optical frame. ``rgb_size``: (width, height) of the
    colour image the boxes are in; depth and camera_info must be of that size (registered to
    it), else there is no point. The depth image is converted once for every box.
    """
    def every(why):
        return {tid: (None, why) for tid in boxes}
    if info is None:
        return every('no camera_info received')
    matrix, why = camera_matrix(info)
    if matrix is None:
        return every(why)
    width, height = rgb_size
    sizes = {'depth': (int(depth_msg.width), int(depth_msg.height)),
             'camera_info': (int(info.width), int(info.height))}
    for what, size in sizes.items():
        if size != (width, height):
            return every(f'{what} is {size[0]}x{size[1]}, the colour image {width}x{height}: '
                         'not registered to it')
    metres, why = depth_in_metres(depth_msg)
    if metres is None:
        return every(why)
    fx, fy, cx, cy = matrix
    out = {}
    for tid, box in boxes.items():
        z, why = robust_depth(metres, box)
        if z is None:
            out[tid] = (None, why)
            continue
        x, y, w, h = (float(v) for v in box)
        u, v = x + w / 2.0 - 0.5, y + h / 2.0 - 0.5
        point = ((u - cx) * z / fx, (v - cy) * z / fy, z)
        why = point_problem(point)
        out[tid] = (None, why) if why else (point, '')
    return out


def transform_point(point, transform) -> Tuple[float, float, float]:
    """Apply a geometry_msgs/Transform (rotation quaternion, then translation) to ``point``."""
    q, t = transform.rotation, transform.translation
    x, y, z, w = q.x, q.y, q.z, q.w
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    out = rot @ np.asarray(point, np.float64) + np.array([t.x, t.y, t.z])
    return float(out[0]), float(out[1]), float(out[2])


def extent(box, z: float, info) -> Tuple[float, float]:
    """Return the box's width and height in metres at depth ``z`` (Detection3D's size)."""
    k = [float(v) for v in info.k]
    return float(box[2]) * z / k[0], float(box[3]) * z / k[4]
