"""track_node in a real graph: frames in over the middleware, services, detections out."""

import math
import time

from builtin_interfaces.msg import Time
from graph import DEFAULT_MODEL, Harness, image_msg, scene
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState
import numpy as np
import pytest
from track_interfaces.msg import TargetState
from track_interfaces.srv import ClearTarget, SetTarget

from track_core.boxes import iou_xywh
from track_node.conversions import detection_to_xywh


@pytest.fixture
def harness():
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f'{DEFAULT_MODEL} is missing: the shipped default model is needed')
    h = Harness()
    assert h.wait_active(60), 'node did not activate'
    yield h
    h.close()


def start_tracking(h, box_frame=0):
    rgb, box = scene(box_frame)
    first = image_msg(rgb, sec=100 + box_frame)
    assert h.publish_until_processed(first)
    reply = h.call(h.set_target, SetTarget.Request(
        x=box[0], y=box[1], width=box[2], height=box[3], target_id='',
        stamp=first.header.stamp))
    assert reply.success, reply.message
    return reply.target_id


def test_tracks_the_target_with_the_source_header(harness):
    h = harness
    target_id = start_tracking(h)
    ious = []
    for i in range(1, 16):
        rgb, box = scene(i)
        count = len(h.detections)
        msg = image_msg(rgb, sec=100 + i, frame_id='camera_optical')
        h.pub.publish(msg)
        assert h.wait_for(lambda: len(h.detections) > count), f'no detections for frame {i}'
        det_array = h.detections[-1]
        assert det_array.header.frame_id == 'camera_optical'
        assert det_array.header.stamp.sec == 100 + i
        (det,) = det_array.detections
        assert det.id == target_id and det.results[0].hypothesis.class_id == 'target'
        ious.append(float(iou_xywh(np.array(detection_to_xywh(det)), np.array(box))[0]))
    assert np.mean(ious[-5:]) > 0.3, ious
    state = h.states[-1]
    assert state.targets[0].id == target_id
    assert state.targets[0].state == TargetState.STATE_TRACKING


def test_tracks_with_the_onnx_backend_the_shipped_default():
    h = Harness(backend='onnx')
    try:
        assert h.wait_active(120), 'node did not activate'
        start_tracking(h)
        ious = []
        for i in range(1, 12):
            rgb, box = scene(i)
            count = len(h.detections)
            h.pub.publish(image_msg(rgb, sec=150 + i))
            assert h.wait_for(lambda: len(h.detections) > count), f'no detections for frame {i}'
            (det,) = h.detections[-1].detections
            ious.append(float(iou_xywh(np.array(detection_to_xywh(det)), np.array(box))[0]))
        assert np.mean(ious[-5:]) > 0.3, ious
    finally:
        h.close()


def test_target_that_vanishes_becomes_lost_then_clear(harness):
    h = harness
    assert h.set_params(lost_frames=2)[0].successful
    target_id = start_tracking(h)
    for i in range(1, 30):
        rgb, _ = scene(i, visible=False)
        count = len(h.states)
        h.pub.publish(image_msg(rgb, sec=200 + i))
        assert h.wait_for(lambda: len(h.states) > count)
        if h.states[-1].targets[0].state == TargetState.STATE_LOST:
            break
    assert h.states[-1].targets[0].state == TargetState.STATE_LOST, \
        [round(s.targets[0].score, 3) for s in h.states[-8:]]
    reply = h.call(h.clear, ClearTarget.Request(target_id=target_id))
    assert reply.success
    reply = h.call(h.clear, ClearTarget.Request(target_id=target_id))
    assert not reply.success and 'no target' in reply.message


@pytest.mark.parametrize('request_fields, words', [
    ({'x': 10.0, 'y': 10.0, 'width': math.nan, 'height': 20.0}, 'NaN'),
    ({'x': 10.0, 'y': 10.0, 'width': 0.0, 'height': 20.0}, 'positive'),
    ({'x': 10.0, 'y': 10.0, 'width': -5.0, 'height': 20.0}, 'positive'),
    ({'x': 900.0, 'y': 10.0, 'width': 20.0, 'height': 20.0}, 'outside the image'),
    ({'x': 10.0, 'y': 10.0, 'width': 20.0, 'height': 20.0, 'stamp': Time(sec=5)},
     'no frame with stamp 5.000000000 was received'),
])
def test_invalid_requests_are_refused_and_the_node_keeps_running(
        harness, request_fields, words):
    h = harness
    rgb, _ = scene(0)
    assert h.publish_until_processed(image_msg(rgb, sec=300))
    reply = h.call(h.set_target, SetTarget.Request(**request_fields))
    assert not reply.success and words in reply.message, reply.message
    assert start_tracking(h, box_frame=1)


