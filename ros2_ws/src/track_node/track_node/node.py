"""track_node: the lifecycle node around track_core's Tracker (wiring and replies only).

configure: validate parameters, load the model (a missing or corrupt file fails the
transition with the reason) and create the lifecycle publishers; activate: subscribe and start
the inference worker; deactivate: unsubscribe and stop it; cleanup: free the model. With
``autostart`` (default true) the node configures and activates itself, so it runs without a
lifecycle manager. The target services exist in every state, so an unconfigured node answers
"model not loaded" instead of leaving callers waiting.

Threads: one executor thread runs every callback, and none of them waits for inference:
image callbacks only store frames (``frames.LatestSlot`` for the worker, ``frames.FrameCache``
for requests by stamp); requests (services, clicks, published boxes) decode their frame, embed
the template and queue the change (``targets.TargetBook``), so they are answered at once, a
burst of them too. One worker thread runs inference on the newest frame. The executor is
single-threaded on purpose: on this project's test machine rclpy's MultiThreadedExecutor let
26 of 60 best-effort 640x480 frames at 30 Hz go unreceived where the single-threaded one took
all 60 (README, "Frames that arrive").
"""

import signal
import threading
import time
from typing import Dict, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, PointStamped
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from track_interfaces.msg import TrackingState
from track_interfaces.srv import ClearTarget, SetTarget
from vision_msgs.msg import Detection2D, Detection2DArray

from track_core.errors import CheckpointError, TooManyTargets
from track_core.runtime import load_tracker, model_runtime
from track_node import params
from track_node.conversions import (detections_msg, diagnostics_msg, ImageDecoder, ImageError,
                                    message_bytes, rgb_to_image_msg, stamp_to_ns, state_msg)
from track_node.drawing import draw_results
from track_node.frames import Frame, FrameCache, LatestSlot
from track_node.status import NodeStats
from track_node.targets import TargetBook

# Requests are few but may come in bursts; a deep queue keeps the middleware from dropping any.
REQUEST_QOS = QoSProfile(depth=100)
NO_TARGET_HINT = 'no target: select one (click, ~/select_box or ~/set_target)'


