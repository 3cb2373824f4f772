"""Helpers for tests that run track_node in a real ROS graph (one process, real middleware)."""

import itertools
import os
import pathlib
import threading
import time

from builtin_interfaces.msg import Time
import cv2
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import State
from lifecycle_msgs.srv import GetState
import numpy as np
from rcl_interfaces.srv import GetParameters, ListParameters, SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import Image
from track_interfaces.msg import TrackingState
from track_interfaces.srv import ClearTarget, SetTarget
from vision_msgs.msg import Detection2DArray

from track_core.data.build import find_shared
from track_node.node import TrackNode

REPO = pathlib.Path(__file__).resolve().parents[4]
DEFAULT_MODEL = REPO / 'models' / 'default.safetensors'


def scene(frame_index: int, size=(240, 320), box=(60, 70, 56, 48), speed=(3, 1),
          visible=True, seed=0):
    """Draw a textured target moving over a smooth background: (rgb, true box xywh)."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([(xx * 0.4 + 60), (yy * 0.5 + 70), np.full_like(xx, 110.0)], -1)
    frame = background.astype(np.uint8)
    x = box[0] + speed[0] * frame_index
    y = box[1] + speed[1] * frame_index
    bw, bh = box[2], box[3]
    if visible:
        small = rng.integers(0, 256, (bh // 8 + 1, bw // 8 + 1, 3), dtype=np.uint8)
        patch = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST)
        cv2.rectangle(patch, (0, 0), (bw - 1, bh - 1), (255, 255, 0), 3)
        frame[y:y + bh, x:x + bw] = patch
    return frame, (float(x), float(y), float(bw), float(bh))


def shared(*parts):
    """Return the path ``parts`` under ../shared/data; skip the test, saying why, without it."""
    import pytest
    path, why = find_shared(*parts)
    if path is None:
        pytest.skip(why)
    return path


def detector_output(sec, boxes, frame_id='camera'):
    """Return a detector's Detection2DArray for the frame stamped ``sec``.

    ``boxes``: [(detection id, class, (x, y, w, h))], each with score 0.9.
    """
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose
    msg = Detection2DArray()
    msg.header.stamp = Time(sec=sec, nanosec=1000)
    msg.header.frame_id = frame_id
    for det_id, cls, (x, y, w, h) in boxes:
        det = Detection2D(id=det_id)
        det.bbox.center.position.x = float(x) + float(w) / 2.0
        det.bbox.center.position.y = float(y) + float(h) / 2.0
        det.bbox.size_x, det.bbox.size_y = float(w), float(h)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = cls, 0.9
        det.results.append(hyp)
        msg.detections.append(det)
    return msg


def image_msg(rgb, sec, frame_id='camera'):
    msg = Image()
    msg.header.stamp = Time(sec=sec, nanosec=1000)
    msg.header.frame_id = frame_id
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding, msg.step = 'rgb8', rgb.shape[1] * 3
    msg.data = rgb.tobytes()
    return msg


_DOMAINS = itertools.count(1)


def private_domain() -> int:
    """Return a DDS domain id of its own for one in-process harness.

    Nodes of earlier tests of this process (same names, same services) can linger in a shared
    domain's graph for a while after they are destroyed; in a domain of its own a harness sees
    only itself. Ids run from the run's ROS_DOMAIN_ID on, within 0..232.
    """
    base = int(os.environ.get('ROS_DOMAIN_ID', '0') or 0)
    return (base + next(_DOMAINS)) % 233


class Harness:
    """track_node + a test node in one context, spun by a background executor.

    ``isolated`` (default): in a DDS domain of its own (``private_domain``); a harness that
    talks to other processes (started with the run's ROS_DOMAIN_ID) passes False. What the
    node counts is read from /diagnostics (every 0.2 s here), as an operator reads it.
    """

    def __init__(self, model=DEFAULT_MODEL, autostart=True, node_name='track_node',
                 isolated=True, **overrides):
        self.node_name = node_name
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=private_domain() if isolated else None)
        overrides = {'model_path': str(model), 'backend': 'torch', 'device': 'cpu',
                     'max_frame_age': 0.0, 'autostart': autostart,
                     'diagnostics_period': 0.2, **overrides}
        self.node = TrackNode(node_name, context=self.context, parameter_overrides=[
            Parameter(k, value=v) for k, v in overrides.items()])
        self.client = Node('track_node_test', context=self.context)
        self.detections, self.states, self.diagnostics = [], [], []
        self._clients = {}
        self.client.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append,
                                        10)
        self.client.create_subscription(Detection2DArray, 'detections', self.detections.append,
                                        10)
        self.client.create_subscription(TrackingState, 'track_node/state', self.states.append,
                                        10)
        self.pub = self.client.create_publisher(Image, 'image', qos_profile_sensor_data)
        # a deep queue for the replies as well as for the node's requests: the default depth
        # of 10 lets the middleware drop answers to a burst of requests before this executor,
        # shared with the node, takes them (the node answered all of them)
        replies = QoSProfile(depth=1000)
        self.service(SetTarget, 'track_node/set_target', qos_profile=replies)
        self.service(ClearTarget, 'track_node/clear_target', qos_profile=replies)
        self.executor = SingleThreadedExecutor(context=self.context)   # as main() runs it
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self):
        """Stop the worker, then the spin thread, and only then destroy what it spun."""
        try:
            self.node.stop_worker()
            self.executor.shutdown()
            self.thread.join(timeout=10)
        finally:
            self.node.destroy_node()
            self.client.destroy_node()
            rclpy.try_shutdown(context=self.context)

    def wait_for(self, predicate, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    def diagnostic(self, key: str, camera: int = 0):
        """Return ``key`` as the newest /diagnostics message gives it (None before one has).

        ``camera``: which status (one per camera, in the order of the ``cameras`` parameter).
        """
        for msg in reversed(self.diagnostics[-5:]):
            if len(msg.status) > camera:
                for kv in msg.status[camera].values:
                    if kv.key == key:
                        return kv.value
        return None

    def count(self, key: str) -> int:
        """Return the newest /diagnostics count of ``key`` (-1 before one has come)."""
        value = self.diagnostic(key)
        return -1 if value is None else int(value)

    def counted(self, key: str, least: int, timeout=10.0) -> bool:
        """Wait for /diagnostics to count at least ``least`` of ``key``."""
        return self.wait_for(lambda: self.count(key) >= least, timeout)

    def publish_until_counted(self, publish, key: str, tries=20) -> bool:
        """Call ``publish()`` until /diagnostics counts one more ``key`` than before it.

        Each try waits a second for the count, so a message the middleware delivered is
        counted before it is sent again.
        """
        assert self.counted(key, 0), f'no /diagnostics with {key}'
        before = self.count(key)
        for _ in range(tries):
            publish()
            if self.counted(key, before + 1, 1.0):
                return True
        return False

    def lifecycle_state(self) -> int:
        """Return the node's lifecycle state id, read as ``ros2 lifecycle get`` does."""
        client = self.service(GetState, f'{self.node_name}/get_state')
        return self.call(client, GetState.Request()).current_state.id

    def wait_active(self, timeout=60.0) -> bool:
        """Wait until the node says it is active (its get_state service); False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.lifecycle_state() == State.PRIMARY_STATE_ACTIVE:
                return True
            time.sleep(0.05)
        return False

    def set_params(self, **values):
        """Set parameters as ``ros2 param set`` does (its service); return the results."""
        client = self.service(SetParameters, f'{self.node_name}/set_parameters')
        request = SetParameters.Request(parameters=[
            Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
        return self.call(client, request).results

    def get_param(self, name):
        """Return a parameter's value as ``ros2 param get`` reads it (its service).

        None where the node holds no value: declared without one (``Parameter not set``), or
        not declared at all (``param_names`` tells which).
        """
        client = self.service(GetParameters, f'{self.node_name}/get_parameters')
        values = self.call(client, GetParameters.Request(names=[name])).values
        return parameter_value_to_python(values[0]) if values else None

    def param_names(self):
        """Return the names of the node's parameters, as ``ros2 param list`` does."""
        client = self.service(ListParameters, f'{self.node_name}/list_parameters')
        return list(self.call(client, ListParameters.Request()).result.names)

    @property
    def set_target(self):
        return self._clients[(SetTarget, 'track_node/set_target')]

    @property
    def clear(self):
        return self._clients[(ClearTarget, 'track_node/clear_target')]

    def service(self, srv_type, name, **kwargs):
        """Return this harness's client of ``name``, made once (not one per call)."""
        key = (srv_type, name)
        if key not in self._clients:
            self._clients[key] = self.client.create_client(srv_type, name, **kwargs)
        return self._clients[key]

    def call(self, client, request, timeout=20.0):
        """Call a service of the node and return the reply.

        The server lives in this process, so a client that has not matched it after
        ``timeout`` met a middleware discovery hiccup, not a node fault (seen once in a
        loaded CI run): a fresh client takes its place, once, before the call fails with
        what the graph showed.
        """
        if not client.wait_for_service(timeout_sec=timeout):
            name = client.srv_name
            fresh = self.client.create_client(client.srv_type, name,
                                              qos_profile=client.qos_profile)
            for key, known in self._clients.items():
                if known is client:
                    self._clients[key] = fresh
            client = fresh
            seen = sorted(n for n, _ in self.client.get_service_names_and_types())
            assert client.wait_for_service(timeout_sec=timeout), \
                f'service {name} did not appear; the graph shows {seen}'
        future = client.call_async(request)
        assert self.wait_for(future.done, timeout), 'no service reply'
        return future.result()

    def publish_until_processed(self, msg, timeout=20.0):
        """Publish ``msg`` until the node has it in its frame cache (subscription matched)."""
        stamp = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec

        def seen():
            return stamp in self.node.engine.cache.stamps()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pub.publish(msg)
            if self.wait_for(seen, 0.3):
                return True
        return False
