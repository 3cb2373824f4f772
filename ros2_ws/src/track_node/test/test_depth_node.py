"""3D positions over real Fast DDS: generated colour, depth and camera_info streams."""

from builtin_interfaces.msg import Time
from graph import Harness, image_msg, scene
import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from track_interfaces.srv import SetTarget
from vision_msgs.msg import Detection3DArray

from track_node.conversions import detection_to_xywh

F, CX, CY = 300.0, 159.5, 119.5


def depth_image(box, sec, nanosec=1000, z=2.0, size=(240, 320), millimetres=False):
    metres = np.full(size, 5.0, np.float32)
    x, y, w, h = (int(v) for v in box)
    metres[y:y + h, x:x + w] = z
    msg = Image(height=size[0], width=size[1], is_bigendian=0)
    if millimetres:
        msg.encoding, msg.step = '16UC1', size[1] * 2
        msg.data = (metres * 1000).astype('<u2').tobytes()
    else:
        msg.encoding, msg.step = '32FC1', size[1] * 4
        msg.data = metres.astype('<f4').tobytes()
    msg.header.stamp = Time(sec=sec, nanosec=nanosec)
    msg.header.frame_id = 'camera_depth_optical_frame'
    return msg


def camera_info(sec):
    msg = CameraInfo(width=320, height=240, k=[F, 0.0, CX, 0.0, F, CY, 0.0, 0.0, 1.0])
    msg.header.stamp = Time(sec=sec)
    msg.header.frame_id = 'camera_depth_optical_frame'
    return msg


def test_the_target_position_in_3d_with_the_reasons_when_there_is_none():
    h = Harness(use_depth=True, target_frame='base_link')
    try:
        assert h.wait_active(60), 'node did not activate'
        depth_pub = h.client.create_publisher(Image, 'depth/image', qos_profile_sensor_data)
        info_pub = h.client.create_publisher(CameraInfo, 'depth/camera_info', 10)
        points = []
        h.client.create_subscription(Detection3DArray, 'detections_3d', points.append, 10)
        rgb, box = scene(0)
        first = image_msg(rgb, sec=1300)
        assert h.publish_until_processed(first)
        reply = h.call(h.set_target, SetTarget.Request(
            x=box[0], y=box[1], width=box[2], height=box[3], stamp=first.header.stamp))
        assert reply.success, reply.message

        def frame(i, depth_sec=None, info=True, millimetres=False):
            rgb, box = scene(i)
            sec = 1300 + i
            if info:
                info_pub.publish(camera_info(sec))
            if depth_sec is not None:
                depth_pub.publish(depth_image(box, depth_sec, millimetres=millimetres))
            count = len(h.states)
            h.pub.publish(image_msg(rgb, sec=sec, frame_id='camera_color_optical_frame'))
            assert h.wait_for(lambda: len(h.states) > count and
                              h.states[-1].header.stamp.sec == sec), f'no answer to {sec}'
            return h.states[-1].targets[0], h.detections[-1]

        # 1. nothing yet from the depth camera: no point, and why
        target, _ = frame(1, info=False)
        assert not target.has_position and 'no depth image' in target.position_status
        # 2. matched depth (same stamp), both units: the point of the published box
        for i, mm in ((2, False), (3, True), (4, False)):
            for _ in range(3):              # the depth subscription may still be matching
                target, dets = frame(i, depth_sec=1300 + i, millimetres=mm)
                if target.has_position:
                    break
            assert target.has_position, target.position_status
            x, y, w, hh = detection_to_xywh(dets.detections[0])
            u, v = x + w / 2 - 0.5, y + hh / 2 - 0.5
            want = np.array([(u - CX) * 2.0 / F, (v - CY) * 2.0 / F, 2.0])
            got = np.array([target.position.x, target.position.y, target.position.z])
            assert np.linalg.norm(got - want) < 0.01, (got, want)
            # no tf2 here: said once, and the point stays in the depth camera's frame
            assert target.position_frame == 'camera_depth_optical_frame'
        assert h.wait_for(lambda: points and points[-1].detections, 5)
        d3 = points[-1]
        assert d3.header.frame_id == 'camera_depth_optical_frame'
        assert d3.detections[0].bbox.center.position.z == np.float64(2.0)
        assert abs(d3.detections[0].bbox.size.x - 56 * 2.0 / F) < 0.05
        # 3. a stale depth image (1 s older than the frame): no point, and why
        count = len(points)
        target, _ = frame(5, depth_sec=1304)
        assert not target.has_position and 'within 0.02 s' in target.position_status
        assert h.wait_for(lambda: len(points) > count, 5) and points[-1].detections == []
        # 4. a depth image of another size: not registered, no point
        rgb, box = scene(6)
        depth_pub.publish(depth_image(box, 1306, size=(120, 160)))
        target, _ = frame(6)
        assert not target.has_position and 'not registered' in target.position_status
    finally:
        h.close()
