"""ROS 2 adapter over track_core.runtime: the node, its parameters and message conversions."""