class TrackNode(LifecycleNode):

    def __init__(self, node_name: str = 'track_node', **kwargs):
        super().__init__(node_name, **kwargs)
        self.param_problems: Dict[str, str] = params.declare(self, params.TRACK_NODE)
        # Tracker settings given by the user (at start-up or with ros2 param set); the others
        # take the model's own values on configure.
        self.given = params.given_at_start(self, params.TRACK_NODE) & set(params.TRACKER_KEYS)
        self._filling = False
        for name, why in self.param_problems.items():
            self.get_logger().error(f'parameter {name}: {why}; the node stays unconfigured '
                                    'until it is set right (ros2 param set)')
        params.accept_integers_for_floats(self, params.TRACK_NODE)
        self.settings: Optional[params.Settings] = None
        self.tracker = None
        self.tracker_lock = threading.Lock()
        self.slot = LatestSlot()
        self.slot.close()
        self.cache = FrameCache(1, 1)
        self.stats = NodeStats()
        self.decoder: Optional[ImageDecoder] = None
        self.worker: Optional[threading.Thread] = None
        self.subs = []
        self.pubs = None
        self.diag_timer = None
        self.selection_message = ''
        self.book = TargetBook()
        self.create_service(SetTarget, '~/set_target', self._on_set_target,
                            qos_profile=REQUEST_QOS)
        self.create_service(ClearTarget, '~/clear_target', self._on_clear,
                            qos_profile=REQUEST_QOS)
        self.create_subscription(PointStamped, '~/select_point', self._on_select_point,
                                 REQUEST_QOS)
        self.create_subscription(Point, '~/select_click', self._on_select_click, REQUEST_QOS)
        self.create_subscription(Detection2D, '~/select_box', self._on_select_box, REQUEST_QOS)
        self.last_shown_ns = 0      # stamp of the newest debug_image: what a viewer shows
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.get_parameter('autostart').value:
            self._autostart = self.create_timer(0.0, self._do_autostart)

    @property
    def running(self) -> bool:
        return self.slot.is_open

    # ----------------------------------------------------------------- autostart
    def _do_autostart(self):
        self.destroy_timer(self._autostart)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ----------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        if self.param_problems:
            self.get_logger().error('configure failed: invalid parameters: ' + '; '.join(
                self.param_problems.values()))
            return TransitionCallbackReturn.FAILURE
        try:
            self.settings = params.validate(params.read(self, params.TRACK_NODE))
        except ValueError as exc:
            self.get_logger().error(f'configure failed: invalid parameters: {exc}')
            return TransitionCallbackReturn.FAILURE
        s = self.settings
        try:
            config = model_runtime(s.model_path, {k: getattr(s, k) for k in self.given})
            tracker = load_tracker(s.model_path, device=s.device, backend=s.backend,
                                   config=config, threads=s.threads or None)
        except (CheckpointError, RuntimeError, ValueError, ImportError, OSError) as exc:
            self.get_logger().error(f'configure failed: cannot load the model: {exc}')
            return TransitionCallbackReturn.FAILURE
        self._show_tracker_settings(config)
        with self.tracker_lock:
            self.tracker = tracker
        self.decoder = ImageDecoder(s.prefer_cv_bridge, s.max_image_pixels)
        self.cache = FrameCache(s.frame_cache_size, int(s.frame_cache_mb * 2 ** 20))
        self.pubs = {
            'detections': self.create_lifecycle_publisher(Detection2DArray, 'detections', 10),
            'state': self.create_lifecycle_publisher(TrackingState, '~/state', 10),
            'debug': self.create_lifecycle_publisher(Image, 'debug_image', 2),
            'diagnostics': self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics',
                                                           10),
        }
        self.diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        cfg = tracker.model_cfg
        self.get_logger().info(
            f'configured: model {s.model_path} ({cfg.name}, {cfg.depth} blocks, '
            f'{cfg.template_size}/{cfg.search_size} crops), backend {s.backend} on '
            f'{s.device}, images via {self.decoder.name}')
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
        self.slot.open()
        worker = threading.Thread(target=self._work, name='track_worker', daemon=True)
        worker.start()
        self.worker = worker        # only a started thread is ever joined (stop_worker)
        topics = ', '.join(sub.topic_name for sub in self.subs)
        self.get_logger().info(f'active: tracking on {topics}')
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.stop_worker()
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
        self.stop_worker()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def stop_worker(self) -> None:
        """Stop the inference worker and wait for it (nothing is published after this)."""
        self.slot.close()
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.join(timeout=10.0)

    def _release(self):
        if self.pubs is not None:
            for pub in self.pubs.values():
                self.destroy_lifecycle_publisher(pub)
            self.pubs = None
        if self.diag_timer is not None:
            self.destroy_timer(self.diag_timer)
            self.diag_timer = None
        with self.tracker_lock:
            self.tracker = None
        self.book.forget()
        self.cache.clear()

    # ----------------------------------------------------------------- parameters
    def _show_tracker_settings(self, config) -> None:
        """Make the tracker parameters read what the tracker uses (the model's own values)."""
        from rclpy.parameter import Parameter
        changed = [Parameter(k, value=getattr(config, k)) for k in params.TRACKER_KEYS
                   if getattr(self.settings, k) != getattr(config, k)]
        self._filling = True
        try:
            if changed:
                self.set_parameters(changed)
        finally:
            self._filling = False
        self.settings = params.validate(params.read(self, params.TRACK_NODE))
        if changed:
            self.get_logger().info('tracker settings from the model: ' + ', '.join(
                f'{p.name}={p.value}' for p in changed))

    def _on_set_parameters(self, changes):
        values = {p.name: p.value for p in changes}
        if not self._filling:
            self.given |= set(values) & set(params.TRACKER_KEYS)
        rows = params.table('track_node')
        for name, value in values.items():
            why = params.problem(rows[name], value) if name in rows else None
            if why:
                return SetParametersResult(successful=False, reason=why)
        if self.settings is None:
            for name in values:
                self.param_problems.pop(name, None)
            return SetParametersResult(successful=True)
        try:
            new = params.apply_changes(self.settings, values, self.tracker is not None)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.settings = new
        if self.decoder is not None:
            self.decoder.max_pixels = new.max_image_pixels
        with self.tracker_lock:
            if self.tracker is not None:
                self.tracker.set_config(new.tracker)
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- images
    def _on_image(self, msg):
        self._offer(msg, False)

    def _on_compressed(self, msg):
        self._offer(msg, True)

    def _offer(self, msg, compressed: bool):
        # Every frame enters the cache, converted only when a request needs it; only the
        # newest one waits for inference.
        self.stats.count('received')
        frame = Frame(stamp_to_ns(msg.header.stamp), msg.header, msg, compressed,
                      message_bytes(msg))
        kept, why = self.cache.add(frame)
        if not kept:
            self.stats.count('refused')
            self.get_logger().warning(f'image refused: {why}', throttle_duration_sec=2.0)
            return
        if self.slot.put(frame):
            self.stats.count('dropped')

    def _work(self):
        while True:
            frame = self.slot.take(timeout=0.5)
            if frame is None:
                if not self.slot.is_open:
                    return
                continue
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any bad frame
                if not self.slot.is_open:
                    return            # shutting down: the context may already be gone
                self.stats.count('bad')
                self.get_logger().error(f'frame skipped: {type(exc).__name__}: {exc}',
                                        throttle_duration_sec=2.0)

    def _process(self, frame: Frame):
        s = self.settings
        if s.max_frame_age and time.monotonic() - frame.arrival > s.max_frame_age:
            self.stats.count('stale')
            return
        want_debug = s.debug_image and self.pubs['debug'].get_subscription_count() > 0
        try:      # decoded even without a target, so a bad stream is reported at once
            rgb = self.decoder(frame.msg, frame.compressed)
        except ImageError as exc:
            self.stats.count('bad')
            self.get_logger().warning(f'image skipped: {exc}', throttle_duration_sec=2.0)
            return
        results = {}
        with self.tracker_lock:
            if self.tracker is not None:
                self.book.apply(self.tracker)
                if self.tracker.target_ids:
                    results = self.tracker.track_all(rgb)
                self.book.apply(self.tracker)
        self.stats.processed(frame.arrival, time.monotonic())
        self._publish(frame.header, rgb, results, want_debug)

    def _publish(self, header, rgb, results: Dict[str, object], want_debug: bool):
        if not self.slot.is_open or self.pubs is None:
            return
        s = self.settings
        self.pubs['detections'].publish(detections_msg(header, results, s.class_id))
        state = state_msg(header, results, self.stats.latency_ms, self.stats.fps,
                          self.stats.not_processed)
        state.message = self.selection_message
        self.pubs['state'].publish(state)
        if want_debug and rgb is not None:
            note = '' if results else NO_TARGET_HINT
            self.pubs['debug'].publish(rgb_to_image_msg(
                draw_results(rgb, results, self.stats.fps, note), header))
            self.last_shown_ns = stamp_to_ns(header.stamp)

    def _publish_diagnostics(self):
        if self.pubs is None:
            return
        with self.tracker_lock:
            targets = len(self.tracker.target_ids) if self.tracker else 0
        values = {**self.stats.snapshot(), 'targets': str(targets)}
        self.pubs['diagnostics'].publish(diagnostics_msg(
            self.get_clock().now().to_msg(), f'{self.get_name()}: tracker',
            self.settings.device if self.settings else '', self.running, values))

    # ----------------------------------------------------------------- selection
    def select(self, stamp_ns: int, box: Tuple[float, float, float, float],
               target_id: str = '', source: str = 'set_target') -> Tuple[bool, str, str]:
        """Start (or restart) ``target_id`` on ``box`` in the cached frame ``stamp_ns``.

        Returns (success, message, target id); every refusal says why. Shared by the service,
        the click and the published box.
        """
        ok, message, tid = self._select(stamp_ns, box, target_id)
        self.selection_message = f'{source}: {message}'
        if ok:       # rclpy wants one severity per call site
            self.get_logger().info(self.selection_message)
        else:
            self.get_logger().warning(self.selection_message)
        return ok, message, tid

    def _select(self, stamp_ns, box, target_id):
        tracker = self.tracker
        if tracker is None:
            why = '; '.join(self.param_problems.values())
            return False, 'model not loaded (node not configured)' + (
                f': {why}' if why else ''), target_id
        if not self.running:
            return False, 'node is not active', target_id
        frame, why = self.cache.find(stamp_ns)
        if frame is None:
            return False, why, target_id
        try:
            rgb = self.decoder(frame.msg, frame.compressed)
        except ImageError as exc:
            return False, f'that frame is unusable: {exc}', target_id
        try:
            prepared = tracker.prepare_target(rgb, box)
        except ValueError as exc:
            return False, f'invalid box {tuple(round(v, 2) for v in box)}: {exc}', target_id
        try:
            tid = self.book.reserve(target_id, self.settings.tracker.max_targets)
        except TooManyTargets as exc:
            return False, f'refused: {exc}', target_id
        self.book.add(prepared, tid)
        self._apply_now()
        return True, f'tracking target {tid} at {tuple(round(v, 1) for v in box)}', tid

    def _apply_now(self) -> None:
        """Apply queued target changes now if the tracker is free (else the worker will)."""
        if self.tracker_lock.acquire(blocking=False):
            try:
                if self.tracker is not None:
                    self.book.apply(self.tracker)
            finally:
                self.tracker_lock.release()

    def _on_set_target(self, request, response):
        box = (request.x, request.y, request.width, request.height)
        response.success, response.message, response.target_id = self.select(
            stamp_to_ns(request.stamp), box, request.target_id, 'set_target')
        return response

    def _click_box(self, x: float, y: float):
        size = float(self.settings.select_box_size) if self.settings else 0.0
        return (x - size / 2.0, y - size / 2.0, size, size)

    def _on_select_point(self, msg: PointStamped):
        self.select(stamp_to_ns(msg.header.stamp), self._click_box(msg.point.x, msg.point.y),
                    '', 'select_point')

    def _on_select_click(self, msg: Point):
        # rqt_image_view (ROS 2) publishes a bare Point: the click was on the debug image the
        # viewer shows, the newest one published (else the newest frame).
        self.select(self.last_shown_ns, self._click_box(msg.x, msg.y), '', 'select_click')

    def _on_select_box(self, msg: Detection2D):
        b = msg.bbox
        box = (b.center.position.x - b.size_x / 2.0, b.center.position.y - b.size_y / 2.0,
               b.size_x, b.size_y)
        self.select(stamp_to_ns(msg.header.stamp), box, msg.id, 'select_box')

    def _on_clear(self, request, response):
        if self.tracker is None:
            response.success, response.message = False, 'model not loaded'
            return response
        try:
            if request.target_id:
                self.book.remove(request.target_id)
                response.message = f'cleared {request.target_id}'
            else:
                response.message = f'cleared {self.book.clear()} target(s)'
            response.success = True
        except KeyError as exc:
            response.success, response.message = False, str(exc).strip('"')
        self._apply_now()
        return response


def spin_until_signalled(node, executor) -> None:
    """Spin until SIGINT or SIGTERM; stop the worker before the context goes.

    rclpy's own handler would shut the context down while the worker may be publishing (an
    RCLError on Ctrl-C) and raise KeyboardInterrupt wherever the main thread is; here a signal
    only sets a flag, and a second one changes nothing.
    """
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set() and rclpy.ok(context=executor.context):
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        node.stop_worker()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=executor.context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def init_without_signal_handlers(args=None) -> None:
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:          # older rclpy: its handlers stay; spin_until_signalled copes
        rclpy.init(args=args)


def main(args=None):
    init_without_signal_handlers(args)
    node = TrackNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin_until_signalled(node, executor)


if __name__ == '__main__':
    main()
