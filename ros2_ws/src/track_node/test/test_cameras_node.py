"""Several cameras, one node, one model: each camera's topics and services under its name."""

from graph import Harness, image_msg, scene
import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from track_interfaces.msg import TrackingState
from track_interfaces.srv import ClearTarget, SetTarget
from vision_msgs.msg import Detection2DArray

from track_core.boxes import iou_xywh
from track_node.conversions import detection_to_xywh
from track_node.params import camera_names

CAMERAS = {'front': {}, 'rear': {'box': (200, 120, 48, 56), 'speed': (-3, 1), 'seed': 5}}


def test_camera_names_are_ros_name_tokens():
    assert camera_names('') == ([''], '')
    assert camera_names(' front , rear ') == (['front', 'rear'], '')
    assert 'must differ' in camera_names('a,a')[1]
    assert 'not starting with a digit' in camera_names('front,2nd')[1]
    assert 'not starting with a digit' in camera_names('wrist/cam')[1]


def test_two_cameras_track_a_target_each_with_one_model():
    h = Harness(cameras='front,rear')
    c = h.client
    pubs = {n: c.create_publisher(Image, f'{n}/image', qos_profile_sensor_data)
            for n in CAMERAS}
    dets = {n: [] for n in CAMERAS}
    states = {n: [] for n in CAMERAS}
    for n in CAMERAS:
        c.create_subscription(Detection2DArray, f'{n}/detections', dets[n].append, 10)
        c.create_subscription(TrackingState, f'track_node/{n}/state', states[n].append, 10)
    try:
        assert h.wait_active(60), 'node did not activate'
        ids = {}
        for n, args in CAMERAS.items():
            rgb, box = scene(0, **args)
            first = image_msg(rgb, sec=700)

            def cached(n=n, first=first):
                pubs[n].publish(first)
                reply = h.call(h.service(SetTarget, f'track_node/{n}/set_target'),
                               SetTarget.Request(x=box[0], y=box[1], width=box[2],
                                                 height=box[3], stamp=first.header.stamp))
                ids[n] = reply
                return reply.success
            assert h.wait_for(cached, 20), ids[n].message
        assert ids['front'].target_id != ids['rear'].target_id          # unique over cameras
        clash = h.call(h.service(SetTarget, 'track_node/rear/set_target'), SetTarget.Request(
            x=1.0, y=1.0, width=20.0, height=20.0, target_id=ids['front'].target_id))
        assert not clash.success and 'tracked on camera' in clash.message
        # each camera follows its own target, answered on its own topics
        for i in range(1, 8):
            truths = {}
            for n, args in CAMERAS.items():
                rgb, truths[n] = scene(i, **args)
                count = len(dets[n])
                pubs[n].publish(image_msg(rgb, sec=700 + i))
                assert h.wait_for(lambda n=n, count=count: len(dets[n]) > count and
                                  dets[n][-1].header.stamp.sec == 700 + i), (n, i)
        for n in CAMERAS:
            last = dets[n][-1].detections
            assert len(last) == 1 and last[0].id == ids[n].target_id
            overlap = iou_xywh(np.array(detection_to_xywh(last[0])), np.array(truths[n]))[0]
            assert overlap > 0.5, (n, overlap)
            assert states[n][-1].targets[0].id == ids[n].target_id
        # clearing one camera leaves the other
        reply = h.call(h.service(ClearTarget, 'track_node/rear/clear_target'),
                       ClearTarget.Request(target_id=''))
        assert reply.success
        rgb, _ = scene(8, **CAMERAS['rear'])
        count = len(dets['rear'])
        pubs['rear'].publish(image_msg(rgb, sec=708))
        assert h.wait_for(lambda: len(dets['rear']) > count)
        assert dets['rear'][-1].detections == []
        rgb, _ = scene(8)
        count = len(dets['front'])
        pubs['front'].publish(image_msg(rgb, sec=708))
        assert h.wait_for(lambda: len(dets['front']) > count)
        assert len(dets['front'][-1].detections) == 1
        # one status per camera in /diagnostics
        assert h.wait_for(lambda: h.diagnostics and {s.name for s in h.diagnostics[-1].status} ==
                          {'track_node: tracker front', 'track_node: tracker rear'}, 10)
    finally:
        h.close()
