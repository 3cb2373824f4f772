"""Trackers from elsewhere, run as they were published: baselines and CNN teachers.

``siamese``: one SiamRPN-style runtime and its engines (NanoTrack v3 in ONNX Runtime or written
here in PyTorch, LightTrack-Mobile in OpenVINO); ``baselines``: those and OpenCV's trackers
under the evaluation interface; ``teacher``: a CNN tracker labelling training pairs with its
score map and box. May import ``net`` (NanoTrack v3 written here) and ``runtime`` (the shared
decode formulas); never ``train``, ``data`` or ``eval``, which import it.
"""
