"""A net under every input: no exception escapes, every refusal has a reason.

Property-based (Hypothesis) over each message type the node takes (images, compressed images,
depth, camera_info, detections) through the conversions, and each service request (set_target,
select_detection, clear_target) through the ROS-free engine with a real (tiny) network. The run
in ``make test`` is short and seeded (derandomized); ``TRACK_FUZZ_EXAMPLES=2000`` runs longer.
"""

import math
import os
import threading

from builtin_interfaces.msg import Time
from hypothesis import given, HealthCheck, settings, strategies as st
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from track_core.net import create_model, PreprocessConfig
from track_core.runtime import Tracker, TrackerConfig
from track_core.runtime.backends import TorchBackend
from track_core.runtime.live import Frame, LiveEngine
from track_node.conversions import ImageDecoder, ImageError, stamp_to_ns
from track_node.depth import target_points
from track_node.detector import choose, from_message, parse, peek

EXAMPLES = int(os.environ.get('TRACK_FUZZ_EXAMPLES', '60'))
FUZZ = settings(max_examples=EXAMPLES, derandomize=EXAMPLES <= 100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# every float a field can hold: ordinary, huge, tiny, NaN and infinities
floats = st.one_of(st.floats(-1e4, 1e4), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e38, 1e154, 1e200, 1e308]))
texts = st.text(max_size=80)
u32 = st.integers(0, 2 ** 32 - 1)
encodings = st.sampled_from(['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', '16UC1',
                             '32FC1', 'yuv422', '', 'BGR8', 'bayer_rggb8'])


