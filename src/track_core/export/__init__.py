"""Export of trained trackers to deployment formats (ONNX) with parity checks.

May import ``net``, ``checkpoint`` and ``runtime`` (to check the exported graphs run alike).
"""
