"""An operator's view: frames before any target, a click, a published box, refusals with reasons.

Real Fast DDS; the click is a geometry_msgs/PointStamped as rqt_image_view publishes it, the
box a vision_msgs/Detection2D as a detector or a picker would.
"""

import math
import pathlib
import time

import cv2
from geometry_msgs.msg import Point, PointStamped
from graph import Harness, image_msg, scene
import numpy as np
import pytest
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D

from track_core.boxes import iou_xywh
from track_node.conversions import detection_to_xywh, image_to_rgb, stamp_to_ns


@pytest.fixture
def operator():
    h = Harness(select_box_size=52)
    assert h.wait_active(60), 'node did not activate'
    h.debug = []
    h.client.create_subscription(Image, 'debug_image', h.debug.append, 10)
    h.click = h.client.create_publisher(PointStamped, 'track_node/select_point', 10)
    h.box = h.client.create_publisher(Detection2D, 'track_node/select_box', 10)
    yield h
    h.close()


def _send_until(h, publish, predicate, timeout=10.0):
    """Publish until ``predicate`` holds (a topic needs a moment to match)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        publish()
        if h.wait_for(predicate, 0.3):
            return True
    return False


def _follow(h, frames, stamps, centres=None):
    ious = []
    for (rgb, box), sec in zip(frames, stamps):
        count = len(h.detections)
        h.pub.publish(image_msg(rgb, sec=sec))
        assert h.wait_for(lambda: len(h.detections) > count and
                          h.detections[-1].header.stamp.sec == sec), f'no answer to {sec}'
        dets = h.detections[-1].detections
        assert len(dets) == 1
        ious.append(float(iou_xywh(np.array(detection_to_xywh(dets[0])), np.array(box))[0]))
        if centres is not None:
            c = dets[0].bbox.center.position
            centres.append(box[0] <= c.x <= box[0] + box[2] and box[1] <= c.y <= box[1] + box[3])
    return ious


def test_frames_and_empty_detections_before_any_target(operator):
    h = operator
    rgb, _ = scene(0)
    msg = image_msg(rgb, sec=10)
    assert _send_until(h, lambda: h.pub.publish(msg), lambda: h.debug and h.detections)
    debug = h.debug[-1]
    assert (debug.height, debug.width) == rgb.shape[:2] and debug.header.stamp.sec == 10
    drawn = image_to_rgb(debug)
    assert not np.array_equal(drawn, rgb)                # the hint is drawn on the frame
    assert np.mean(np.all(drawn == rgb, axis=2)) > 0.8   # ... and the frame is still there
    assert h.detections[-1].detections == [] and h.detections[-1].header.stamp.sec == 10
    assert h.states[-1].targets == []


def test_a_click_starts_a_target_that_follows_the_object(operator):
    h = operator
    rgb, box = scene(0)
    first = image_msg(rgb, sec=20)
    assert h.publish_until_processed(first)
    click = PointStamped()
    click.header = first.header
    click.point.x, click.point.y = box[0] + box[2] / 2, box[1] + box[3] / 2
    assert _send_until(h, lambda: h.click.publish(click),
                       lambda: h.node.engine and h.node.engine.target_ids)
    ious = _follow(h, [scene(i) for i in range(1, 13)], range(21, 33))
    assert np.mean(ious[-5:]) > 0.3, ious
    assert h.states[-1].message.startswith('select_point: tracking target'), \
        h.states[-1].message


def test_an_rqt_image_view_click_selects_on_the_image_it_shows(operator):
    # rqt_image_view publishes a geometry_msgs/Point (no stamp) in the pixels of the image it
    # shows: debug_image, whose newest frame the click is taken on
    h = operator
    h.bare_click = h.client.create_publisher(Point, 'track_node/select_click', 10)
    rgb, box = scene(0)
    shown = image_msg(rgb, sec=30)
    assert _send_until(h, lambda: h.pub.publish(shown),
                       lambda: h.debug and h.debug[-1].header.stamp.sec == 30)
    h.pub.publish(image_msg(scene(5, visible=False)[0], sec=31))   # a newer frame, no target
    assert h.wait_for(lambda: h.detections and h.detections[-1].header.stamp.sec == 31)
    h.node.first.last_shown_ns = stamp_to_ns(shown.header.stamp)  # what the viewer still shows
    click = Point(x=box[0] + box[2] / 2, y=box[1] + box[3] / 2)
    assert _send_until(h, lambda: h.bare_click.publish(click),
                       lambda: h.node.engine and h.node.engine.target_ids)
    assert 'select_click: tracking target' in h.node.selection_message
    ious = _follow(h, [scene(i) for i in range(1, 9)], range(32, 40))
    assert np.mean(ious[-4:]) > 0.3, ious


def test_a_published_box_starts_a_target_with_its_id(operator):
    h = operator
    rgb, box = scene(0)
    first = image_msg(rgb, sec=40)
    assert h.publish_until_processed(first)
    det = Detection2D()
    det.header = first.header
    det.id = 'dog'
    det.bbox.center.position.x, det.bbox.center.position.y = box[0] + box[2] / 2, \
        box[1] + box[3] / 2
    det.bbox.size_x, det.bbox.size_y = box[2], box[3]
    assert _send_until(h, lambda: h.box.publish(det),
                       lambda: h.node.engine and h.node.engine.target_ids == ['dog'])
    ious = _follow(h, [scene(i) for i in range(1, 11)], range(41, 51))
    assert h.detections[-1].detections[0].id == 'dog'
    assert np.mean(ious[-5:]) > 0.3, ious


@pytest.mark.parametrize('kind, change, words', [
    ('click', {'x': 5000.0}, 'outside the image'),
    ('click', {'sec': 3}, 'no frame with stamp 3.000001000 was received'),
    ('box', {'size_x': math.nan}, 'NaN'),
    ('box', {'size_x': -4.0}, 'positive'),
])
def test_invalid_selections_are_refused_with_the_reason(operator, kind, change, words):
    h = operator
    rgb, box = scene(0)
    first = image_msg(rgb, sec=60)
    assert h.publish_until_processed(first)
    if kind == 'click':
        msg = PointStamped()
        msg.header = image_msg(rgb, sec=change.get('sec', 60)).header
        msg.point.x, msg.point.y = change.get('x', 80.0), 90.0
        publish = h.click.publish
    else:
        msg = Detection2D()
        msg.header = first.header
        msg.bbox.center.position.x = msg.bbox.center.position.y = 90.0
        msg.bbox.size_x, msg.bbox.size_y = change['size_x'], 20.0
        publish = h.box.publish
    assert _send_until(h, lambda: publish(msg), lambda: h.node.selection_message)
    message = h.node.selection_message
    assert words in message and not h.node.engine.target_ids, message
    h.pub.publish(image_msg(scene(1)[0], sec=61))         # the reason reaches ~/state too
    assert h.wait_for(lambda: h.states and words in h.states[-1].message)


def _real_sequence():
    from graph import shared
    folder = shared('sot', 'dev', 'davis_blackswan')
    boxes = [tuple(float(v) for v in line.split(','))
             for line in (folder / 'groundtruth.txt').read_text().split()]
    frames = sorted((folder / 'img').glob('*.jpg'))
    return frames, boxes


@pytest.mark.data
def test_a_click_follows_a_real_object():
    frames, boxes = _real_sequence()
    x, y, w, h_ = boxes[0]
    node = Harness(select_box_size=int(round(math.sqrt(w * h_))))
    try:
        assert node.wait_active(60)
        click_pub = node.client.create_publisher(PointStamped, 'track_node/select_point', 10)
        images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in frames]
        first = image_msg(images[0], sec=100)
        assert node.publish_until_processed(first)
        click = PointStamped()
        click.header = first.header
        click.point.x, click.point.y = x + w / 2, y + h_ / 2
        assert _send_until(node, lambda: click_pub.publish(click),
                           lambda: node.node.engine and node.node.engine.target_ids)
        inside = []
        ious = _follow(node, list(zip(images[1:], boxes[1:])), range(101, 100 + len(images)),
                       inside)
        # a click gives a square box: the size settles over the frames, the centre must not
        # leave the swan once
        assert all(inside) and np.mean(ious) > 0.3, ious
        assert stamp_to_ns(node.detections[-1].header.stamp) == (99 + len(images)) * 10 ** 9 \
            + 1000
    finally:
        node.close()


def test_the_rviz_config_opens_on_the_debug_image():
    rviz = pathlib.Path(__file__).resolve().parents[1] / 'rviz' / 'track_node.rviz'
    text = rviz.read_text()
    assert 'rviz_default_plugins/Image' in text and 'debug_image' in text
