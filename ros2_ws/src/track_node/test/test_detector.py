"""A detector's messages: peeked, kept, made lazily; choosing one; the candidates (no graph)."""

import math

import pytest
from rclpy.serialization import deserialize_message, serialize_message
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from track_core.types import TrackResult, TrackState
from track_node.detector import (candidates, choose, Detected, DetectionSet, from_message,
                                 MAX_COORDINATE, parse, peek)

DETS = [Detected('p1', 'person', 0.6, (10, 10, 20, 40)),
        Detected('p2', 'person', 0.9, (100, 10, 20, 40)),
        Detected('c1', 'cup', 0.8, (50, 60, 10, 10))]


def message(boxes, frame_id='camera', stamp=(12, 345)):
    """Make a Detection2DArray with one person hypothesis per (cx, cy, w, h)."""
    msg = Detection2DArray()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    for k, (cx, cy, w, h) in enumerate(boxes):
        det = Detection2D()
        det.id = f'd{k}'
        det.bbox.center.position.x, det.bbox.center.position.y = float(cx), float(cy)
        det.bbox.size_x, det.bbox.size_y = float(w), float(h)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = 'person', 0.5
        det.results.append(hyp)
        msg.detections.append(det)
    return msg


@pytest.mark.parametrize('kwargs, want', [
    ({'detection_id': 'c1'}, 'c1'),
    ({'class_id': 'person'}, 'p2'),                       # the best of the class
    ({'point': (55, 65)}, 'c1'),                          # inside the cup's box
    ({'point': (95, 0)}, 'p2'),                           # nearest box
    ({'detection_id': 'p1', 'class_id': 'cup'}, 'p1'),    # the id decides
])
def test_a_request_picks_one_detection(kwargs, want):
    det, why = choose(DETS, **kwargs)
    assert why == '' and det.id == want


@pytest.mark.parametrize('kwargs, words', [
    ({'detection_id': 'nobody'}, "no detection with id 'nobody' in that frame (have: c1, p1"),
    ({'class_id': 'dog'}, "no detection of class 'dog' in that frame (have: cup, person)"),
    ({}, 'say which detection'),
    ({'point': (1e200, 0.0)}, 'beyond'),                 # overflowed the distance once
    ({'point': (math.nan, 0.0)}, 'not finite'),          # answered the first detection once
    ({'point': (0.0, -math.inf)}, 'not finite'),
])
def test_a_request_that_names_no_detection_is_refused_with_the_reason(kwargs, words):
    det, why = choose(DETS, **kwargs)
    assert det is None and words in why, why
    assert choose([], detection_id='x') == (None, 'that frame has no usable detections')


def test_boxes_that_are_not_a_cameras_are_left_out():
    msg = message([(50, 60, 10, 20), (1e300, 0, 10, 10), (math.nan, 5, 5, 5), (5, 5, 0, 5),
                   (5, 5, math.inf, 5), (MAX_COORDINATE * 2, 5, 5, 5)])
    dets, bad = from_message(msg)
    assert [d.box for d in dets] == [(45.0, 50.0, 10.0, 20.0)] and bad == 5
    det, why = choose(dets, point=(0.0, 0.0))
    assert det is dets[0] and why == ''


@pytest.mark.parametrize('count', [0, 1, 3, 250])
@pytest.mark.parametrize('frame_id', ['', 'c', 'camera_color_optical_frame'])
def test_peek_reads_stamp_and_count_as_rclpy_serializes_them(count, frame_id):
    raw = serialize_message(message([(5, 5, 4, 4)] * count, frame_id, (1700000000, 999)))
    assert peek(raw) == (1700000000 * 1_000_000_000 + 999, count)
    with pytest.raises(ValueError):
        peek(raw[:6])
    with pytest.raises(ValueError):
        peek(b'\x07' + raw[1:])


def test_a_set_is_made_once_on_first_use():
    calls = []

    def counted(raw):
        calls.append(len(raw))
        return parse(raw)
    kept = DetectionSet(serialize_message(message([(50, 60, 10, 20), (1, 1, 0, 0)])), counted)
    assert calls == []
    assert [d.id for d in kept.detections()] == ['d0'] and kept.unusable() == 1
    assert len(calls) == 1 and kept.raw == b''


@pytest.mark.parametrize('count', [0, 1, 7])
def test_the_pure_parser_reads_what_rclpy_deserializes(count):
    msg = message([(10.5 + k, 20.0, 4.0 + k, 6.0) for k in range(count)], 'camera_x')
    for k, det in enumerate(msg.detections):          # more hypotheses, the best in the middle
        for cls, score in (('a', 0.1), ('b', 0.7 + k / 100), ('c', 0.2)):
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = cls, score
            det.results.append(hyp)
    raw = serialize_message(msg)
    assert parse(raw) == from_message(deserialize_message(raw, Detection2DArray))
    assert len(parse(raw)[0]) == count


def test_a_malformed_set_is_none_and_never_a_crash():
    raw = serialize_message(message([(50, 60, 10, 20)] * 3))
    for broken in (raw[:-5], raw[:40], b'\x00\x01\x00\x00garbage', raw[:16] + b'\xff' * 8,
                   raw[:4] + b'\xff' * (len(raw) - 4)):
        with pytest.raises(ValueError):
            parse(broken)
        assert DetectionSet(broken).detections() == []


def test_candidates_are_the_targets_class_or_all_when_unknown():
    def unseen(label):
        return TrackResult((0, 0, 1, 1), 0.1, TrackState.SEARCHING, label=label)
    got = candidates(DETS, {'a': unseen('person'), 'b': unseen('')})
    assert got['a'] == [DETS[0].box, DETS[1].box] and got['b'] == [d.box for d in DETS]
