"""package.xml declares what the package imports, so `rosdep install` on a robot pulls it all."""

import ast
import pathlib
import sys
import xml.etree.ElementTree as ET

PKG = pathlib.Path(__file__).resolve().parents[1]
# Python module -> rosdep key, where they differ.
ROSDEP_KEYS = {'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml',
               'pytest': 'python3-pytest', 'hypothesis': 'python3-hypothesis'}
# Installed by `make setup` with pip, not a ROS package (rosbags: only to play a recording,
# imported when one is played, in track_core's eval extra); and this package's test helpers.
NOT_ROS = {'track_core', 'track_node', 'graph', 'rosbags'}
# Needed at run time without an import of their own: rclpy's lifecycle node serves
# lifecycle_msgs services; the messages the node fills hold std_msgs/Header and
# builtin_interfaces/Time fields.
INDIRECT = {'lifecycle_msgs', 'std_msgs', 'builtin_interfaces'}


def imported_modules(paths):
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name.split('.')[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split('.')[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in NOT_ROS}


def declared(kinds):
    root = ET.parse(PKG / 'package.xml').getroot()
    return {e.text.strip() for kind in kinds for e in root.iter(kind)}


def test_every_import_of_the_package_is_an_exec_depend_and_nothing_more():
    code = list((PKG / 'track_node').glob('*.py')) + list((PKG / 'launch').glob('*.py'))
    needed = {ROSDEP_KEYS.get(m, m) for m in imported_modules(code)}
    deps = declared(['exec_depend', 'depend'])
    assert needed - deps == set(), 'imported but not declared'
    assert deps - needed - INDIRECT == set(), 'declared but never imported'
    assert {'rclpy', 'vision_msgs', 'python3-numpy', 'launch_ros'} <= needed   # the probe


def test_test_imports_are_declared_too():
    tests = list((PKG / 'test').glob('*.py'))
    needed = {ROSDEP_KEYS.get(m, m) for m in imported_modules(tests)}
    deps = declared(['exec_depend', 'depend', 'test_depend'])
    assert needed - deps == set()
