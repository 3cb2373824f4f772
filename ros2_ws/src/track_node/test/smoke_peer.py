"""Peer process for the environment smoke tests: answers images with detections.

Subscribes to ``image``, publishes one ``vision_msgs/Detection2DArray`` on ``detections`` per
image (header copied, a box covering the image centre), and serves
``track_interfaces/srv/SetTarget`` on ``set_target``. Exits after ``--seconds``.
"""

import argparse
import time

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from track_interfaces.srv import SetTarget
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose


class SmokePeer(Node):

    def __init__(self):
        super().__init__('smoke_peer')
        self.pub = self.create_publisher(Detection2DArray, 'detections', 10)
        self.sub = self.create_subscription(Image, 'image', self.on_image, 10)
        self.srv = self.create_service(SetTarget, 'set_target', self.on_set_target)

    def on_image(self, msg):
        out = Detection2DArray()
        out.header = msg.header
        det = Detection2D()
        det.header = msg.header
        det.id = 'peer'
        det.bbox.center.position.x = msg.width / 2.0
        det.bbox.center.position.y = msg.height / 2.0
        det.bbox.size_x = float(msg.width) / 4.0
        det.bbox.size_y = float(msg.height) / 4.0
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = msg.encoding
        hyp.hypothesis.score = 0.5
        det.results.append(hyp)
        out.detections.append(det)
        self.pub.publish(out)

    def on_set_target(self, request, response):
        ok = request.width > 0 and request.height > 0
        response.success = ok
        response.message = 'ok' if ok else 'width and height must be positive'
        response.target_id = request.target_id or 'assigned-1'
        return response


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seconds', type=float, default=30.0)
    args = parser.parse_args()
    rclpy.init()
    node = SmokePeer()
    try:
        end = time.monotonic() + args.seconds
        while rclpy.ok() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
