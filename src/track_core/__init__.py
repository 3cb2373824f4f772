"""track_core: one-stream transformer single-object trackers, their runtime and compression.

Pure Python + PyTorch; nothing here imports ROS.
"""

__version__ = '0.1.0'
