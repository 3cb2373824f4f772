"""The launch file itself, run by launch_ros where it is installed (not on PyPI: skipped here).

Checks the launch file's promises on a real ROS 2 install: a params_file that does not exist
stops the launch before any node starts; rviz:=true without rviz2 carries on without it and
leaves no process behind when the launch ends.
"""

import os
import pathlib
import signal
import subprocess
import time

import pytest

launch_ros = pytest.importorskip('launch_ros', reason='launch_ros is not installed here (not '
                                 'on PyPI); the launch decisions are tested in '
                                 'test_launch_and_source.py')
ROS2 = 'ros2'


def _processes(name):
    out = subprocess.run(['pgrep', '-f', name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _launch(*args, seconds=None):
    proc = subprocess.Popen([ROS2, 'launch', 'track_node', 'track_node.launch.py', *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    if seconds is None:
        return proc, proc.communicate(timeout=60)[0]
    time.sleep(seconds)
    os.killpg(proc.pid, signal.SIGINT)
    return proc, proc.communicate(timeout=60)[0]


def test_a_missing_params_file_stops_the_launch_before_anything_starts(tmp_path):
    proc, out = _launch(f'params_file:={tmp_path / "nope.yaml"}')
    assert proc.returncode != 0 and 'does not exist' in out, out
    assert 'track_node' not in out.split('does not exist')[0].split('\n')[-1]
    assert not _processes('lib/track_node/track_node')


@pytest.mark.skipif(pathlib.Path('/opt/ros').exists() and subprocess.run(
    ['ros2', 'pkg', 'prefix', 'rviz2'], capture_output=True).returncode == 0,
    reason='rviz2 is installed here: this checks a machine without it')
def test_rviz_without_rviz2_carries_on_and_leaves_no_process():
    proc, out = _launch('rviz:=true', seconds=8)
    assert 'rviz2 is not installed' in out, out
    assert 'active: tracking on' in out, out
    time.sleep(1)
    assert not _processes('lib/track_node/track_node'), 'an orphaned track_node is left'
