"""3D positions from depth and camera_info: real messages of generated, known geometry."""

import math

from geometry_msgs.msg import Transform
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from track_node.depth import depth_in_metres, robust_depth, target_points, transform_point

FX, FY, CX, CY = 525.0, 520.0, 319.5, 239.5


def depth_msg(metres, encoding='32FC1', frame='camera_depth_optical_frame'):
    h, w = metres.shape
    if encoding == '16UC1':
        data = np.nan_to_num(metres * 1000.0).round().astype('<u2')
    else:
        data = metres.astype('<f4')
    msg = Image(encoding=encoding, height=h, width=w, step=w * data.itemsize, is_bigendian=0)
    msg.data = data.tobytes()
    msg.header.frame_id = frame
    return msg


def info(w=640, h=480):
    return CameraInfo(width=w, height=h, k=[FX, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0])


def scene_depth(box, z=2.0, background=5.0, shape=(480, 640)):
    """Draw a flat target at ``z`` inside ``box`` in front of a wall at ``background``."""
    metres = np.full(shape, background, np.float32)
    x, y, w, h = box
    metres[y:y + h, x:x + w] = z
    return metres


def truth(box, z):
    x, y, w, h = box
    u, v = x + w / 2 - 0.5, y + h / 2 - 0.5
    return np.array([(u - CX) * z / FX, (v - CY) * z / FY, z])


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_the_point_is_within_a_centimetre_of_the_truth_at_two_metres(encoding):
    box = (400, 100, 80, 120)
    metres = scene_depth(box)
    metres[130:150, 420:430] = 0.0                       # holes inside the target
    metres[160, 440] = np.nan
    got = target_points({'1': box}, (640, 480), depth_msg(metres, encoding), info())
    point, why = got['1']
    assert why == '' and np.linalg.norm(np.array(point) - truth(box, 2.0)) < 0.01, point


def test_the_box_edges_and_background_do_not_pull_the_depth():
    box = (200, 200, 100, 100)
    metres = scene_depth((210, 210, 80, 80))             # the box is 10 px too large all round
    z, why = robust_depth(metres, box)
    assert why == '' and z == pytest.approx(2.0)


@pytest.mark.parametrize('case, words', [
    ('no info', 'no camera_info received'),
    ('bad matrix', 'are not a camera (outside'),
    ('tiny focal', 'fx=4.94066e-324'),              # gave X, Y = inf with status ok once
    ('far centre', 'principal point (1e+308'),
    ('nan matrix', 'K is not finite'),
    ('far depth', 'beyond 1000 m'),                 # 1e38 m was ok once
    ('small depth', 'depth is 320x240, the colour image 640x480'),
    ('small info', 'camera_info is 320x240'),
    ('holes only', 'no depth reading in the box'),
    ('encoding', "depth encoding 'rgb8' is not 16UC1"),
    ('truncated', 'does not match its'),
])
def test_no_point_when_it_cannot_be_right_and_the_reason(case, words):
    box = (100, 100, 60, 60)
    metres = scene_depth(box)
    msg, cam = depth_msg(metres), info()
    if case == 'no info':
        cam = None
    elif case == 'bad matrix':
        cam.k = [0.0] * 9
    elif case == 'tiny focal':
        cam.k = [5e-324, 0.0, CX, 0.0, 5e-324, CY, 0.0, 0.0, 1.0]
    elif case == 'far centre':
        cam.k = [FX, 0.0, 1e308, 0.0, FY, 1e308, 0.0, 0.0, 1.0]
    elif case == 'nan matrix':
        cam.k = [math.nan, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]
    elif case == 'far depth':
        msg = depth_msg(scene_depth(box, z=1e38))
    elif case == 'small depth':
        msg = depth_msg(metres[::2, ::2].copy())
    elif case == 'small info':
        cam = info(320, 240)
    elif case == 'holes only':
        metres[:] = 0.0
        msg = depth_msg(metres)
    elif case == 'encoding':
        msg.encoding = 'rgb8'
    elif case == 'truncated':
        msg.data = msg.data[:1000]
    point, why = target_points({'a': box}, (640, 480), msg, cam)['a']
    assert point is None and words in why, why


def test_depth_units_and_invalid_readings():
    metres = np.array([[1.5, 0.0], [np.inf, -1.0]], np.float32)
    out, _ = depth_in_metres(depth_msg(metres))
    assert out[0, 0] == pytest.approx(1.5) and np.isnan(out[0, 1]) and np.isnan(out[1]).all()
    out, _ = depth_in_metres(depth_msg(np.array([[2.0, 0.0]], np.float32), '16UC1'))
    assert out[0, 0] == pytest.approx(2.0) and np.isnan(out[0, 1])


def test_a_transform_rotates_then_translates():
    half = math.sqrt(0.5)           # 90 degrees about z
    t = Transform()
    t.rotation.z, t.rotation.w = half, half
    t.translation.x, t.translation.z = 1.0, 0.5
    assert transform_point((1.0, 0.0, 2.0), t) == pytest.approx((1.0, 1.0, 2.5))
