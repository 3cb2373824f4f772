"""Siamese CNN trackers as baselines (and, through their engines, as teachers).

One SiamRPN-style runtime serves NanoTrack v3 and LightTrack-Mobile: a square context crop
(side sqrt((w + c(w+h)) (h + c(w+h))), c = 0.5) padded with the image's mean colour, the
template embedded once, the search crop twice its side, a score map and left/top/right/bottom
distances on a grid of points (stride 16, centred on the crop), SiamRPN's scale/aspect penalty,
a Hann window, and the size update weighted by penalty x score x lr. Each model brings its
published window / penalty / lr settings.

Engines take BGR uint8 crops and return (score map (F, F) in 0..1, ltrb (4, F, F) in crop
pixels):
- ``NanoTrackV3Onnx``: the published ONNX graphs in ONNX Runtime (OpenCV's TrackerNano
  rejects their 15x15 head); the template goes through the backbone with a dynamic input size.
- ``NanoTrackV3Torch``: the same network written here (``net/nanotrack.py``), for gradients.
- ``LightTrackOpenVINO``: the LightTrack-Mobile IR (needs the ``openvino`` package; an
  evaluation/teacher extra, never a product dependency).
"""

from dataclasses import dataclass
import pathlib
import time
from typing import List, Optional, Tuple

import cv2
import numpy as np

from track_core.runtime.decode import size_change_penalty


@dataclass(frozen=True)
class SiameseSettings:
    template_size: int
    search_size: int
    score_size: int
    window_influence: float
    penalty_k: float
    lr: float
    stride: int = 16
    context: float = 0.5
    size_by_score: bool = True   # the published rule: the size moves by penalty x score x lr


NANOTRACK_V3 = SiameseSettings(127, 255, 15, window_influence=0.455, penalty_k=0.138, lr=0.348)
LIGHTTRACK = SiameseSettings(128, 256, 16, window_influence=0.38, penalty_k=0.062, lr=0.765)


def context_side(w: float, h: float, context: float = 0.5) -> float:
    pad = context * (w + h)
    return float(np.sqrt((w + pad) * (h + pad)))


def mean_padded_crop(image: np.ndarray, cx: float, cy: float, side: float, out: int,
                     fill) -> np.ndarray:
    """Square crop of ``side`` pixels centred at (cx, cy), resized to ``out``; outside: fill."""
    scale = out / side
    m = np.array([[scale, 0.0, out / 2.0 - scale * cx], [0.0, scale, out / 2.0 - scale * cy]])
    fill = tuple(float(v) for v in fill)
    return cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def point_offsets(settings: SiameseSettings) -> np.ndarray:
    """Grid points relative to the crop centre, crop pixels: (2, F, F) as (x, y)."""
    f = settings.score_size
    r = (np.arange(f) - f // 2) * settings.stride
    xs, ys = np.meshgrid(r, r)
    return np.stack([xs, ys]).astype(np.float64)


class SiameseTracker:
    """The evaluation interface (``initialize``, ``track``, ``model_ms``) around an engine."""

    def __init__(self, name: str, engine, settings: SiameseSettings):
        self.name = name
        self.engine = engine
        self.s = settings
        self.model_ms: List[float] = []
        hann = np.hanning(settings.score_size)
        self.window = np.outer(hann, hann)
        self.points = point_offsets(settings)
        self.center = self.size = self.zf = self.fill = None
        self.score = 0.0

    def initialize(self, rgb: np.ndarray, box) -> None:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        x, y, w, h = (float(v) for v in box)
        self.center = np.array([x + w / 2.0, y + h / 2.0])
        self.size = np.array([w, h])
        self.fill = bgr.reshape(-1, 3).mean(0)
        side = context_side(w, h, self.s.context)
        z = mean_padded_crop(bgr, *self.center, side, self.s.template_size, self.fill)
        self.zf = self.engine.embed_template(z)

    def relocate(self, box, image_size=None) -> None:
        """Move the target to ``box`` (x, y, w, h) and keep its template."""
        x, y, w, h = (float(v) for v in box)
        self.center = np.array([x + w / 2.0, y + h / 2.0])
        self.size = np.array([w, h])

    def track(self, rgb: np.ndarray) -> Tuple[float, float, float, float]:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        s = self.s
        side_z = context_side(*self.size, s.context)
        scale_z = s.template_size / side_z
        side_x = side_z * s.search_size / s.template_size
        x = mean_padded_crop(bgr, *self.center, side_x, s.search_size, self.fill)
        start = time.perf_counter()
        score, ltrb = self.engine.run(self.zf, x)
        self.model_ms.append((time.perf_counter() - start) * 1000.0)
        px, py = self.points
        x1, y1 = px - ltrb[0], py - ltrb[1]
        x2, y2 = px + ltrb[2], py + ltrb[3]
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        penalty = size_change_penalty(np.stack([w, h]), self.size * scale_z, s.penalty_k)
        pscore = penalty * score
        pscore = pscore * (1 - s.window_influence) + self.window * s.window_influence
        i = np.unravel_index(int(np.argmax(pscore)), pscore.shape)
        lr = penalty[i] * score[i] * s.lr if s.size_by_score else s.lr
        center = self.center + np.array([cx[i], cy[i]]) / scale_z
        size = self.size * (1 - lr) + np.array([w[i], h[i]]) / scale_z * lr
        height, width = rgb.shape[:2]
        self.center = np.clip(center, 0, [width, height])
        self.size = np.clip(size, 10, [width, height])
        self.score = float(score[i])
        return (float(self.center[0] - self.size[0] / 2), float(self.center[1] - self.size[1] / 2),
                float(self.size[0]), float(self.size[1]))


def _softmax_fg(cls: np.ndarray) -> np.ndarray:
    """(2, F, F) logits -> foreground probability (F, F)."""
    e = np.exp(cls - cls.max(0, keepdims=True))
    return e[1] / e.sum(0)


def _nchw(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None])


