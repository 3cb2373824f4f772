"""Export of trained trackers to deployment formats (ONNX) with parity checks."""
