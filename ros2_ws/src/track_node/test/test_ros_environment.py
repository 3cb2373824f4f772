"""Smoke tests that prove the ROS 2 environment is real: two processes over the middleware."""

import json
import os
import pathlib
import subprocess
import sys
import time

from builtin_interfaces.msg import Time
import pytest
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from track_interfaces.srv import SetTarget
from vision_msgs.msg import Detection2DArray

HERE = pathlib.Path(__file__).resolve().parent
UPSTREAM_HASHES = {
    'Detection2DArray':
        'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968',
    'BoundingBox2D':
        'RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f',
}


@pytest.fixture
def peer():
    proc = subprocess.Popen(
        [sys.executable, str(HERE / 'smoke_peer.py'), '--seconds', '60'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def node():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    test_node = Node('smoke_test', context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(test_node)
    yield test_node, executor
    test_node.destroy_node()
    executor.shutdown()
    rclpy.try_shutdown(context=context)


def spin_until(executor, predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        if predicate():
            return True
    return False


def test_image_answered_with_detections_from_another_process(peer, node):
    test_node, executor = node
    received = []
    test_node.create_subscription(Detection2DArray, 'detections', received.append, 10)
    pub = test_node.create_publisher(Image, 'image', 10)

    img = Image()
    img.header.frame_id = 'camera_optical'
    img.header.stamp = Time(sec=1234, nanosec=5678)
    img.height, img.width, img.encoding, img.step = 48, 64, 'rgb8', 64 * 3
    img.data = bytes(48 * 64 * 3)

    end = time.monotonic() + 30.0
    while not received and time.monotonic() < end:
        pub.publish(img)
        spin_until(executor, lambda: bool(received), 0.5)
    assert received, 'no Detection2DArray came back from the peer process within 30 s'
    msg = received[0]
    assert msg.header.frame_id == 'camera_optical'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1234, 5678)
    det = msg.detections[0]
    assert det.bbox.center.position.x == pytest.approx(32.0)
    assert det.bbox.size_y == pytest.approx(12.0)
    assert det.results[0].hypothesis.class_id == 'rgb8'


def test_track_interfaces_service_across_processes(peer, node):
    test_node, executor = node
    client = test_node.create_client(SetTarget, 'set_target')
    assert spin_until(executor, lambda: client.service_is_ready(), 30.0), \
        'set_target service of the peer process never appeared'
    good = SetTarget.Request(x=1.0, y=2.0, width=10.0, height=20.0, target_id='')
    future = client.call_async(good)
    assert spin_until(executor, future.done, 10.0)
    assert future.result().success
    assert future.result().target_id == 'assigned-1'

    bad = SetTarget.Request(x=1.0, y=2.0, width=0.0, height=20.0, target_id='t7')
    future = client.call_async(bad)
    assert spin_until(executor, future.done, 10.0)
    assert not future.result().success
    assert 'positive' in future.result().message
    assert future.result().target_id == 't7'


def test_local_vision_msgs_type_hashes_match_upstream():
    from ament_index_python.packages import get_package_share_directory
    share = pathlib.Path(get_package_share_directory('vision_msgs'))
    ws = pathlib.Path(__file__).resolve().parents[3]      # install/, or install-jazzy/ ...
    if not any(p.parent == ws and p.name.startswith('install') for p in share.parents):
        pytest.skip(f'vision_msgs comes from {share}, not from our local build')
    for name, expected in UPSTREAM_HASHES.items():
        data = json.loads((share / 'msg' / f'{name}.json').read_text())
        hashes = {h['type_name']: h['hash_string'] for h in data['type_hashes']}
        assert hashes[f'vision_msgs/msg/{name}'] == expected, name


def test_discovery_is_kept_on_this_host():
    assert os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE') == 'LOCALHOST'
    assert os.environ.get('ROS_DOMAIN_ID'), 'make test sets a private ROS_DOMAIN_ID'
