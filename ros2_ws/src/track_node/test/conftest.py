"""Without the colcon build on the path, import track_node from its source.

So the tests of the package's pure modules (parameters, the interface table, launch checks)
run with only track_core installed; the graph tests need the build and ROS 2 as before.
"""

import importlib.util
import pathlib
import sys

if importlib.util.find_spec('track_node') is None:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
