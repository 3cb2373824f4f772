"""track_node uses track_core.runtime only: never training, data or evaluation code."""

import subprocess
import sys


def test_node_does_not_import_training_data_or_evaluation():
    code = ('import sys, track_node.node, track_node.image_source\n'
            'print("\\n".join(sorted(sys.modules)))')
    mods = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                          text=True).stdout.split()
    bad = [m for m in mods if m.startswith(('track_core.train', 'track_core.data',
                                            'track_core.eval'))]
    assert not bad, bad
    assert 'track_core.runtime' in mods and 'rclpy' in mods
