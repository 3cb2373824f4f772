"""track_node: the lifecycle node around track_core's LiveEngine (wiring and messages only).

configure: validate parameters, load the model (a missing or corrupt file fails the
transition with the reason), make the engine and the lifecycle publishers; activate: subscribe
and start the engine's worker; deactivate: unsubscribe and stop it; cleanup: free the model.
With ``autostart`` (default true) the node configures and activates itself, so it runs without
a lifecycle manager. The target services exist in every state, so an unconfigured node answers
"model not loaded" instead of leaving callers waiting.

No callback ends the process: each is guarded (``_guarded``), so one that fails logs the reason
(once per kind of failure) and a service answers with it; the node stays up. In every lifecycle
state the inputs are either subscribed with an engine to take them, or not subscribed at all.

Threads: one executor thread runs every callback and none of them waits for inference. Image
callbacks hand frames to the engine (``LiveEngine.offer``); target requests (services, clicks,
published boxes) are queued there and run by the engine's worker between two frames; a service
awaits its reply as a coroutine, and the worker wakes the executor with a guard condition when
the reply is ready, so other callbacks run meanwhile. The executor is single-threaded on
purpose: on this project's test machine rclpy's MultiThreadedExecutor let 26 of 60 best-effort
640x480 frames at 30 Hz go unreceived where the single-threaded one took all 60
(docs/frames-that-arrive.md).
"""

import concurrent.futures
import dataclasses
import functools
import inspect
from typing import Callable, Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, PointStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from track_interfaces.msg import TrackingState
from track_interfaces.srv import ClearTarget, SelectDetection, SetTarget
from vision_msgs.msg import Detection2D, Detection2DArray, Detection3DArray

from track_core.errors import CheckpointError
from track_core.runtime import load_tracker
from track_core.runtime.live import Frame, LiveEngine, replied, Reply
from track_core.runtime.stamps import StampCache
from track_node import params
from track_node.conversions import (detection_to_xywh, detections_3d_msg, detections_msg,
                                    diagnostics_msg, ImageDecoder, message_bytes,
                                    rgb_to_image_msg, stamp_to_ns, state_msg)
from track_node.detector import candidates, choose, DetectionSet, peek
from track_node.drawing import draw_results
from track_node.positions import Locator
from track_node.process import run_until_signalled

# Requests are few but may come in bursts; a deep queue keeps the middleware from dropping any
# before the executor takes them (the engine answers "busy" past its own bound).
REQUEST_QOS = QoSProfile(depth=1000)
NO_TARGET_HINT = 'no target: select one (click, ~/select_box or ~/set_target)'


