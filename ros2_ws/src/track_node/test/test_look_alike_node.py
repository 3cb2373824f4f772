"""The right instance, as a robot sees it over real Fast DDS.

The target walks out, another figure of the same build walks in where it was, the target comes
back elsewhere. The node must
say SEARCHING (and publish no box) while only the look-alike is in view, count it refused in
/diagnostics, and say TRACKING with the same id once the target is back.

The node runs the shipped model's own settings: the figures share one background and one
build, so the features alone let the look-alike in at the shipped 0.65; its colours keep it out
(``colour_threshold``; test/test_appearance.py shows each part).
"""

from graph import DEFAULT_MODEL, Harness, image_msg
import numpy as np
import pytest
from track_interfaces.msg import TargetState
from track_interfaces.srv import SetTarget

from track_core.boxes import iou_xywh
from track_core.data.synthetic import look_alike_scene
from track_node.conversions import detection_to_xywh


def test_the_node_searches_while_only_a_look_alike_is_in_view_and_takes_the_target_back():
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f'{DEFAULT_MODEL} is missing: the shipped default model is needed')
    frames, boxes, others, shown = look_alike_scene(seed=0)
    h = Harness()
    try:
        assert h.wait_active(60), 'node did not activate'
        first = image_msg(frames[0], sec=300)
        assert h.publish_until_processed(first)
        x, y, w, h_ = (float(v) for v in boxes[0])
        reply = h.call(h.set_target, SetTarget.Request(x=x, y=y, width=w, height=h_,
                                                       target_id='', stamp=first.header.stamp))
        assert reply.success, reply.message
        target_id = reply.target_id
        timeline = []
        for i in range(1, len(frames)):
            count = len(h.states)
            h.pub.publish(image_msg(frames[i], sec=300 + i))
            assert h.wait_for(lambda: len(h.states) > count and
                              h.states[-1].header.stamp.sec == 300 + i), f'no answer to {i}'
            t = h.states[-1].targets[0]
            dets = [d.detections for d in h.detections if d.header.stamp.sec == 300 + i]
            timeline.append((i, shown[i], t.state, t.id, dets[-1] if dets else []))
        on_other = [e for e in timeline if e[1] == 'other']
        assert all(e[2] == TargetState.STATE_SEARCHING for e in on_other), \
            [(i, s) for i, _, s, *_ in on_other]
        assert all(not e[4] for e in on_other), 'a box was published on the look-alike'
        assert h.counted('look_alikes_refused', 1), \
            'no look_alikes_refused in /diagnostics'
        back = [e for e in timeline if e[1] == 'target' and e[0] > len(frames) - 21]
        found = next(k for k, e in enumerate(back) if e[2] != TargetState.STATE_SEARCHING)
        assert found <= 8, [(i, s) for i, _, s, *_ in back]
        for i, _, state, tid, dets in back[found + 1:]:
            assert state == TargetState.STATE_TRACKING and tid == target_id
            assert len(dets) == 1 and dets[0].id == target_id
            overlap = iou_xywh(np.asarray(detection_to_xywh(dets[0])), boxes[i])[0]
            assert overlap > 0.5, (i, detection_to_xywh(dets[0]), boxes[i])
    finally:
        h.close()
