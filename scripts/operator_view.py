"""What an operator sees on debug_image: before a selection, then after a click.

Runs track_node (the shipped default model) and a viewer in one process over the real
middleware: frames of the demo video go to ``image``, the viewer saves the node's
``debug_image`` with no target (the hint), clicks the target as rqt_image_view does (a
geometry_msgs/PointStamped on ``~/select_point`` with the frame's stamp), plays on and saves the
debug image again. Writes docs/operator_before.png and docs/operator_after.png.

    python scripts/operator_view.py [--out docs] [--click 192 200] [--frames 40]
"""

import argparse
import pathlib
import sys
import time

import cv2
from geometry_msgs.msg import PointStamped
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from track_interfaces.msg import TrackingState

from track_node.conversions import image_to_rgb, rgb_to_image_msg
from track_node.node import TrackNode

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'scripts'))
from demo import find_demo_video  # noqa: E402,I100 - the demo's own video finder


def video_frames(path, count, width=640):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, bgr = cap.read()
        if not ok:
            break
        scale = width / bgr.shape[1]
        bgr = cv2.resize(bgr, (width, int(round(bgr.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=str(ROOT / 'docs'))
    parser.add_argument('--model', default=str(ROOT / 'models' / 'default.safetensors'))
    parser.add_argument('--click', type=float, nargs=2, default=[192.0, 200.0],
                        help='where the operator clicks on the first frame (pixels)')
    parser.add_argument('--box-size', type=int, default=140)
    parser.add_argument('--frames', type=int, default=40)
    args = parser.parse_args(argv)
    frames = video_frames(find_demo_video(), args.frames + 1)
    rclpy.init()
    node = TrackNode(parameter_overrides=[
        Parameter('model_path', value=args.model), Parameter('max_frame_age', value=0.0),
        Parameter('select_box_size', value=args.box_size)])
    viewer = Node('operator')
    shown, states = [], []
    viewer.create_subscription(Image, 'debug_image', shown.append, 10)
    viewer.create_subscription(TrackingState, 'track_node/state', states.append, 10)
    camera = viewer.create_publisher(Image, 'image', 10)
    click = viewer.create_publisher(PointStamped, 'track_node/select_point', 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(viewer)

    def spin_until(predicate, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    def show(k):
        header = Header(frame_id='camera')
        header.stamp.sec = 100 + k
        msg = rgb_to_image_msg(frames[k], header)
        count = len(shown)
        camera.publish(msg)
        return spin_until(lambda: len(shown) > count and shown[-1].header.stamp.sec == 100 + k,
                          2.0)

    out = pathlib.Path(args.out)
    try:
        # active once it listens to the camera (what `ros2 topic info image` shows)
        if not spin_until(lambda: viewer.count_subscribers('image') > 0, 120):
            raise RuntimeError('track_node did not activate')
        while not show(0):
            pass
        cv2.imwrite(str(out / 'operator_before.png'),
                    cv2.cvtColor(image_to_rgb(shown[-1]), cv2.COLOR_RGB2BGR))
        point = PointStamped()
        point.header = shown[-1].header
        point.point.x, point.point.y = args.click

        def selected():
            return any(msg.targets for msg in states)
        while not selected():
            click.publish(point)
            show(0)
            spin_until(selected, 0.5)
        print(f'[operator] tracking target {states[-1].targets[0].id}')
        for k in range(1, len(frames)):
            show(k)
        cv2.imwrite(str(out / 'operator_after.png'),
                    cv2.cvtColor(image_to_rgb(shown[-1]), cv2.COLOR_RGB2BGR))
        print(f'[operator] wrote {out / "operator_before.png"} and operator_after.png')
    finally:
        node.stop_worker()
        executor.shutdown()
        node.destroy_node()
        viewer.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