def test_no_frame_yet_and_malformed_images(harness):
    h = harness
    reply = h.call(h.set_target, SetTarget.Request(x=1.0, y=1.0, width=9.0, height=9.0))
    assert not reply.success and 'no frame received yet' in reply.message
    rgb, _ = scene(0)
    bad = [image_msg(rgb, sec=1) for _ in range(3)]
    bad[0].encoding = '16UC1'
    bad[1].data = bad[1].data[:100]
    bad[2].step = 10
    for msg in bad:
        assert h.publish_until_counted(lambda: h.pub.publish(msg), 'bad'), msg.encoding
    assert start_tracking(h)      # alive and working


def test_run_time_parameters_validated(harness):
    h = harness
    ok = h.set_params(lost_threshold=0.2)[0]
    assert ok.successful
    assert _in_force(h, lost_threshold=0.2)
    bad = h.set_params(lost_threshold=3.0)[0]
    assert not bad.successful and 'lost_threshold' in bad.reason
    ro = h.set_params(backend='onnx')[0]
    assert not ro.successful and 'configure' in ro.reason


def _change(h, transition_id):
    client = h.service(ChangeState, 'track_node/change_state')
    return h.call(client, ChangeState.Request(transition=Transition(id=transition_id))).success


def test_lifecycle_transitions_and_a_missing_model(tmp_path):
    h = Harness(model=tmp_path / 'missing.safetensors', autostart=False)
    try:
        assert h.lifecycle_state() == State.PRIMARY_STATE_UNCONFIGURED
        assert not _change(h, Transition.TRANSITION_CONFIGURE)      # missing file: refused
        assert h.lifecycle_state() == State.PRIMARY_STATE_UNCONFIGURED     # ... still alive
        assert h.set_params(model_path=str(DEFAULT_MODEL))[0].successful
        assert _change(h, Transition.TRANSITION_CONFIGURE)
        assert h.lifecycle_state() == State.PRIMARY_STATE_INACTIVE
        assert h.client.count_subscribers('image') == 0           # not subscribed yet
        assert _change(h, Transition.TRANSITION_ACTIVATE)
        assert h.wait_for(lambda: h.client.count_subscribers('image') == 1)
        assert h.lifecycle_state() == State.PRIMARY_STATE_ACTIVE
        assert start_tracking(h)
        assert _change(h, Transition.TRANSITION_DEACTIVATE)
        assert h.wait_for(lambda: h.client.count_subscribers('image') == 0)
        assert h.lifecycle_state() == State.PRIMARY_STATE_INACTIVE
        count = len(h.detections)
        rgb, _ = scene(3)
        for _ in range(5):
            h.pub.publish(image_msg(rgb, sec=400))
            time.sleep(0.05)
        assert len(h.detections) == count                         # inactive: nothing out
        assert _change(h, Transition.TRANSITION_CLEANUP)
        reply = h.call(h.set_target, SetTarget.Request(x=1.0, y=1.0, width=9.0, height=9.0))
        assert not reply.success and 'not configured' in reply.message     # model unloaded
        assert h.lifecycle_state() == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        h.close()


def _in_force(h, **settings):
    """Wait for /diagnostics to show every one of ``settings`` in force."""
    return h.wait_for(lambda: all(h.diagnostic(k) == str(v) for k, v in settings.items()), 10)


def test_a_model_brings_its_tracker_settings_and_given_ones_win(tmp_path):
    from track_core.checkpoint import load_model, read_checkpoint, save_checkpoint
    from track_core.runtime import TrackerConfig
    from track_core.runtime.loader import with_runtime
    model, pre = load_model(DEFAULT_MODEL)
    _, _, _, extra = read_checkpoint(DEFAULT_MODEL)
    own = TrackerConfig(window_blend=0.3, size_smoothing=0.8, lost_threshold=0.15,
                        lost_frames=7)
    first = save_checkpoint(tmp_path / 'a.safetensors', model, pre, with_runtime(extra, own))
    other = save_checkpoint(tmp_path / 'b.safetensors', model, pre,
                            with_runtime(extra, TrackerConfig(window_blend=0.6)))
    h = Harness(model=first, autostart=False, lost_frames=3)         # given at start-up
    try:
        assert _change(h, Transition.TRANSITION_CONFIGURE)
        assert _change(h, Transition.TRANSITION_ACTIVATE)             # /diagnostics comes
        assert _in_force(h, window_blend=0.3, size_smoothing=0.8, lost_threshold=0.15,
                         lost_frames=3)                               # 3: the user's value
        assert h.get_param('window_blend') is None and \
            'window_blend' in h.param_names()                         # declared, not set
        assert h.set_params(size_smoothing=0.4)[0].successful
        assert _in_force(h, size_smoothing=0.4)
        assert _change(h, Transition.TRANSITION_DEACTIVATE)
        assert _change(h, Transition.TRANSITION_CLEANUP)
        h.diagnostics.clear()                                         # a's settings
        assert h.set_params(model_path=str(other))[0].successful
        assert _change(h, Transition.TRANSITION_CONFIGURE)
        assert _change(h, Transition.TRANSITION_ACTIVATE)
        assert _in_force(h, window_blend=0.6,                         # the new model's own
                         size_smoothing=0.4, lost_frames=3,           # set by the user
                         lost_threshold=TrackerConfig().lost_threshold)   # b: the default
    finally:
        h.close()