def _guarded(method):
    """Wrap a callback so that no exception ends the process: log it, answer with it.

    A service callback's response gets ``success = False`` and the reason; a subscription's
    message is dropped. Each kind of failure is logged once (then counted in /diagnostics).
    """
    def fail(self, exc, args):
        self.callback_failures += 1
        why = f'{method.__name__}: {type(exc).__name__}: {exc}'[:500]
        if why not in self._failures_said:
            self._failures_said.add(why)
            self.get_logger().error(f'callback failed, node stays up: {why}')
        response = args[1] if len(args) == 2 else None
        if response is not None and hasattr(response, 'success'):
            response.success = False
            response.message = f'failed: {type(exc).__name__}: {exc}'[:500]
        return response

    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def guarded_async(self, *args):
            try:
                return await method(self, *args)
            except Exception as exc:  # noqa: BLE001 - no request may end the process
                return fail(self, exc, args)
        return guarded_async

    @functools.wraps(method)
    def guarded(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:  # noqa: BLE001 - no message may end the process
            return fail(self, exc, args)
    return guarded


class _Reply:
    """Awaitable over a concurrent Future: the coroutine yields until the worker answers."""

    def __init__(self, future: concurrent.futures.Future):
        self.future = future

    def __await__(self):
        while not self.future.done():
            yield
        return self.future.result()


class TrackNode(LifecycleNode):

    def __init__(self, node_name: str = 'track_node', **kwargs):
        super().__init__(node_name, **kwargs)
        self.param_problems: Dict[str, str] = params.declare(self, params.TRACK_NODE)
        for name, why in self.param_problems.items():
            self.get_logger().error(f'parameter {name}: {why}; the node stays unconfigured '
                                    'until it is set right (ros2 param set)')
        params.accept_integers_for_floats(self, params.TRACK_NODE)
        self.settings: Optional[params.Settings] = None
        self.model_own = None           # the model's own run-time settings (TrackerConfig)
        self.engine: Optional[LiveEngine] = None
        self.decoder: Optional[ImageDecoder] = None
        self.subs = []
        self.pubs = None
        self.diag_timer = None
        self.selection_message = ''
        self.callback_failures = 0
        self._stopped: Optional[LiveEngine] = None      # the last engine stopped
        self._failures_said = set()
        self.depth: Optional[StampCache] = None         # depth images by stamp (use_depth)
        self.camera_info = None
        self.detections: Optional[StampCache] = None    # detection sets by stamp
        self.detections_refused = 0
        self.locator = None             # 3D positions (use_depth)
        self.last_shown_ns = 0      # stamp of the newest debug_image: what a viewer shows
        # The worker triggers it when a reply is ready: the executor wakes and resumes the
        # service coroutines waiting for one.
        # A service awaiting its reply holds its callback group: a reentrant one of their own
        # keeps image callbacks and timers (the default group) running meanwhile.
        replies = ReentrantCallbackGroup()
        self._wake = self.create_guard_condition(lambda: None, replies)
        self.create_service(SetTarget, '~/set_target', self._on_set_target,
                            qos_profile=REQUEST_QOS, callback_group=replies)
        self.create_service(ClearTarget, '~/clear_target', self._on_clear,
                            qos_profile=REQUEST_QOS, callback_group=replies)
        self.create_service(SelectDetection, '~/select_detection', self._on_select_detection,
                            qos_profile=REQUEST_QOS, callback_group=replies)
        self.create_subscription(PointStamped, '~/select_point', self._on_select_point,
                                 REQUEST_QOS)
        self.create_subscription(Point, '~/select_click', self._on_select_click, REQUEST_QOS)
        self.create_subscription(Detection2D, '~/select_box', self._on_select_box, REQUEST_QOS)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.get_parameter('autostart').value:
            self._autostart = self.create_timer(0.0, self._do_autostart)

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.running

    # ----------------------------------------------------------------- lifecycle
    def _do_autostart(self):
        self.destroy_timer(self._autostart)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def on_configure(self, state) -> TransitionCallbackReturn:
        if self.param_problems:
            self.get_logger().error('configure failed: invalid parameters: ' + '; '.join(
                self.param_problems.values()))
            return TransitionCallbackReturn.FAILURE
        try:
            s = params.validate(params.read(self, params.TRACK_NODE))
        except ValueError as exc:
            self.get_logger().error(f'configure failed: invalid parameters: {exc}')
            return TransitionCallbackReturn.FAILURE
        if s.use_detector:
            mine = self._resolved('detections')
            if self._resolved('detector/detections') == mine:
                self.get_logger().error(
                    f'configure failed: use_detector: detector/detections resolves to {mine}, '
                    "the node's own output; remap it to the detector's topic "
                    '(ros2 launch ... detections:=/your/detector/topic)')
                return TransitionCallbackReturn.FAILURE
        try:
            tracker = load_tracker(s.model_path, device=s.device, backend=s.backend,
                                   overrides=s.tracker_given, threads=s.threads or None,
                                   max_targets=s.max_targets)
        except (CheckpointError, RuntimeError, ValueError, ImportError, OSError) as exc:
            self.get_logger().error(f'configure failed: cannot load the model: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.settings, self.model_own = s, tracker.model_settings
        self.decoder = ImageDecoder(s.prefer_cv_bridge, s.max_image_pixels)
        self.engine = LiveEngine(
            tracker, lambda data: self.decoder(*data), self._publish, s.frame_cache_size,
            int(s.frame_cache_mb * 2 ** 20), s.max_frame_age,
            lambda text: self.get_logger().warning(text, throttle_duration_sec=2.0),
            candidates=self._candidates if s.use_detector else None)
        self.pubs = {
            'detections': self.create_lifecycle_publisher(Detection2DArray, 'detections', 10),
            'state': self.create_lifecycle_publisher(TrackingState, '~/state', 10),
            'debug': self.create_lifecycle_publisher(Image, 'debug_image', 2),
            'diagnostics': self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics',
                                                           10),
        }
        if s.use_depth:
            self.pubs['detections_3d'] = self.create_lifecycle_publisher(
                Detection3DArray, 'detections_3d', 10)
            self.locator = Locator(self, s.target_frame)
        self.diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        cfg = tracker.model_cfg
        given = s.tracker_given
        self.get_logger().info(
            f'configured: model {s.model_path} ({cfg.name}, {cfg.depth} blocks, '
            f'{cfg.template_size}/{cfg.search_size} crops), backend {s.backend} on '
            f"{s.device}, images via {self.decoder.name}; tracker settings: the model's own"
            + (', given: ' + ', '.join(f'{k}={v}' for k, v in given.items()) if given else ''))
        return TransitionCallbackReturn.SUCCESS

    def _resolved(self, topic: str) -> str:
        resolve = getattr(self, 'resolve_topic_name', None)     # rclpy >= Humble
        return resolve(topic) if resolve is not None else topic

    def on_activate(self, state) -> TransitionCallbackReturn:
        s = self.settings
        qos = qos_profile_sensor_data if s.best_effort else QoSProfile(depth=5)
        overrides = QoSOverridingOptions.with_default_policies()
        self.subs = [self.create_subscription(Image, 'image', self._on_image, qos,
                                              qos_overriding_options=overrides)]
        if s.use_compressed:
            self.subs.append(self.create_subscription(
                CompressedImage, 'image/compressed', self._on_compressed, qos,
                qos_overriding_options=overrides))
        if s.use_detector:
            self.detections = StampCache(s.frame_cache_size,
                                         int(s.detection_cache_mb * 2 ** 20), 'detection set',
                                         'detection_cache_mb')
            # serialized: a set is peeked at here and made into Python only when looked up
            self.subs.append(self.create_subscription(
                Detection2DArray, 'detector/detections', self._on_detections,
                QoSProfile(depth=10), raw=True))
        if s.use_depth:
            self.depth = StampCache(10, int(s.depth_cache_mb * 2 ** 20), 'depth image',
                                    'depth_cache_mb')
            self.subs.append(self.create_subscription(
                Image, 'depth/image', self._on_depth, qos, qos_overriding_options=overrides))
            self.subs.append(self.create_subscription(
                CameraInfo, 'depth/camera_info', self._on_camera_info, qos_profile_sensor_data))
        self.engine.start()
        topics = ', '.join(sub.topic_name for sub in self.subs)
        self.get_logger().info(f'active: tracking on {topics}')
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.stop_worker()
        self._unsubscribe()
        self.get_logger().info('inactive: unsubscribed')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info('cleaned up: model released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        # from any state: nothing may be left subscribed that would call into what goes
        self.stop_worker()
        self._unsubscribe()
        self._release()
        self.get_logger().info('shut down: unsubscribed, model released')
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self.stop_worker()
        self._unsubscribe()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _unsubscribe(self) -> None:
        for sub in self.subs:
            self.destroy_subscription(sub)
        self.subs = []
        self.depth = self.detections = self.camera_info = None

    def worker_alive(self) -> bool:
        """Say whether the engine's worker thread still runs (a stop timed out)."""
        return any(e is not None and e.worker_alive for e in (self.engine, self._stopped))

    def stop_worker(self) -> None:
        """Stop the engine's worker and wait for it (nothing is published after this)."""
        if self.engine is not None:
            self._stopped = self.engine
            self.engine.stop()

    def _release(self):
        if self.pubs is not None:
            for pub in self.pubs.values():
                self.destroy_lifecycle_publisher(pub)
            self.pubs = None
        if self.diag_timer is not None:
            self.destroy_timer(self.diag_timer)
            self.diag_timer = None
        self.engine = None

    # ----------------------------------------------------------------- parameters
    def _on_set_parameters(self, changes):
        values = {p.name: p.value for p in changes}
        if self.settings is None:
            rows = params.table('track_node')
            for name, value in values.items():
                why = params.problem(rows[name], value) if name in rows else None
                if why:
                    return SetParametersResult(successful=False, reason=why)
            for name in values:
                self.param_problems.pop(name, None)
            return SetParametersResult(successful=True)
        engine = self.engine
        try:        # validated once, against the table, with every other value
            new = params.apply_changes(self.settings, values, engine is not None)
            config = new.tracker(self.model_own) if engine is not None else None
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.settings = new
        if engine is not None:
            self.decoder.max_pixels = new.max_image_pixels
            engine.max_frame_age = new.max_frame_age
            engine.configure(config, new.max_targets)
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- frames in, results out
    @_guarded
    def _on_image(self, msg):
        self._offer(msg, False)

    @_guarded
    def _on_compressed(self, msg):
        self._offer(msg, True)

    def _offer(self, msg, compressed: bool):
        engine = self.engine
        if engine is None:          # a message already taken when the node was shut down
            return
        frame = Frame(stamp_to_ns(msg.header.stamp), (msg, compressed), message_bytes(msg))
        kept, why = engine.offer(frame)
        if not kept:
            self.get_logger().warning(f'image refused: {why}', throttle_duration_sec=2.0)

    @_guarded
    def _on_detections(self, raw: bytes):
        book, s = self.detections, self.settings
        if book is None or s is None:
            return
        try:
            stamp, count = peek(raw)
        except ValueError as exc:
            why = str(exc)
        else:
            why = '' if count <= s.max_detections else \
                f'{count} detections in one set, more than max_detections ({s.max_detections})'
        if not why:
            kept, why = book.add(stamp, DetectionSet(bytes(raw), self._deserialize_detections),
                                 len(raw))
        if why:
            self.detections_refused += 1
            self.get_logger().warning(f'detection set refused: {why}',
                                      throttle_duration_sec=2.0)

    @staticmethod
    def _deserialize_detections(raw: bytes):
        from rclpy.serialization import deserialize_message
        return deserialize_message(raw, Detection2DArray)

    def _detections_of(self, stamp_ns: int):
        """Return (stamp, usable detections, '') of frame ``stamp_ns`` (0: newest), or why not."""
        book = self.detections
        if book is None:
            return None, [], 'no detector input (not active)'
        item, why = book.find(stamp_ns)
        if item is None:
            return None, [], f'{why} (the detector stamps its output with its image)'
        return item.stamp_ns, item.value.detections(), ''

    def _candidates(self, frame: Frame, unseen) -> dict:
        """Boxes that may be the targets not seen: the detector's, for the frame just tracked."""
        if not self.settings.reacquire_with_detector:
            return {}
        stamp, dets, _ = self._detections_of(frame.stamp_ns)
        return candidates(dets, unseen) if stamp is not None else {}

    @_guarded
    def _on_depth(self, msg):
        book = self.depth
        if book is None:
            return
        kept, why = book.add(stamp_to_ns(msg.header.stamp), msg, message_bytes(msg))
        if not kept:
            self.get_logger().warning(f'depth image refused: {why}', throttle_duration_sec=2.0)

    @_guarded
    def _on_camera_info(self, msg):
        self.camera_info = msg

    def _publish(self, frame: Frame, rgb, results):
        """Publish the results of one answered frame (runs on the engine's worker)."""
        pubs, s, stats = self.pubs, self.settings, self.engine.stats
        if pubs is None:
            return
        header = frame.data[0].header
        pubs['detections'].publish(detections_msg(header, results, s.class_id))
        depth = self.depth
        positions = self.locator.positions(header, rgb, results, depth, self.camera_info,
                                           s.depth_tolerance, s.depth_wait) \
            if s.use_depth and depth is not None else None
        if positions is not None:
            frame_id = next((p.frame for p in positions.values() if p.point is not None), '')
            pubs['detections_3d'].publish(detections_3d_msg(header, frame_id, results,
                                                            positions, s.class_id))
        state = state_msg(header, results, stats.latency_ms, stats.fps, stats.not_processed,
                          positions, self.engine.status)
        state.message = self.selection_message
        pubs['state'].publish(state)
        if s.debug_image and pubs['debug'].get_subscription_count() > 0:
            note = '' if results else NO_TARGET_HINT
            pubs['debug'].publish(rgb_to_image_msg(
                draw_results(rgb, results, stats.fps, note), header))
            self.last_shown_ns = stamp_to_ns(header.stamp)

    def _publish_diagnostics(self):
        engine = self.engine
        if self.pubs is None or engine is None:
            return
        values = {**engine.stats.snapshot(), 'targets': str(len(engine.target_ids)),
                  'max_targets': str(engine.max_targets),
                  'losses': str(engine.losses), 'reacquisitions': str(engine.recoveries),
                  'reacquired_by_detector': str(engine.reacquired),
                  'detection_sets_refused': str(self.detections_refused),
                  'callback_failures': str(self.callback_failures)}
        values.update({k: str(v) for k, v in dataclasses.asdict(engine.config).items()})
        self.pubs['diagnostics'].publish(diagnostics_msg(
            self.get_clock().now().to_msg(), f'{self.get_name()}: tracker',
            self.settings.device, self.running, values))

    # ----------------------------------------------------------------- target requests
    def _ask(self, request: Callable[[LiveEngine], concurrent.futures.Future], source: str
             ) -> concurrent.futures.Future:
        """Queue ``request`` on the engine; the reply is logged, shown in ~/state and returned.

        Never waits: the Future is answered by the engine's worker (or at once, with the
        reason, by a node that cannot take requests now).
        """
        engine = self.engine
        if engine is None:
            why = '; '.join(self.param_problems.values())
            future = replied(False, 'model not loaded (node not configured)' + (
                f': {why}' if why else ''))
        elif not engine.running:
            future = replied(False, 'node is not active')
        else:
            future = request(engine)

        def done(f):
            reply: Reply = f.result()
            self.selection_message = f'{source}: {reply.message}'
            if reply.success:       # rclpy wants one severity per call site
                self.get_logger().info(self.selection_message)
            else:
                self.get_logger().warning(self.selection_message)
            try:
                self._wake.trigger()
            except Exception:  # noqa: BLE001 - the node is going away; nobody waits
                pass
        future.add_done_callback(done)
        return future

    def select(self, stamp_ns: int, box, target_id: str = '', source: str = 'set_target',
               label: str = '') -> concurrent.futures.Future:
        """Start (or restart) ``target_id`` on ``box`` in the cached frame ``stamp_ns``."""
        return self._ask(lambda engine: engine.select(stamp_ns, box, target_id, label), source)

    @_guarded
    async def _on_set_target(self, request, response):
        box = (request.x, request.y, request.width, request.height)
        reply = await _Reply(self.select(stamp_to_ns(request.stamp), box, request.target_id))
        response.success, response.message, response.target_id = reply
        return response

    @_guarded
    async def _on_select_detection(self, request, response):
        if self.settings is None or not self.settings.use_detector:
            response.success = False
            response.message = 'no detector input: set use_detector (configure)'
            self.selection_message = f'select_detection: {response.message}'
            return response
        stamp, dets, why = self._detections_of(stamp_to_ns(request.stamp))
        det = None
        if stamp is not None:
            point = (request.x, request.y) if request.use_point else None
            det, why = choose(dets, request.detection_id, request.class_id, point)
        if det is None:
            response.success, response.message = False, why
            self.selection_message = f'select_detection: {why}'
            self.get_logger().warning(self.selection_message)
            return response
        target_id = request.target_id or det.id
        reply = await _Reply(self.select(stamp, det.box, target_id, 'select_detection',
                                         det.class_id))
        response.success, response.message, response.target_id = reply
        return response

    @_guarded
    async def _on_clear(self, request, response):
        if self.engine is None:
            response.success, response.message = False, 'model not loaded'
            return response
        reply = await _Reply(self._ask(lambda engine: engine.remove(request.target_id),
                                       'clear_target'))
        response.success, response.message = reply.success, reply.message
        return response

    def _click_box(self, x: float, y: float):
        size = float(self.settings.select_box_size) if self.settings else 0.0
        return (x - size / 2.0, y - size / 2.0, size, size)

    @_guarded
    def _on_select_point(self, msg: PointStamped):
        self.select(stamp_to_ns(msg.header.stamp), self._click_box(msg.point.x, msg.point.y),
                    '', 'select_point')

    @_guarded
    def _on_select_click(self, msg: Point):
        # rqt_image_view (ROS 2) publishes a bare Point: the click was on the debug image the
        # viewer shows, the newest one published (else the newest frame).
        self.select(self.last_shown_ns, self._click_box(msg.x, msg.y), '', 'select_click')

    @_guarded
    def _on_select_box(self, msg: Detection2D):
        self.select(stamp_to_ns(msg.header.stamp), detection_to_xywh(msg), msg.id,
                    'select_box')


def main(args=None):
    run_until_signalled(TrackNode, args)


if __name__ == '__main__':
    main()
