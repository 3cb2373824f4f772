"""track_core: one-stream transformer single-object trackers, their runtime and compression.

Pure Python + PyTorch; nothing here imports ROS. Parts, lowest first: ``net`` (networks),
``checkpoint``, ``runtime`` (inference and the live engine), ``foreign`` (trackers from
elsewhere), ``export``, ``importers``, ``data``, ``train``, ``eval``; each imports only parts
below it (test/test_import_boundaries.py).
"""

__version__ = '0.1.0'
