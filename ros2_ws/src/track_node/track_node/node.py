"""track_node: the lifecycle node around track_core's Tracker.

configure: validate parameters, load the model (a missing or corrupt file fails the
transition with the reason); activate: subscribe and start the inference worker; deactivate:
unsubscribe and stop it; cleanup: free the model. With ``autostart`` (default true) the node
configures and activates itself, so it runs without a lifecycle manager.

Only the newest frame is kept: the image callback just stores it, the worker thread runs
inference, so a slow model never builds a backlog; overwritten and stale frames are counted.
"""

import collections
import threading
import time
from typing import Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from track_interfaces.msg import TrackingState
from track_interfaces.srv import ClearTarget, SetTarget
from vision_msgs.msg import Detection2DArray

from track_core.errors import CheckpointError
from track_core.runtime import load_tracker
from track_node import params
from track_node.conversions import (compressed_to_rgb, detections_msg, ImageError,
                                    make_converter, rgb_to_image_msg, stamp_to_ns, state_msg)
from track_node.drawing import draw_results


class _Frame:
    __slots__ = ('header', 'msg', 'compressed', 'arrival')

    def __init__(self, header, msg, compressed, arrival):
        self.header, self.msg, self.compressed, self.arrival = header, msg, compressed, arrival


class TrackNode(LifecycleNode):

    def __init__(self, node_name: str = 'track_node', **kwargs):
        super().__init__(node_name, **kwargs)
        params.declare(self)
        self.declare_parameter('autostart', True)
        self.settings: Optional[params.NodeSettings] = None
        self.tracker = None
        self.tracker_lock = threading.Lock()
        self.frame_lock = threading.Condition()
        self.pending: Optional[_Frame] = None
        self.frames = collections.deque()
        self.worker: Optional[threading.Thread] = None
        self.running = False
        self.subs = []
        self.pubs_ready = False
        self.convert = None
        self.stats = {'dropped': 0, 'stale': 0, 'bad': 0, 'processed': 0}
        self.latency_ms = 0.0
        self.fps = 0.0
        self._times = collections.deque(maxlen=30)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.get_parameter('autostart').value:
            self._autostart = self.create_timer(0.0, self._do_autostart)

    # ----------------------------------------------------------------- autostart
    def _do_autostart(self):
        self.destroy_timer(self._autostart)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.settings = params.settings_from_values(params.read(self))
        except ValueError as exc:
            self.get_logger().error(f'configure failed: invalid parameters: {exc}')
            return TransitionCallbackReturn.FAILURE
        s = self.settings
        try:
            tracker = load_tracker(s.model_path, device=s.device, backend=s.backend,
                                   config=s.tracker, threads=s.threads or None)
        except (CheckpointError, RuntimeError, ValueError, ImportError) as exc:
            self.get_logger().error(f'configure failed: cannot load the model: {exc}')
            return TransitionCallbackReturn.FAILURE
        with self.tracker_lock:
            self.tracker = tracker
        self.convert, conv_name = make_converter(s.prefer_cv_bridge)
        self.frames = collections.deque(maxlen=s.frame_cache_size)
        self.det_pub = self.create_publisher(Detection2DArray, 'detections', 10)
        self.state_pub = self.create_publisher(TrackingState, '~/state', 10)
        self.debug_pub = self.create_publisher(Image, 'debug_image', 2)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.set_srv = self.create_service(SetTarget, '~/set_target', self._on_set_target)
        self.clear_srv = self.create_service(ClearTarget, '~/clear_target', self._on_clear)
        self.diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        self.pubs_ready = True
        cfg = tracker.model_cfg
        self.get_logger().info(
            f'configured: model {s.model_path} ({cfg.name}, {cfg.depth} blocks, '
            f'{cfg.template_size}/{cfg.search_size} crops), backend {s.backend} on '
            f'{s.device}, images via {conv_name}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        qos = qos_profile_sensor_data if self.settings.best_effort else QoSProfile(depth=5)
        overrides = QoSOverridingOptions.with_default_policies()
        self.subs = [self.create_subscription(Image, 'image', self._on_image, qos,
                                              qos_overriding_options=overrides)]
        if self.settings.use_compressed:
            self.subs.append(self.create_subscription(
                CompressedImage, 'image/compressed', self._on_compressed, qos,
                qos_overriding_options=overrides))
        self.running = True
        self.worker = threading.Thread(target=self._work, name='track_worker', daemon=True)
        self.worker.start()
        self.get_logger().info('active: tracking on image' +
                               (' and image/compressed' if self.settings.use_compressed else ''))
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_worker()
        for sub in self.subs:
            self.destroy_subscription(sub)
        self.subs = []
        self.get_logger().info('inactive: unsubscribed')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info('cleaned up: model released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_worker(self):
        with self.frame_lock:
            self.running = False
            self.frame_lock.notify_all()
        if self.worker is not None:
            self.worker.join(timeout=10.0)
            self.worker = None

    def _release(self):
        if self.pubs_ready:
            for pub in (self.det_pub, self.state_pub, self.debug_pub, self.diag_pub):
                self.destroy_publisher(pub)
            self.destroy_service(self.set_srv)
            self.destroy_service(self.clear_srv)
            self.destroy_timer(self.diag_timer)
            self.pubs_ready = False
        with self.tracker_lock:
            self.tracker = None
        self.frames.clear()

    # ----------------------------------------------------------------- parameters
    def _on_set_parameters(self, changes):
        if self.settings is None:
            return SetParametersResult(successful=True)
        values = {p.name: p.value for p in changes}
        configured = self.tracker is not None
        try:
            new = params.apply_changes(self.settings, values, configured)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.settings = new
        with self.tracker_lock:
            if self.tracker is not None:
                self.tracker.set_config(new.tracker)
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- images
    def _on_image(self, msg):
        self._offer(_Frame(msg.header, msg, False, time.monotonic()))

    def _on_compressed(self, msg):
        self._offer(_Frame(msg.header, msg, True, time.monotonic()))

    def _offer(self, frame):
        # Every frame enters the cache, converted only if set_target asks for it; only the
        # newest one waits for inference.
        self.frames.append((stamp_to_ns(frame.header.stamp), frame))
        with self.frame_lock:
            if self.pending is not None:
                self.stats['dropped'] += 1
            self.pending = frame
            self.frame_lock.notify()

    def _work(self):
        while True:
            with self.frame_lock:
                while self.running and self.pending is None:
                    self.frame_lock.wait(timeout=0.5)
                if not self.running:
                    return
                frame, self.pending = self.pending, None
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any bad frame
                self.stats['bad'] += 1
                self.get_logger().error(f'frame skipped: {type(exc).__name__}: {exc}',
                                        throttle_duration_sec=2.0)

    def _process(self, frame: _Frame):
        age = time.monotonic() - frame.arrival
        if self.settings.max_frame_age and age > self.settings.max_frame_age:
            self.stats['stale'] += 1
            return
        try:
            rgb = self._to_rgb(frame)
        except ImageError as exc:
            self.stats['bad'] += 1
            self.get_logger().warning(f'image skipped: {exc}', throttle_duration_sec=2.0)
            return
        with self.tracker_lock:
            if self.tracker is None or not self.tracker.target_ids:
                return
            results = self.tracker.track_all(rgb)
        now = time.monotonic()
        self.latency_ms = (now - frame.arrival) * 1000.0
        self._times.append(now)
        if len(self._times) > 1:
            self.fps = (len(self._times) - 1) / (self._times[-1] - self._times[0])
        self.stats['processed'] += 1
        self._publish(frame.header, rgb, results)

    def _to_rgb(self, frame: _Frame) -> np.ndarray:
        return compressed_to_rgb(frame.msg) if frame.compressed else self.convert(frame.msg)

    def _publish(self, header, rgb, results: Dict[str, object]):
        if not self.pubs_ready:
            return
        s = self.settings
        self.det_pub.publish(detections_msg(header, results, s.class_id))
        self.state_pub.publish(state_msg(header, results, self.latency_ms, self.fps,
                                         self.stats['dropped'] + self.stats['stale']))
        if s.debug_image and self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(rgb_to_image_msg(draw_results(rgb, results, self.fps),
                                                    header))

    def _publish_diagnostics(self):
        status = DiagnosticStatus()
        status.name = f'{self.get_name()}: tracker'
        status.hardware_id = self.settings.device if self.settings else ''
        active = self.running
        status.level = DiagnosticStatus.OK if active else DiagnosticStatus.WARN
        status.message = 'tracking' if active else 'inactive'
        with self.tracker_lock:
            targets = len(self.tracker.target_ids) if self.tracker else 0
        values = {'fps': f'{self.fps:.1f}', 'latency_ms': f'{self.latency_ms:.1f}',
                  'targets': str(targets), **{k: str(v) for k, v in self.stats.items()}}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self.diag_pub.publish(msg)

    # ----------------------------------------------------------------- services
    def _frame_for(self, stamp) -> Optional[_Frame]:
        frames = list(self.frames)
        if not frames:
            return None
        wanted = stamp_to_ns(stamp)
        if wanted == 0:
            return frames[-1][1]
        for ns, frame in reversed(frames):
            if ns == wanted:
                return frame
        return None

    def _on_set_target(self, request, response):
        response.target_id = request.target_id
        with self.tracker_lock:
            if self.tracker is None:
                response.success, response.message = False, 'model not loaded (node not ' \
                    'configured)'
                return response
            if not self.running:
                response.success, response.message = False, 'node is not active'
                return response
            frame = self._frame_for(request.stamp)
            if frame is None:
                response.success = False
                response.message = ('no frame received yet' if not self.frames else
                                    f'frame with stamp {request.stamp.sec}.'
                                    f'{request.stamp.nanosec:09d} is no longer in the cache '
                                    f'({len(self.frames)} frames kept)')
                return response
            box = (request.x, request.y, request.width, request.height)
            try:
                rgb = self._to_rgb(frame)
            except ImageError as exc:
                response.success, response.message = False, f'that frame is unusable: {exc}'
                return response
            try:
                target_id = self.tracker.add_target(rgb, box, request.target_id or None)
            except ValueError as exc:
                response.success, response.message = False, f'invalid box {box}: {exc}'
                return response
        response.success, response.target_id = True, target_id
        response.message = f'tracking target {target_id}'
        self.get_logger().info(f'set_target: {target_id} at {box}')
        return response

    def _on_clear(self, request, response):
        with self.tracker_lock:
            if self.tracker is None:
                response.success, response.message = False, 'model not loaded'
                return response
            if not request.target_id:
                count = len(self.tracker.target_ids)
                self.tracker.reset()
                response.success, response.message = True, f'cleared {count} target(s)'
                return response
            try:
                self.tracker.remove_target(request.target_id)
            except KeyError as exc:
                response.success, response.message = False, str(exc).strip('"')
                return response
        response.success, response.message = True, f'cleared {request.target_id}'
        return response


def main(args=None):
    rclpy.init(args=args)
    node = TrackNode()
    executor = rclpy.executors.MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node._stop_worker()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
