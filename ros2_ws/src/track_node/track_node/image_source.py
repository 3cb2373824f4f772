"""image_source: publishes a video file, an image folder, a sequence or a recording's images.

Parameters: the ``IMAGE_SOURCE`` table in ``track_node/params.py`` (``source``, ``rate``,
``loop``, ``replay_timing``, ``encoding``, ``max_frames``, ``max_width``, ``reliable``,
``wait_for_subscribers``, ``start_delay``, ``bag_topic``, ``bag_rate``), all read at start-up.

A rosbag2 recording (``source`` a bag folder, .db3 or .mcap) is played as recorded: the image
topic's messages (``sensor_msgs/Image`` on ``image``, or ``CompressedImage`` on
``image/compressed``) are published byte for byte, so their stamps and frame ids are the
recorded ones, at the recorded pace divided by ``bag_rate`` (0: as fast as possible).
"""

import time

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image

from track_node import params
from track_node.sources import BagSource, FrameSource, is_bag, SourceError


class ImageSource(Node):

    def __init__(self, **kwargs):
        super().__init__('image_source', **kwargs)
        problems = params.declare(self, params.IMAGE_SOURCE)
        try:
            if problems:
                raise ValueError('; '.join(problems.values()))
            cfg = params.validate(params.read(self, params.IMAGE_SOURCE), params.IMAGE_SOURCE)
        except ValueError as exc:
            raise SourceError(f'invalid parameters: {exc}') from None
        self.rate = cfg.rate
        self.loop = cfg.loop
        self.frame_id = cfg.frame_id
        self.replay = cfg.replay_timing
        self.encoding = cfg.encoding
        self.max_frames = cfg.max_frames
        self.max_width = cfg.max_width
        self.wait_for = cfg.wait_for_subscribers
        self.start_delay = cfg.start_delay
        self._ready_since = None
        self._pending = None
        qos = 10 if cfg.reliable else qos_profile_sensor_data
        self.bag = None
        if is_bag(cfg.source):
            self.bag = BagSource(cfg.source, cfg.bag_topic)
            self.bag_rate = cfg.bag_rate
            self.source = self.bag
            kind = (CompressedImage, 'image/compressed') if self.bag.kind == 'compressed' \
                else (Image, 'image')
            self.pub = self.create_publisher(kind[0], kind[1], qos)
            self.published, self.done, self._start = 0, False, None
            self._iter = self.bag.messages()
            self.timer = self.create_timer(0.002, self._tick_bag)
            self.get_logger().info(
                f'playing {self.bag.topic} of {self.bag.path} on {self.pub.topic_name} at '
                + (f'{self.bag_rate:g}x the recorded rate' if self.bag_rate > 0 else
                   'full speed') + (' (looping)' if self.loop else ''))
            return
        if self.rate <= 0 and not self.replay:
            raise SourceError('rate must be > 0 (or set replay_timing)')
        self.source = FrameSource(cfg.source, self.rate if self.rate > 0 else 30.0)
        self.pub = self.create_publisher(Image, 'image', qos)
        self.published = 0
        self.done = False
        self._iter = self.source.frames()
        self._start = None
        period = 1.0 / self.rate if self.rate > 0 else 0.005
        self.timer = self.create_timer(period, self._tick)
        self.get_logger().info(f'publishing {self.source.path} on {self.pub.topic_name} at '
                               f'{self.rate if self.rate > 0 else "media"} Hz'
                               f'{" (looping)" if self.loop else ""}')

    def _next(self):
        try:
            return next(self._iter)
        except StopIteration:
            if not self.loop:
                return None
            self._iter = self.source.frames()
            self._start = None
            return next(self._iter, None)

    def _may_start(self) -> bool:
        # A publisher can count a subscriber before that subscriber has matched it, and a
        # first frame sent then is lost for it: wait start_delay more once all are seen.
        if self.pub.get_subscription_count() < self.wait_for:
            self._ready_since = None
            return False
        if self._ready_since is None:
            self._ready_since = time.monotonic()
        return time.monotonic() - self._ready_since >= self.start_delay

    def _finish(self):
        self.timer.cancel()
        self.done = True
        self.get_logger().info(f'end of source after {self.published} frames')

    def _tick_bag(self):
        """Publish the recording's messages that are due (byte for byte, as recorded)."""
        if self.published == 0 and not self._may_start():
            return
        while True:
            if self.max_frames and self.published >= self.max_frames:
                self._finish()
                return
            if self._pending is None:
                self._pending = next(self._iter, None)
                if self._pending is None and self.loop and self.published:
                    self._iter, self._start = self.bag.messages(), None
                    self._pending = next(self._iter, None)
                if self._pending is None:
                    self._finish()
                    return
            raw, log_ns = self._pending
            if self._start is None:
                self._start = (log_ns, time.monotonic())
            if self.bag_rate > 0:
                due = self._start[1] + (log_ns - self._start[0]) / 1e9 / self.bag_rate
                if due > time.monotonic():
                    return                  # not yet: the next tick looks again
            self.pub.publish(raw)
            self.published += 1
            self._pending = None
            if self.bag_rate <= 0:
                return                      # as fast as possible, one message a tick

    def _tick(self):
        if self.published == 0 and not self._may_start():
            return            # replay from the first frame once everyone listens
        if self.max_frames and self.published >= self.max_frames:
            self._finish()
            return
        item = self._next()
        if item is None:
            self._finish()
            return
        rgb, media_t = item
        if self.max_width and rgb.shape[1] > self.max_width:
            scale = self.max_width / rgb.shape[1]
            rgb = cv2.resize(rgb, (self.max_width, int(round(rgb.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        now = self.get_clock().now()
        if self.replay:
            if self._start is None:
                self._start = (now.nanoseconds, time.monotonic() - media_t)
            wait = self._start[1] + media_t - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            stamp = Time(nanoseconds=self._start[0] + int(media_t * 1e9)).to_msg()
        else:
            stamp = now.to_msg()
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = self.frame_id
        msg.height, msg.width = rgb.shape[:2]
        msg.encoding = self.encoding
        msg.step = rgb.shape[1] * 3
        data = rgb if self.encoding == 'rgb8' else rgb[..., ::-1]
        msg.data = np.ascontiguousarray(data).tobytes()
        self.pub.publish(msg)
        self.published += 1


def main(args=None):
    rclpy.init(args=args)
    try:
        node = ImageSource()
    except SourceError as exc:
        print(f'image_source: {exc}')
        rclpy.try_shutdown()
        raise SystemExit(2)
    try:
        while rclpy.ok() and not node.done:       # a finished, non-looping source exits
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
