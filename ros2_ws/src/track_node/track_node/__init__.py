"""ROS 2 adapter over track_core.runtime: the node, its parameters and message conversions.

May import ``track_core.runtime`` (the tracker and its live engine) and ROS; never track_core's
training, data or evaluation code. ``params``, ``interface``, ``launch_checks`` and ``sources``
load without rclpy.
"""

import os

# A hard cap under every image decoder in this process: OpenCV refuses to decode anything
# larger (it reads the variable when cv2 is first imported, so it is set here, first). The
# node's max_image_pixels parameter is checked before decoding and cannot exceed it.
MAX_DECODED_PIXELS = 1 << 27
os.environ.setdefault('OPENCV_IO_MAX_IMAGE_PIXELS', str(MAX_DECODED_PIXELS))

# The process that started this one, read before anything slow is imported: a node asked to
# exit with its parent (exit_with_parent) compares against it, so a parent that dies while
# the node is still starting is noticed too (by then os.getppid() names the new parent).
STARTED_BY = os.getppid()