class NanoTrackV3Onnx:
    """NanoTrack v3's published ONNX graphs in ONNX Runtime (CPU)."""

    def __init__(self, folder, threads: Optional[int] = None):
        import onnx
        import onnxruntime as ort
        folder = pathlib.Path(folder)
        backbone = onnx.load(str(folder / 'nanotrack_backbone.onnx'))
        for value in list(backbone.graph.input) + list(backbone.graph.output):
            for k, dim in enumerate(value.type.tensor_type.shape.dim):
                if k >= 2:
                    dim.dim_param = f'd{k}'         # 127 px templates as well as 255 px
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        cpu = ['CPUExecutionProvider']
        self.backbone = ort.InferenceSession(backbone.SerializeToString(), opts, providers=cpu)
        self.head = ort.InferenceSession(str(folder / 'nanotrack_head.onnx'), opts,
                                         providers=cpu)

    def embed_template(self, z):
        return self.backbone.run(None, {'input': _nchw(z)})[0]

    def run(self, zf, x):
        xf = self.backbone.run(None, {'input': _nchw(x)})[0]
        cls, reg = self.head.run(None, {'input1': zf, 'input2': xf})
        return _softmax_fg(cls[0]), reg[0].astype(np.float64)


class NanoTrackV3Torch:
    """The white-box NanoTrack v3 (``net/nanotrack.py``) behind the same engine interface."""

    def __init__(self, model, device: str = 'cpu'):
        import torch
        self.torch = torch
        self.model = model.to(device).eval()
        self.device = device

    def embed_template(self, z):
        with self.torch.no_grad():
            return self.model.backbone(self.torch.from_numpy(_nchw(z)).to(self.device))

    def run(self, zf, x):
        with self.torch.no_grad():
            xf = self.model.backbone(self.torch.from_numpy(_nchw(x)).to(self.device))
            cls, reg = self.model.ban_head(zf, xf)
        return _softmax_fg(cls[0].cpu().numpy()), reg[0].cpu().numpy().astype(np.float64)


class LightTrackOpenVINO:
    """LightTrack-Mobile's OpenVINO IR (preprocessing folded in: BGR uint8 NHWC crops)."""

    def __init__(self, folder, threads: Optional[int] = None):
        import openvino as ov
        folder = pathlib.Path(folder)
        core = ov.Core()
        config = {'INFERENCE_NUM_THREADS': int(threads)} if threads else {}
        self.z = core.compile_model(str(folder / 'z_feature.xml'), 'CPU', config)
        self.x = core.compile_model(str(folder / 'x_feature.xml'), 'CPU', config)
        self.head = core.compile_model(str(folder / 'head.xml'), 'CPU', config)

    def embed_template(self, z):
        return self.z([np.ascontiguousarray(z[None])])[0]

    def run(self, zf, x):
        xf = self.x([np.ascontiguousarray(x[None])])[0]
        out = self.head([zf, xf])
        return np.asarray(out[0], np.float64), np.asarray(out[1], np.float64)
