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
from track_core.runtime import load_tracker, Tracker, without_effect
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
        response = args[-1] if len(args) >= 2 else None     # (camera,) request, response
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


class Camera:
    """One camera of the node: its topic prefix, subscriptions, publishers and what it keeps.

    ``name`` '' is the single camera of a node without ``cameras``: today's topic names. A
    named camera's topics are under its name (``front/image``, ``front/detections``,
    ``~/front/state``, ``~/front/set_target``, ...), so they remap as one.
    """

    def __init__(self, name: str):
        self.name = name
        self.prefix = f'{name}/' if name else ''
        self.subs = []
        self.pubs: Optional[Dict[str, object]] = None
        self.depth: Optional[StampCache] = None         # depth images by stamp (use_depth)
        self.camera_info = None
        self.detections: Optional[StampCache] = None    # detection sets by stamp
        self.detections_refused = 0
        self.locator = None                             # 3D positions (use_depth)
        self.last_shown_ns = 0      # stamp of the newest debug_image: what a viewer shows
        self.selection_message = ''

    def topic(self, name: str) -> str:
        return self.prefix + name

    def private(self, name: str) -> str:
        return f'~/{self.prefix}{name}'

    @property
    def log_tag(self) -> str:
        return f' ({self.name})' if self.name else ''


