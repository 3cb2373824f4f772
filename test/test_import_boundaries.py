"""The layering rules: runtime never pulls in training/eval code; the core never imports ROS."""

import pathlib
import re
import subprocess
import sys

SRC = pathlib.Path(__file__).resolve().parents[1] / 'src' / 'track_core'
ROS_PATTERN = re.compile(
    r'^\s*(import|from)\s+(rclpy|launch|launch_ros|cv_bridge|\w+_msgs|\w+_srvs|'
    r'track_interfaces|track_node)\b', re.M)


def _modules_after(statement):
    code = (f'{statement}\nimport sys\n'
            'print("\\n".join(sorted(sys.modules)))')
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                         text=True)
    return out.stdout.split()


def test_runtime_does_not_import_training_or_evaluation():
    mods = _modules_after('import track_core.runtime')
    bad = [m for m in mods if m.startswith(('track_core.distill', 'track_core.data',
                                            'track_core.eval'))]
    assert not bad, bad
    assert 'track_core.runtime.tracker' in mods   # the probe itself worked


def test_core_never_imports_ros_at_run_time():
    mods = _modules_after('import track_core.runtime, track_core.net, track_core.export.onnx')
    bad = [m for m in mods if m.split('.')[0] in ('rclpy', 'cv_bridge', 'launch', 'launch_ros')
           or m.split('.')[0].endswith(('_msgs', '_srvs'))]
    assert not bad, bad


def test_core_sources_contain_no_ros_imports():
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob('*.py')
                 if ROS_PATTERN.search(p.read_text())]
    assert not offenders, offenders
    assert len(list(SRC.rglob('*.py'))) > 10