def test_the_interface_table_is_what_the_node_offers():
    # every topic and service of docs/node.md exists on a running node, and nothing else
    from track_node import interface
    # a name of its own: a node named track_node from an earlier test of this process can
    # linger in the graph for a moment
    node, ns = 'interface_probe', '/'
    h = Harness(use_compressed=True, use_depth=True, use_detector=True, node_name=node)
    try:
        assert h.wait_active(60), 'node did not activate'

        def resolve(name):
            return f'/{node}/' + name[2:] if name.startswith('~/') else '/' + name.lstrip('/')
        want = {(resolve(t.name), t.msg_type, t.kind) for t in interface.TOPICS}
        want_services = {(resolve(s.name), s.msg_type) for s in interface.SERVICES}

        def offered():
            pubs = h.client.get_publisher_names_and_types_by_node(node, ns)
            subs = h.client.get_subscriber_names_and_types_by_node(node, ns)
            return ({(n, t[0], 'out') for n, t in pubs} | {(n, t[0], 'in') for n, t in subs})
        own = {'/parameter_events', '/rosout', f'/{node}/transition_event'}
        assert h.wait_for(lambda: {x for x in offered() if x[0] not in own} == want, 20), \
            sorted({x for x in offered() if x[0] not in own} ^ want)
        services = {(n, t[0]) for n, t in
                    h.client.get_service_names_and_types_by_node(node, ns)}
        assert want_services <= services, sorted(want_services - services)
        standard = {'change_state', 'get_state', 'get_available_states',
                    'get_available_transitions', 'get_transition_graph',
                    'describe_parameters', 'get_parameter_types', 'get_parameters',
                    'list_parameters', 'set_parameters', 'set_parameters_atomically',
                    'get_type_description'}      # lifecycle and parameter services
        extra = {n for n, _ in services - want_services}
        assert {n.rsplit('/', 1)[-1] for n in extra} <= standard, sorted(extra)
    finally:
        h.close()


def test_leave_and_return_lost_while_away_nothing_claimed_then_found_again(harness):
    # The target walks out of the view for 15 frames and comes back at another place, out of
    # reach of the search around where it left: the frame scan has to find it.
    h = harness
    target_id = start_tracking(h)
    left = scene(6)[1]                              # where it is when it leaves
    here = {'box': tuple(int(v) for v in left), 'speed': (0, 0)}
    there = {'box': (220, 160, 56, 48), 'speed': (0, 0)}
    timeline = []

    def frame(i, visible):
        place = there if i >= 22 else here
        rgb, _ = scene(i, **place, visible=visible) if i > 6 else scene(i)
        count = len(h.states)
        h.pub.publish(image_msg(rgb, sec=600 + i))
        assert h.wait_for(lambda: len(h.states) > count and
                          h.states[-1].header.stamp.sec == 600 + i), f'no answer to {i}'
        t = h.states[-1].targets[0]
        dets = [d for d in h.detections if d.header.stamp.sec == 600 + i]
        timeline.append((i, t.state, round(t.score, 2), bool(dets and dets[-1].detections)))
        return t, dets[-1].detections if dets else []
    for i in range(1, 7):
        frame(i, True)
    away = [frame(i, False) for i in range(7, 22)]
    states = [t.state for t, _ in away]
    assert TargetState.STATE_LOST in states[:8], timeline          # LOST soon after it left
    first = states.index(TargetState.STATE_LOST)
    assert all(s == TargetState.STATE_LOST for s in states[first:]), timeline
    assert all(not dets for t, dets in away[first:]), timeline      # nothing claimed while away
    assert away[-1][0].seconds_since_seen > 0.5 and away[-1][0].id == target_id
    back = []
    for i in range(22, 52):
        t, dets = frame(i, True)
        back.append(t)
        if t.state != TargetState.STATE_LOST:
            break
    assert back[-1].state == TargetState.STATE_REACQUIRED, timeline
    assert back[-1].id == target_id and back[-1].seconds_since_seen == 0.0
    t, dets = frame(len(back) + 22, True)
    assert t.state == TargetState.STATE_TRACKING and len(dets) == 1 and dets[0].id == target_id
    centre = dets[0].bbox.center.position
    assert abs(centre.x - 248) < 10 and abs(centre.y - 184) < 10, timeline    # the new place
