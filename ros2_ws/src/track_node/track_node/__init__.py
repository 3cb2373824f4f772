"""ROS 2 adapter over track_core.runtime: the node, its parameters and message conversions.

May import ``track_core.runtime`` (the tracker and its live engine) and ROS; never track_core's
training, data or evaluation code. ``params``, ``interface``, ``launch_checks`` and ``sources``
load without rclpy.
"""
