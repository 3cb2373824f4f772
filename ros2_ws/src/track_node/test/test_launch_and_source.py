"""The launch file, checked statically, and the image source node over the middleware.

launch_ros is not installable here, so the launch file is parsed and what it names is checked.
"""

import ast
import pathlib
import re
import threading
import time

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
import yaml

from track_node import params
from track_node.image_source import ImageSource
from track_node.sources import FrameSource, SourceError

PKG = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = PKG / 'launch' / 'track_node.launch.py'


def test_launch_file_parses_and_names_what_exists():
    tree = ast.parse(LAUNCH.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    kwargs = {}
    for call in calls:
        for kw in call.keywords:
            if isinstance(kw.value, ast.Constant):
                kwargs.setdefault(kw.arg, []).append(kw.value.value)
    setup = (PKG / 'setup.py').read_text()
    scripts = set(re.findall(r"'(\w+) = track_node\.", setup))
    assert 'track_node' in kwargs['executable'] and 'track_node' in scripts
    assert {'image_source', 'track_node'} <= scripts
    args = set(re.findall(r"DeclareLaunchArgument\(\s*'(\w+)'", LAUNCH.read_text()))
    assert {'params_file', 'image', 'namespace', 'use_sim_time', 'log_level', 'rviz'} <= args
    assert "os.path.join(share, 'config', 'track_node.yaml')" in LAUNCH.read_text()
    assert (PKG / 'rviz' / 'track_node.rviz').is_file()


def test_parameter_file_names_only_declared_parameters_with_valid_values():
    data = yaml.safe_load((PKG / 'config' / 'track_node.yaml').read_text())
    values = data['track_node']['ros__parameters']
    unknown = set(values) - set(params.PARAMETERS) - {'autostart'}
    assert not unknown, unknown
    for name, value in values.items():
        assert type(value) is type(params.PARAMETERS[name][0]), name
    assert params.settings_from_values({**{k: d for k, (d, _, _) in params.PARAMETERS.items()},
                                        **values})


def test_launch_description_builds_where_launch_ros_exists():
    launch_ros = pytest.importorskip('launch_ros', reason='launch_ros is not installed here '
                                     '(not on PyPI); checked statically above')
    namespace = {}
    exec(compile(LAUNCH.read_text(), str(LAUNCH), 'exec'), namespace)
    description = namespace['generate_launch_description']()
    assert any(isinstance(e, launch_ros.actions.Node) for e in description.entities)


@pytest.fixture
def frame_folder(tmp_path):
    folder = tmp_path / 'seq' / 'img'
    folder.mkdir(parents=True)
    for i in range(6):
        cv2.imwrite(str(folder / f'{i + 1:08d}.jpg'), np.full((24, 32, 3), 40 * i, np.uint8))
    (tmp_path / 'seq' / 'groundtruth.txt').write_text('1,2,10,8\n' * 6)
    return tmp_path / 'seq'


def test_frame_source_reads_folders_and_rejects_nonsense(frame_folder, tmp_path):
    source = FrameSource(frame_folder, rate=10.0)
    frames = list(source.frames())
    assert len(frames) == 6 and frames[2][1] == pytest.approx(0.2)
    assert source.first_box() == (1.0, 2.0, 10.0, 8.0)
    with pytest.raises(SourceError, match='no such file'):
        FrameSource(tmp_path / 'nope.mp4', 10.0)
    (tmp_path / 'junk.mp4').write_bytes(b'junk')
    with pytest.raises(SourceError, match='cannot decode'):
        FrameSource(tmp_path / 'junk.mp4', 10.0)


def test_image_source_publishes_the_folder(frame_folder):
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        source = ImageSource(context=context, parameter_overrides=[
            Parameter('source', value=str(frame_folder)), Parameter('rate', value=50.0),
            Parameter('frame_id', value='cam9'), Parameter('replay_timing', value=True)])
        listener = Node('listener', context=context)
        got = []
        listener.create_subscription(Image, 'image', got.append, qos_profile_sensor_data)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(listener)
        # Wait for discovery before the source starts its timer.
        end = time.monotonic() + 10
        while source.pub.get_subscription_count() == 0 and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        executor.add_node(source)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        end = time.monotonic() + 10
        while len(got) < 6 and time.monotonic() < end:
            time.sleep(0.02)
        executor.shutdown()
        assert len(got) == 6
        assert {m.header.frame_id for m in got} == {'cam9'}
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in got]
        assert np.diff(stamps) == pytest.approx([0.02] * 5, abs=1e-6)   # media time, exact
        assert got[3].data[0] == got[3].data[-1] and got[3].encoding == 'rgb8'
        source.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
