"""A detector's help over real Fast DDS: selection by detection, re-acquisition after a loss."""

from graph import detector_output, Harness, image_msg, scene
import numpy as np
from track_interfaces.msg import TargetState
from track_interfaces.srv import SelectDetection
from vision_msgs.msg import Detection2DArray

from track_core.boxes import iou_xywh
from track_node.conversions import detection_to_xywh

JUMPED = {'box': (230, 170, 56, 48), 'speed': (0, 0)}
CUP = (20, 150, 40, 40)          # a detection of another class, on empty background


detections = detector_output        # (sec, [(id, class, box)])


def test_select_by_detection_refuse_an_unknown_id_and_reacquire_after_a_loss():
    h = Harness(use_detector=True, scan_tiles=0)   # the detector's help, not the frame scan
    try:
        assert h.wait_active(60), 'node did not activate'
        pub = h.client.create_publisher(Detection2DArray, 'detector/detections', 10)
        client = h.client.create_client(SelectDetection, 'track_node/select_detection')
        rgb, box = scene(0)
        first = image_msg(rgb, sec=1400)
        assert h.publish_until_processed(first)
        stamp_ns = 1400 * 10 ** 9 + 1000
        seen = h.wait_for(lambda: (pub.publish(detections(1400, [
            ('person_7', 'person', box), ('cup_1', 'cup', CUP)])), h.node.detections.find(
                stamp_ns)[0])[1], 10)
        assert seen, 'the detections never reached the node'
        reply = h.call(client, SelectDetection.Request(detection_id='nobody',
                                                       stamp=first.header.stamp))
        assert not reply.success and "no detection with id 'nobody'" in reply.message
        assert 'person_7' in reply.message                  # it says what there is
        reply = h.call(client, SelectDetection.Request(detection_id='person_7',
                                                       stamp=first.header.stamp))
        assert reply.success and reply.target_id == 'person_7', reply.message

        def frame(i, scene_args, dets):
            rgb, truth = scene(i, **scene_args)
            sec = 1400 + i
            if dets is not None:
                pub.publish(detections(sec, dets(truth)))
            count = len(h.states)
            h.pub.publish(image_msg(rgb, sec=sec))
            assert h.wait_for(lambda: len(h.states) > count and
                              h.states[-1].header.stamp.sec == sec), f'no answer to {sec}'
            target = h.states[-1].targets[0]
            dets = h.detections[-1].detections
            if not dets:                                    # not seen: no box is claimed
                assert target.state in (TargetState.STATE_UNSURE, TargetState.STATE_SEARCHING)
                return target, 0.0
            found = detection_to_xywh(dets[0])
            return target, float(iou_xywh(np.array(found), np.array(truth))[0])
        for i in range(1, 4):
            target, overlap = frame(i, {}, None)
        assert target.state == TargetState.STATE_TRACKING and overlap > 0.5
        # the target jumps out of the tracker's reach, and the detector is silent: SEARCHING
        for i in range(4, 16):
            target, overlap = frame(i, JUMPED, None)
        assert target.state == TargetState.STATE_SEARCHING and overlap == 0.0
        assert target.id == 'person_7'
        # now the detector sees it (and a cup): re-acquired on the person, same id
        states = []
        for i in range(16, 22):
            target, overlap = frame(i, JUMPED, lambda truth: [('person_7', 'person', truth),
                                                              ('cup_1', 'cup', CUP)])
            states.append((target.state, round(overlap, 2)))
            if target.state not in (TargetState.STATE_UNSURE, TargetState.STATE_SEARCHING):
                break
        assert target.state == TargetState.STATE_REACQUIRED and overlap > 0.5, states
        assert target.id == 'person_7'
    finally:
        h.close()
