"""track_node uses track_core.runtime only: never training, data or evaluation code."""

import ast
import pathlib
import subprocess
import sys

PKG = pathlib.Path(__file__).resolve().parents[1] / 'track_node'


def test_node_does_not_import_training_data_or_evaluation():
    code = ('import sys, track_node.node, track_node.image_source\n'
            'print("\\n".join(sorted(sys.modules)))')
    mods = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                          text=True).stdout.split()
    bad = [m for m in mods if m.startswith(('track_core.train', 'track_core.data',
                                            'track_core.eval'))]
    assert not bad, bad
    assert 'track_core.runtime' in mods and 'rclpy' in mods


def test_the_pure_modules_never_import_rclpy():
    # the node is a thin adapter: what it keeps, counts and decides loads and is testable
    # without ROS (params reaches rclpy only inside the functions that declare parameters)
    for name in ('params', 'launch_checks', 'sources'):
        tree = ast.parse((PKG / f'{name}.py').read_text())
        top = set()
        for node in tree.body:          # module-level statements
            if isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split('.')[0])
            elif isinstance(node, ast.Import):
                top.update(a.name.split('.')[0] for a in node.names)
        assert top and not top & {'rclpy', 'launch', 'launch_ros'}, name
