"""Publishes generated camera frames from its own process (another DDS participant).

    python frame_publisher.py WIDTH HEIGHT COUNT RATE

Waits for a subscriber and sends a second of warm-up frames (stamps under 1000 s) so that the
reader has surely matched, prints ``ready`` and waits for a line on standard input; then
publishes COUNT bgr8 frames at RATE Hz on ``image`` (stamps 1000 s, 1001 s, ...) with the
sensor-data QoS a camera driver uses (best effort), and prints how many it sent.
"""

import argparse
import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main():
    parser = argparse.ArgumentParser()
    for name in ('width', 'height', 'count'):
        parser.add_argument(name, type=int)
    parser.add_argument('rate', type=float)
    args = parser.parse_args()
    rclpy.init()
    node = Node('frame_publisher')
    pub = node.create_publisher(Image, 'image', qos_profile_sensor_data)
    end = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    rng = np.random.default_rng(0)
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.step = args.height, args.width, 'bgr8', \
        args.width * 3
    pixels = rng.integers(0, 256, args.height * args.width * 3, dtype=np.uint8)
    msg.data = pixels.tobytes()
    for i in range(10):     # the reader matches the writer a moment after it is counted
        msg.header.stamp.sec = 1 + i
        pub.publish(msg)
        time.sleep(0.1)
    print('ready', flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    for i in range(args.count):
        msg.header.stamp.sec = 1000 + i
        msg.data = pixels.tobytes()
        pub.publish(msg)
        wait = start + (i + 1) / args.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    time.sleep(0.5)
    print(f'sent {args.count}', flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
