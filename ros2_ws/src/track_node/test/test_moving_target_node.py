"""A small target that keeps moving while hidden, as a robot sees it over real Fast DDS.

A 20-px target crosses a 640x480 frame at 6 px a frame, is hidden for 30 frames (a second at
30 fps) while it goes on, and shows again 180 px ahead of where it was lost. The node must
publish no box while it is hidden (the prediction is never reported), and say TRACKING again
with the same id within a few frames of its return, its box on the target.

Before the frame scan looked where the target was heading first (``search.SearchState.
ahead``), the scan had passed that part of the frame while the target was hidden and came
back to it only after a full round of the frame, 20 frames and more later.
"""

from graph import DEFAULT_MODEL, Harness, image_msg, scene
import numpy as np
import pytest
from track_interfaces.msg import TargetState
from track_interfaces.srv import SetTarget

from track_core.boxes import iou_xywh
from track_node.conversions import detection_to_xywh

ROAD = {'size': (480, 640), 'box': (40, 200, 20, 20), 'speed': (6, 1)}
HIDDEN = range(15, 45)
# back within: the scan's first look at the predicted place, then scan_confirm (5) frames
WITHIN = 8


def test_a_small_target_hidden_while_it_moves_is_taken_back_ahead_with_its_id():
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f'{DEFAULT_MODEL} is missing: the shipped default model is needed')
    h = Harness()
    try:
        assert h.wait_active(60), 'node did not activate'
        rgb, box = scene(0, **ROAD)
        first = image_msg(rgb, sec=600)
        assert h.publish_until_processed(first)
        reply = h.call(h.set_target, SetTarget.Request(
            x=box[0], y=box[1], width=box[2], height=box[3], stamp=first.header.stamp))
        assert reply.success, reply.message
        timeline = []
        for i in range(1, HIDDEN.stop + 15):
            rgb, truth = scene(i, **ROAD, visible=i not in HIDDEN)
            count = len(h.states)
            h.pub.publish(image_msg(rgb, sec=600 + i))
            assert h.wait_for(lambda: len(h.states) > count and
                              h.states[-1].header.stamp.sec == 600 + i), f'no answer to {i}'
            dets = [d.detections for d in h.detections if d.header.stamp.sec == 600 + i]
            timeline.append((i, h.states[-1].targets[0], dets[-1] if dets else [], truth))
        before = [t.state for i, t, _, _ in timeline if i < HIDDEN.start]
        assert all(s == TargetState.STATE_TRACKING for s in before), before
        hidden = [(i, t.state, d) for i, t, d, _ in timeline if i in HIDDEN]
        assert all(not d for _, _, d in hidden), 'a box was published while it was hidden'
        assert hidden[-1][1] == TargetState.STATE_SEARCHING, hidden[-1]
        back = [(i, t, d, truth) for i, t, d, truth in timeline if i >= HIDDEN.stop]
        found = next((k for k, (_, t, _, _) in enumerate(back)
                      if t.state in (TargetState.STATE_REACQUIRED, TargetState.STATE_TRACKING)),
                     None)
        assert found is not None and found <= WITHIN, [(i, t.state) for i, t, _, _ in back]
        for i, t, dets, truth in back[found:]:
            assert t.id == reply.target_id and len(dets) == 1 and dets[0].id == reply.target_id
            overlap = iou_xywh(np.asarray(detection_to_xywh(dets[0])), np.asarray(truth))[0]
            assert overlap > 0.5, (i, detection_to_xywh(dets[0]), truth)
        assert back[-1][1].state == TargetState.STATE_TRACKING
    finally:
        h.close()
