"""OpenCV's ``TrackerVit`` written out, to check the imported VitTrack against it.

``track-import vittrack`` brings VitTrack's network into this project, where the runtime
(``track_core.runtime``) crops, normalises and decodes its own way. To show that the imported
network *is* the one TrackerVit runs, ``replay`` runs TrackerVit's loop (its crops, input,
window, threshold and integer box update: OpenCV's ``modules/video/src/tracking/
tracker_vit.cpp``, re-implemented here from its description) around the imported network;
its boxes are compared with ``cv2.TrackerVit``'s (``scripts/vittrack_parity.py``, the tests).

The input TrackerVit gives the network is not the one its parameters describe
(``OpenCVNormalizer``): this project's runtime gives the intended one.
"""

from typing import Optional

import cv2
import numpy as np
import torch

from track_core.runtime.preprocess import hann2d


def opencv_boxes(onnx_path, seq, frames: Optional[int] = None):
    """Return ``cv2.TrackerVit``'s boxes on ``seq`` (its last box held where it reports a failure).

    Returns (boxes (N, 4), how many frames it reported a failure on); ``frames`` limits N.
    """
    params = cv2.TrackerVit_Params()
    params.net = str(onnx_path)
    tracker = cv2.TrackerVit_create(params)
    box = tuple(int(round(v)) for v in seq.boxes[0])
    tracker.init(cv2.cvtColor(seq.frame(0), cv2.COLOR_RGB2BGR), box)
    boxes, failed = [np.array(box, float)], 0
    for i in range(1, frames or len(seq)):
        ok, found = tracker.update(cv2.cvtColor(seq.frame(i), cv2.COLOR_RGB2BGR))
        if ok:
            box = found
        failed += not ok
        boxes.append(np.array(box, float))
    return np.array(boxes), failed


def crop(image, box, factor):
    """Cut TrackerVit's crop: an integer square of ceil(sqrt(w h) factor), zero padded.

    Integer arithmetic as OpenCV's (C++ division truncates towards zero). OpenCV cuts a region
    one pixel short at the right and bottom image edges and pads it back with
    ``copyMakeBorder``, which on a region of a larger image fills its border from that image
    where it can: the result is the whole window, zeros only outside the image (a numpy view
    has no parent image, so it is built here directly).
    """
    x, y, w, h = box
    side = int(np.ceil(np.sqrt(w * h) * factor))
    x1, y1 = x + int((w - side) / 2), y + int((h - side) / 2)
    height, width = image.shape[:2]
    out = np.zeros((side, side, image.shape[2]), image.dtype)
    ax, ay = max(x1, 0), max(y1, 0)
    bx, by = min(x1 + side, width), min(y1 + side, height)
    if bx > ax and by > ay:
        out[ay - y1:by - y1, ax - x1:bx - x1] = image[ay:by, ax:bx]
    return out, side


class OpenCVNormalizer:
    """The input TrackerVit actually gives the network (OpenCV 4.9 - 4.12).

    TrackerVit computes its per-channel scale as ``(1.0 / stdvalue) * (1 / 255.0)`` on
    ``cv::Scalar``s, and ``double / Scalar`` in OpenCV is the quaternion inverse, conj(s) /
    |s|^2, not the element-wise one: the scale is (1.494, -1.462, -1.468) / 255 where
    (4.367, 4.464, 4.444) / 255 was meant, so the network sees its G and R channels negated
    and every channel at a third of its contrast. (Found here: the network's windowed peak
    with this input matches ``getTrackingScore()`` to 1e-6; with the intended one it does not.)
    """

    def __init__(self, mean, std):
        std = np.asarray(std, np.float64)
        self.mean = 255.0 * np.asarray(mean, np.float64)
        self.scale = np.array([std[0], -std[1], -std[2]]) / (std ** 2).sum() / 255.0

    def __call__(self, crops):
        """RGB uint8 crops (as everywhere in this project) -> the BGR blob TrackerVit makes."""
        batch = (np.stack(crops)[..., ::-1].astype(np.float64) - self.mean) * self.scale
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)


def replay(model, pre, seq, follow=None, frames: Optional[int] = None, threshold: float = 0.2):
    """Run TrackerVit's loop, written out in Python, around the imported network (PyTorch).

    Same input (``OpenCVNormalizer``), integer crops, plain bilinear resize, Hann-windowed
    peak, held box under the threshold and floored box update as OpenCV's: if these boxes
    match TrackerVit's, the imported network is the published one and any other difference
    is the runtime's. ``follow``: TrackerVit's own boxes; each frame then starts from its
    previous box (one step each), so a pixel's difference cannot carry over. ``frames``
    limits the frames tracked.
    """
    norm = OpenCVNormalizer(pre.mean, pre.std)
    window = hann2d(16)       # the runtime's window is TrackerVit's (centred, n + 1)
    rgb = seq.frame(0)
    box = [int(round(v)) for v in seq.boxes[0]]
    patch, _ = crop(rgb, box, 2)
    with torch.no_grad():
        z = model.embed_template(torch.from_numpy(norm([cv2.resize(patch, (128, 128))])))
    boxes = [np.array(box, float)]
    for i in range(1, frames or len(seq)):
        if follow is not None:
            box = [int(v) for v in follow[i - 1]]
        patch, side = crop(seq.frame(i), box, 4)
        with torch.no_grad():
            search = torch.from_numpy(norm([cv2.resize(patch, (256, 256))]))
            out = model.forward_search(z, search)
        score = out['score_map'][0, 0].numpy() * window
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[row, col] >= threshold:
            size, offset = out['size_map'][0].numpy(), out['offset_map'][0].numpy()
            cx, cy = (col + offset[0, row, col]) / 16, (row + offset[1, row, col]) / 16
            w, h = size[0, row, col], size[1, row, col]
            x0, y0 = box[0] + int((box[2] - side) / 2), box[1] + int((box[3] - side) / 2)
            box = [int(np.floor(v)) for v in ((cx - w / 2) * side + x0,
                                              (cy - h / 2) * side + y0, w * side, h * side)]
        boxes.append(np.array(box, float))
    return np.array(boxes)