class TrackNode(LifecycleNode):

    def __init__(self, node_name: str = 'track_node', **kwargs):
        super().__init__(node_name, **kwargs)
        self.param_problems: Dict[str, str] = params.declare(self, params.TRACK_NODE)
        for name, why in self.param_problems.items():
            self.get_logger().error(f'parameter {name}: {why}; the node stays unconfigured '
                                    'until it is set right (ros2 param set)')
        params.accept_integers_for_floats(self, params.TRACK_NODE)
        names, why = params.camera_names(self.get_parameter('cameras').value)
        if why:
            self.param_problems['cameras'] = why
            self.get_logger().error(f'parameter cameras: {why}; the node stays unconfigured')
        self.cameras: Dict[str, Camera] = {n: Camera(n) for n in names}
        self.settings: Optional[params.Settings] = None
        self.model_own = None           # the model's own run-time settings (TrackerConfig)
        self.engine: Optional[LiveEngine] = None
        self.decoder: Optional[ImageDecoder] = None
        self.diag_pub = None
        self.diag_timer = None
        self.callback_failures = 0
        self._stopped: Optional[LiveEngine] = None      # the last engine stopped
        self._failures_said = set()
        # The worker triggers it when a reply is ready: the executor wakes and resumes the
        # service coroutines waiting for one.
        # A service awaiting its reply holds its callback group: a reentrant one of their own
        # keeps image callbacks and timers (the default group) running meanwhile.
        replies = ReentrantCallbackGroup()
        self._wake = self.create_guard_condition(lambda: None, replies)
        for cam in self.cameras.values():
            bind = functools.partial
            self.create_service(SetTarget, cam.private('set_target'),
                                bind(self._on_set_target, cam), qos_profile=REQUEST_QOS,
                                callback_group=replies)
            self.create_service(ClearTarget, cam.private('clear_target'),
                                bind(self._on_clear, cam), qos_profile=REQUEST_QOS,
                                callback_group=replies)
            self.create_service(SelectDetection, cam.private('select_detection'),
                                bind(self._on_select_detection, cam), qos_profile=REQUEST_QOS,
                                callback_group=replies)
            self.create_subscription(PointStamped, cam.private('select_point'),
                                     bind(self._on_select_point, cam), REQUEST_QOS)
            self.create_subscription(Point, cam.private('select_click'),
                                     bind(self._on_select_click, cam), REQUEST_QOS)
            self.create_subscription(Detection2D, cam.private('select_box'),
                                     bind(self._on_select_box, cam), REQUEST_QOS)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if self.get_parameter('autostart').value:
            self._autostart = self.create_timer(0.0, self._do_autostart)

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.running

    # the single (first) camera's, for code and tests written before there were several
    @property
    def first(self) -> Camera:
        return next(iter(self.cameras.values()))

    @property
    def subs(self):
        return [sub for cam in self.cameras.values() for sub in cam.subs]

    @property
    def detections(self):
        return self.first.detections

    @property
    def selection_message(self) -> str:
        return self.first.selection_message

    @property
    def last_shown_ns(self) -> int:
        return self.first.last_shown_ns

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
            for cam in self.cameras.values():
                mine = self._resolved(cam.topic('detections'))
                if self._resolved(cam.topic('detector/detections')) == mine:
                    self.get_logger().error(
                        f'configure failed: use_detector: {cam.topic("detector/detections")} '
                        f"resolves to {mine}, the node's own output; remap it to the "
                        "detector's topic (ros2 launch ... detections:=/your/detector/topic)")
                    return TransitionCallbackReturn.FAILURE
        try:
            tracker = load_tracker(s.model_path, device=s.device, backend=s.backend,
                                   overrides=s.tracker_given, threads=s.threads or None,
                                   max_targets=s.max_targets)
        except (CheckpointError, RuntimeError, ValueError, ImportError, OSError) as exc:
            self.get_logger().error(f'configure failed: cannot load the model: {exc}')
            return TransitionCallbackReturn.FAILURE
        # one model for every camera: the other cameras' trackers share its backend
        trackers = {}
        for name in self.cameras:
            trackers[name] = tracker if not trackers else Tracker(
                tracker.backend, tracker.model_cfg, tracker.preprocess, tracker.config,
                s.max_targets)
        self.settings, self.model_own = s, tracker.model_settings
        self._say_idle_settings(tracker.config)
        self.decoder = ImageDecoder(s.prefer_cv_bridge, s.max_image_pixels)
        self.engine = LiveEngine(
            trackers, lambda data: self.decoder(*data), self._publish, s.frame_cache_size,
            int(s.frame_cache_mb * 2 ** 20), s.max_frame_age,
            lambda text: self.get_logger().warning(text, throttle_duration_sec=2.0),
            candidates=self._candidates if s.use_detector else None)
        for cam in self.cameras.values():
            cam.pubs = {
                'detections': self.create_lifecycle_publisher(
                    Detection2DArray, cam.topic('detections'), 10),
                'state': self.create_lifecycle_publisher(TrackingState, cam.private('state'),
                                                         10),
                'debug': self.create_lifecycle_publisher(Image, cam.topic('debug_image'), 2),
            }
            if s.use_depth:
                cam.pubs['detections_3d'] = self.create_lifecycle_publisher(
                    Detection3DArray, cam.topic('detections_3d'), 10)
                cam.locator = Locator(self, s.target_frame)
        self.diag_pub = self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', 10)
        self.diag_timer = self.create_timer(s.diagnostics_period, self._publish_diagnostics)
        cfg = tracker.model_cfg
        given = s.tracker_given
        cameras = ', '.join(self.cameras) if len(self.cameras) > 1 or self.first.name else ''
        self.get_logger().info(
            f'configured: model {s.model_path} ({cfg.name}, {cfg.depth} blocks, '
            f'{cfg.template_size}/{cfg.search_size} crops), backend {s.backend} on '
            f"{s.device}, images via {self.decoder.name}; tracker settings: the model's own"
            + (', given: ' + ', '.join(f'{k}={v}' for k, v in given.items()) if given else '')
            + (f'; cameras: {cameras} (one model)' if cameras else ''))
        return TransitionCallbackReturn.SUCCESS

    def _resolved(self, topic: str) -> str:
        resolve = getattr(self, 'resolve_topic_name', None)     # rclpy >= Humble
        return resolve(topic) if resolve is not None else topic

    def on_activate(self, state) -> TransitionCallbackReturn:
        s = self.settings
        qos = qos_profile_sensor_data if s.best_effort else QoSProfile(depth=5)
        overrides = QoSOverridingOptions.with_default_policies()
        bind = functools.partial
        for cam in self.cameras.values():
            cam.subs = [self.create_subscription(Image, cam.topic('image'),
                                                 bind(self._on_image, cam), qos,
                                                 qos_overriding_options=overrides)]
            if s.use_compressed:
                cam.subs.append(self.create_subscription(
                    CompressedImage, cam.topic('image/compressed'),
                    bind(self._on_compressed, cam), qos, qos_overriding_options=overrides))
            if s.use_detector:
                cam.detections = StampCache(s.frame_cache_size,
                                            int(s.detection_cache_mb * 2 ** 20),
                                            'detection set', 'detection_cache_mb')
                # serialized: a set is peeked at here and made into Python when looked up
                cam.subs.append(self.create_subscription(
                    Detection2DArray, cam.topic('detector/detections'),
                    bind(self._on_detections, cam), QoSProfile(depth=10), raw=True))
            if s.use_depth:
                cam.depth = StampCache(10, int(s.depth_cache_mb * 2 ** 20), 'depth image',
                                       'depth_cache_mb')
                cam.subs.append(self.create_subscription(
                    Image, cam.topic('depth/image'), bind(self._on_depth, cam), qos,
                    qos_overriding_options=overrides))
                cam.subs.append(self.create_subscription(
                    CameraInfo, cam.topic('depth/camera_info'), bind(self._on_camera_info, cam),
                    qos_profile_sensor_data))
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
        for cam in self.cameras.values():
            for sub in cam.subs:
                self.destroy_subscription(sub)
            cam.subs = []
            cam.depth = cam.detections = cam.camera_info = None

    def worker_alive(self) -> bool:
        """Say whether the engine's worker thread still runs (a stop timed out)."""
        return any(e is not None and e.worker_alive for e in (self.engine, self._stopped))

    def stop_worker(self) -> None:
        """Stop the engine's worker and wait for it (nothing is published after this)."""
        if self.engine is not None:
            self._stopped = self.engine
            self.engine.stop()

    def _release(self):
        for cam in self.cameras.values():
            for pub in (cam.pubs or {}).values():
                self.destroy_lifecycle_publisher(pub)
            cam.pubs, cam.locator = None, None
        if self.diag_pub is not None:
            self.destroy_lifecycle_publisher(self.diag_pub)
            self.diag_pub = None
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
            self._say_idle_settings(config)
        return SetParametersResult(successful=True)

    def _say_idle_settings(self, config) -> None:
        """Warn of each tracker setting given that the others leave without effect."""
        for note in without_effect(config):
            self.get_logger().warning(f'setting without effect: {note}')

    # ----------------------------------------------------------------- frames in, results out
    @_guarded
    def _on_image(self, cam: Camera, msg):
        self._offer(cam, msg, False)

    @_guarded
    def _on_compressed(self, cam: Camera, msg):
        self._offer(cam, msg, True)

    def _offer(self, cam: Camera, msg, compressed: bool):
        engine = self.engine
        if engine is None:          # a message already taken when the node was shut down
            return
        frame = Frame(stamp_to_ns(msg.header.stamp), (msg, compressed), message_bytes(msg),
                      stream=cam.name)
        kept, why = engine.offer(frame)
        if not kept:
            self.get_logger().warning(f'image refused{cam.log_tag}: {why}',
                                      throttle_duration_sec=2.0)

    @_guarded
    def _on_detections(self, cam: Camera, raw: bytes):
        book, s = cam.detections, self.settings
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
            kept, why = book.add(stamp, DetectionSet(bytes(raw)), len(raw))
        if why:
            cam.detections_refused += 1
            self.get_logger().warning(f'detection set refused{cam.log_tag}: {why}',
                                      throttle_duration_sec=2.0)

    def _detections_of(self, cam: Camera, stamp_ns: int):
        """Return (stamp, usable detections, '') of frame ``stamp_ns`` (0: newest), or why not."""
        book = cam.detections
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
        stamp, dets, _ = self._detections_of(self.cameras[frame.stream], frame.stamp_ns)
        return candidates(dets, unseen) if stamp is not None else {}

    @_guarded
    def _on_depth(self, cam: Camera, msg):
        book = cam.depth
        if book is None:
            return
        kept, why = book.add(stamp_to_ns(msg.header.stamp), msg, message_bytes(msg))
        if not kept:
            self.get_logger().warning(f'depth image refused{cam.log_tag}: {why}',
                                      throttle_duration_sec=2.0)

    @_guarded
    def _on_camera_info(self, cam: Camera, msg):
        cam.camera_info = msg

    def _publish(self, frame: Frame, rgb, results):
        """Publish the results of one answered frame (runs on the engine's worker)."""
        cam = self.cameras.get(frame.stream)
        engine = self.engine
        if cam is None or engine is None:
            return
        pubs, s, stats = cam.pubs, self.settings, engine.stream_stats[frame.stream]
        if pubs is None:
            return
        header = frame.data[0].header
        pubs['detections'].publish(detections_msg(header, results, s.class_id))
        depth = cam.depth
        positions = cam.locator.positions(header, rgb, results, depth, cam.camera_info,
                                          s.depth_tolerance, s.depth_wait) \
            if s.use_depth and depth is not None and cam.locator is not None else None
        if positions is not None:
            frame_id = next((p.frame for p in positions.values() if p.point is not None), '')
            pubs['detections_3d'].publish(detections_3d_msg(header, frame_id, results,
                                                            positions, s.class_id))
        state = state_msg(header, results, stats.latency_ms, stats.fps, stats.not_processed,
                          positions, engine.status)
        state.message = cam.selection_message
        pubs['state'].publish(state)
        if s.debug_image and pubs['debug'].get_subscription_count() > 0:
            note = '' if results else NO_TARGET_HINT
            pubs['debug'].publish(rgb_to_image_msg(
                draw_results(rgb, results, stats.fps, note), header))
            cam.last_shown_ns = stamp_to_ns(header.stamp)

    def _publish_diagnostics(self):
        engine = self.engine
        if self.diag_pub is None or engine is None:
            return
        statuses = []
        settings = {k: str(v) for k, v in dataclasses.asdict(engine.config).items()}
        for cam in self.cameras.values():
            values = {**engine.stream_stats[cam.name].snapshot(),
                      'targets': str(len(engine.targets_of(cam.name))),
                      'max_targets': str(engine.max_targets),
                      'detection_sets_refused': str(cam.detections_refused)}
            if cam is self.first:       # what the node counts over all cameras
                values.update({'losses': str(engine.losses),
                               'reacquisitions': str(engine.recoveries),
                               'reacquired_by_detector': str(engine.reacquired),
                               'callback_failures': str(self.callback_failures),
                               'cameras': str(len(self.cameras)), **settings})
            statuses.append(diagnostics_msg(
                self.get_clock().now().to_msg(),
                f'{self.get_name()}: tracker' + (f' {cam.name}' if cam.name else ''),
                self.settings.device, self.running, values))
        msg = statuses[0]
        for extra in statuses[1:]:
            msg.status.extend(extra.status)
        self.diag_pub.publish(msg)

    # ----------------------------------------------------------------- target requests
    def _ask(self, cam: Camera, request: Callable[[LiveEngine], concurrent.futures.Future],
             source: str) -> concurrent.futures.Future:
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
            cam.selection_message = f'{source}: {reply.message}'
            if reply.success:       # rclpy wants one severity per call site
                self.get_logger().info(cam.selection_message + cam.log_tag)
            else:
                self.get_logger().warning(cam.selection_message + cam.log_tag)
            try:
                self._wake.trigger()
            except Exception:  # noqa: BLE001 - the node is going away; nobody waits
                pass
        future.add_done_callback(done)
        return future

    def select(self, stamp_ns: int, box, target_id: str = '', source: str = 'set_target',
               label: str = '', camera: Optional[Camera] = None) -> concurrent.futures.Future:
        """Start (or restart) ``target_id`` on ``box`` in the cached frame ``stamp_ns``."""
        cam = camera or self.first
        return self._ask(cam, lambda engine: engine.select(stamp_ns, box, target_id, label,
                                                           cam.name), source)

    @_guarded
    async def _on_set_target(self, cam: Camera, request, response):
        box = (request.x, request.y, request.width, request.height)
        reply = await _Reply(self.select(stamp_to_ns(request.stamp), box, request.target_id,
                                         camera=cam))
        response.success, response.message, response.target_id = reply
        return response

    @_guarded
    async def _on_select_detection(self, cam: Camera, request, response):
        if self.settings is None or not self.settings.use_detector:
            response.success = False
            response.message = 'no detector input: set use_detector (configure)'
            cam.selection_message = f'select_detection: {response.message}'
            return response
        stamp, dets, why = self._detections_of(cam, stamp_to_ns(request.stamp))
        det = None
        if stamp is not None:
            point = (request.x, request.y) if request.use_point else None
            det, why = choose(dets, request.detection_id, request.class_id, point)
        if det is None:
            response.success, response.message = False, why
            cam.selection_message = f'select_detection: {why}'
            self.get_logger().warning(cam.selection_message + cam.log_tag)
            return response
        target_id = request.target_id or det.id
        reply = await _Reply(self.select(stamp, det.box, target_id, 'select_detection',
                                         det.class_id, cam))
        response.success, response.message, response.target_id = reply
        return response

    @_guarded
    async def _on_clear(self, cam: Camera, request, response):
        if self.engine is None:
            response.success, response.message = False, 'model not loaded'
            return response
        reply = await _Reply(self._ask(cam, lambda engine: engine.remove(request.target_id,
                                                                         cam.name),
                                       'clear_target'))
        response.success, response.message = reply.success, reply.message
        return response

    def _click_box(self, x: float, y: float):
        size = float(self.settings.select_box_size) if self.settings else 0.0
        return (x - size / 2.0, y - size / 2.0, size, size)

    @_guarded
    def _on_select_point(self, cam: Camera, msg: PointStamped):
        self.select(stamp_to_ns(msg.header.stamp), self._click_box(msg.point.x, msg.point.y),
                    '', 'select_point', camera=cam)

    @_guarded
    def _on_select_click(self, cam: Camera, msg: Point):
        # rqt_image_view (ROS 2) publishes a bare Point: the click was on the debug image the
        # viewer shows, the newest one published (else the newest frame).
        self.select(cam.last_shown_ns, self._click_box(msg.x, msg.y), '', 'select_click',
                    camera=cam)

    @_guarded
    def _on_select_box(self, cam: Camera, msg: Detection2D):
        self.select(stamp_to_ns(msg.header.stamp), detection_to_xywh(msg), msg.id,
                    'select_box', camera=cam)


def main(args=None):
    run_until_signalled(TrackNode, args)


if __name__ == '__main__':
    main()