def stamp(ns):
    return Time(sec=ns // 10 ** 9, nanosec=ns % 10 ** 9)


@st.composite
def images(draw, encoding=encodings):
    msg = Image()
    msg.encoding = draw(encoding)
    msg.width, msg.height = draw(st.integers(0, 70)), draw(st.integers(0, 50))
    msg.step = draw(st.one_of(st.integers(0, 300), u32))
    msg.is_bigendian = draw(st.integers(0, 1))
    msg.data = draw(st.binary(max_size=12_000))
    return msg


@FUZZ
@given(images(), st.booleans())
def test_any_image_decodes_or_says_why(msg, prefer_cv_bridge):
    try:
        rgb = ImageDecoder(prefer_cv_bridge, max_pixels=1 << 20)(msg, False)
    except ImageError as exc:
        assert str(exc)
        return
    assert rgb.dtype == np.uint8 and rgb.shape == (msg.height, msg.width, 3)


@FUZZ
@given(st.one_of(st.binary(max_size=3000),
                 st.builds(lambda head, rest: head + rest,
                           st.sampled_from([b'\xff\xd8\xff\xc0', b'\x89PNG\r\n\x1a\n\x00\x00'
                                            b'\x00\rIHDR', b'\xff\xd8']),
                           st.binary(max_size=200))),
       st.text(max_size=10))
def test_any_compressed_image_decodes_or_says_why(data, fmt):
    try:
        rgb = ImageDecoder(False, max_pixels=1 << 20)(CompressedImage(format=fmt, data=data),
                                                      True)
    except ImageError as exc:
        assert str(exc)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3


@st.composite
def camera_infos(draw):
    k = [draw(floats) for _ in range(9)]
    return CameraInfo(width=draw(st.integers(0, 100)), height=draw(st.integers(0, 100)), k=k)


@FUZZ
@given(images(st.sampled_from(['16UC1', '32FC1', 'mono16', 'rgb8'])),
       st.one_of(st.none(), camera_infos()),
       st.lists(st.tuples(floats, floats, floats, floats), max_size=4))
def test_any_depth_and_camera_info_give_a_point_or_a_reason(depth, info, boxes):
    if info is not None and depth.width and depth.height:
        info.width, info.height = depth.width, depth.height       # reach the geometry too
    got = target_points({str(i): b for i, b in enumerate(boxes)},
                        (depth.width, depth.height), depth, info)
    for point, why in got.values():
        if point is None:
            assert why
        else:
            assert all(math.isfinite(v) for v in point) and point[2] > 0 and why == ''


@st.composite
def detection_arrays(draw):
    msg = Detection2DArray()
    msg.header.stamp = stamp(draw(st.integers(0, 2 ** 40)))
    msg.header.frame_id = draw(st.text(max_size=20))
    for _ in range(draw(st.integers(0, 6))):
        det = Detection2D()
        det.id = draw(texts)
        det.bbox.center.position.x, det.bbox.center.position.y = draw(floats), draw(floats)
        det.bbox.size_x, det.bbox.size_y = draw(floats), draw(floats)
        for _ in range(draw(st.integers(0, 2))):
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = draw(texts), draw(floats)
            det.results.append(hyp)
        msg.detections.append(det)
    return msg


@FUZZ
@given(detection_arrays(), texts, texts, st.booleans(), floats, floats)
def test_any_detections_and_select_detection_request_pick_one_or_say_why(
        msg, detection_id, class_id, use_point, x, y):
    from rclpy.serialization import serialize_message
    raw = serialize_message(msg)
    assert peek(raw) == (stamp_to_ns(msg.header.stamp), len(msg.detections))
    dets, unusable = from_message(msg)
    assert parse(raw) == (dets, unusable)           # the node's parser reads the same
    assert len(dets) + unusable == len(msg.detections)
    det, why = choose(dets, detection_id, class_id, (x, y) if use_point else None)
    if det is None:
        assert why
    else:
        assert det in dets and all(math.isfinite(v) for v in det.box)
        if use_point and not detection_id and not class_id:
            assert math.isfinite(x) and math.isfinite(y)


@FUZZ
@given(st.binary(max_size=64))
def test_any_bytes_peek_and_parse_as_a_detection_set_or_say_why(raw):
    for header in (b'', b'\x00\x01\x00\x00'):    # also as CDR, so the parser walks it
        try:
            dets, _ = parse(header + raw)
            assert all(math.isfinite(v) for d in dets for v in d.box)
        except ValueError as exc:
            assert str(exc)
    try:
        ns, count = peek(raw)
    except ValueError as exc:
        assert str(exc)
        return
    assert ns >= -2 ** 31 * 10 ** 9 and count >= 0


# ----------------------------------------------------------------- requests through the engine
class Published:
    def __init__(self):
        self.count = 0
        self.cond = threading.Condition()

    def __call__(self, frame, rgb, results):
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_past(self, count, timeout=30.0):
        with self.cond:
            return self.cond.wait_for(lambda: self.count > count, timeout)


@pytest.fixture(scope='module')
def engine():
    model = create_model('tiny')
    # absent_threshold 1: every target is unseen after every frame, so every frame offers it
    # the detector's candidates
    tracker = Tracker(TorchBackend(model, device='cpu'), model.cfg, PreprocessConfig(),
                      TrackerConfig(scan_tiles=2, max_candidates=4, absent_threshold=1.0),
                      max_targets=4)
    rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    offered = {'boxes': []}
    published = Published()
    live = LiveEngine(tracker, lambda data: data, published, cache_frames=4,
                      candidates=lambda frame, unseen: {t: offered['boxes'] for t in unseen})
    live.offer(Frame(10 ** 9, rgb, rgb.nbytes))
    live.start()
    yield live, rgb, offered, published
    live.stop()


boxes = st.tuples(floats, floats, floats, floats)
stamps = st.sampled_from([0, 10 ** 9, 10 ** 9 + 1, 2 ** 63 - 1])


@FUZZ
@given(st.lists(st.one_of(
    st.tuples(st.just('set_target'), stamps, boxes, texts),
    st.tuples(st.just('clear_target'), texts),
    st.tuples(st.just('frame'), st.lists(boxes, max_size=12))), min_size=1, max_size=6))
def test_any_sequence_of_requests_is_answered_with_a_reason(engine, requests):
    live, rgb, offered, published = engine
    for request in requests:
        if request[0] == 'frame':            # a frame, with these detector candidates
            offered['boxes'] = request[1]
            count, bad = published.count, live.stats['bad']
            live.offer(Frame(10 ** 9, rgb, rgb.nbytes))
            assert published.wait_past(count) and live.stats['bad'] == bad
            continue
        if request[0] == 'set_target':
            _, ns, box, tid = request
            reply = live.select(ns, box, tid).result(30)
        else:
            reply = live.remove(request[1]).result(30)
        assert reply.message, reply
        crashes = ('TypeError', 'OverflowError', 'AttributeError', 'IndexError',
                   'ZeroDivisionError')
        assert not reply.message.startswith(crashes), reply
