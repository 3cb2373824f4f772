"""Crops around a target, normalisation, and mapping crop coordinates back to the image."""

import math
from typing import Tuple

import numpy as np

try:
    import cv2
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError('track_core needs OpenCV: pip install "track-core[opencv]" (or the '
                      'system python3-opencv)') from exc


def check_image(image) -> Tuple[int, int]:
    """Check a frame is an HxWx3 uint8 array; return (height, width)."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f'image must be a numpy array (H, W, 3) uint8, got '
                        f'{type(image).__name__}')
    if image.dtype != np.uint8:
        raise TypeError(f'image dtype must be uint8, got {image.dtype}')
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must have shape (H, W, 3) (3 channels, RGB), got '
                         f'{image.shape}')
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f'image is empty: shape {image.shape}')
    return image.shape[0], image.shape[1]


def crop_side(width: float, height: float, factor: float, context: str = 'area') -> float:
    """Side of the square crop around a w x h target.

    'area': ceil(sqrt(w h) factor); 'padded': ceil(sqrt((w + p)(h + p)) factor / 2) with
    p = (w + h) / 2 (SiamRPN's context; equal to 'area' for a square target).
    """
    if context == 'padded':
        pad = (width + height) / 2.0
        return float(math.ceil(math.sqrt((width + pad) * (height + pad)) * factor / 2.0))
    return float(math.ceil(math.sqrt(width * height) * factor))


def crop_square(image: np.ndarray, cx: float, cy: float, side: float, out_size: int
                ) -> np.ndarray:
    """Cut the side x side square centred on (cx, cy), resized to out_size; zeros outside."""
    scale = out_size / side
    x0 = cx - side / 2.0
    y0 = cy - side / 2.0
    # Pixel centres: output pixel u covers image x0 + (u + 0.5) / scale - 0.5.
    m = np.array([[scale, 0.0, -x0 * scale + 0.5 * scale - 0.5],
                  [0.0, scale, -y0 * scale + 0.5 * scale - 0.5]], dtype=np.float64)
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, m, (out_size, out_size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def crop_to_image(box_norm: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """(cx, cy, w, h) normalised to a crop of ``side`` centred at (cx, cy) -> image pixels."""
    bx, by, bw, bh = (float(v) for v in box_norm)
    return np.array([cx - side / 2.0 + bx * side, cy - side / 2.0 + by * side,
                     bw * side, bh * side], dtype=np.float64)


def image_to_crop(box_cxcywh: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """Inverse of crop_to_image."""
    bx, by, bw, bh = (float(v) for v in box_cxcywh)
    return np.array([(bx - cx + side / 2.0) / side, (by - cy + side / 2.0) / side,
                     bw / side, bh / side], dtype=np.float64)


class Normalizer:
    """uint8 HxWx3 crops -> float32 (B, 3, H, W): (pixel / 255 - mean) / std, channels in order.

    One pass in OpenCV (``cv2.dnn.blobFromImagesWithParams``: convert, swap channels, scale
    and lay out NCHW together), 10-17x faster than the NumPy formula on a 256 px crop here;
    the NumPy formula (``reference``) where that OpenCV function is missing. A test holds the
    two equal to 1e-5.
    """

    def __init__(self, mean, std, flip_channels: bool = False):
        std = np.asarray(std, np.float64)
        mean = np.asarray(mean, np.float64)
        self.scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(1, 1, 3)
        self.shift = (mean / std).astype(np.float32).reshape(1, 1, 3)
        self.flip = flip_channels
        self._params = None
        if hasattr(cv2, 'dnn') and hasattr(cv2.dnn, 'blobFromImagesWithParams'):
            params = cv2.dnn.Image2BlobParams()
            params.scalefactor = tuple(float(v) for v in 1.0 / (255.0 * std))
            params.mean = tuple(float(v) for v in 255.0 * mean)   # in the output's order
            params.swapRB = bool(flip_channels)
            params.ddepth = cv2.CV_32F
            self._params = params

    @classmethod
    def for_preprocess(cls, preprocess) -> 'Normalizer':
        """Return the normaliser a PreprocessConfig asks for (runtime and training alike)."""
        return cls(preprocess.mean, preprocess.std,
                   flip_channels=preprocess.channel_order == 'bgr')

    def __call__(self, crops) -> np.ndarray:
        if self._params is None:
            return self.reference(crops)
        height, width = crops[0].shape[:2]
        self._params.size = (width, height)
        return cv2.dnn.blobFromImagesWithParams(list(crops), self._params)

    def reference(self, crops) -> np.ndarray:
        """Return the same in NumPy (the definition the fast path is held to)."""
        batch = np.stack(crops).astype(np.float32)
        if self.flip:
            batch = batch[..., ::-1]
        batch = batch * self.scale - self.shift
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def hann2d(n: int) -> np.ndarray:
    """Outer product of 0.5 * (1 - cos(2 pi k / (n + 1))), k = 1..n."""
    k = np.arange(1, n + 1, dtype=np.float64)
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (n + 1)))
    return np.outer(w, w)


# The colour histogram of a box (Perez et al., "Color-based probabilistic tracking", 2002):
# pixels with colour (saturation and value above these) count in hue x saturation bins, the
# greys by their value alone, where hue means nothing. A box is sampled on a grid of at most
# COLOUR_SAMPLES pixels.
HUE_BINS, SATURATION_BINS, VALUE_BINS = 16, 4, 8
MIN_SATURATION, MIN_VALUE = 26, 51
COLOUR_SAMPLES = 64 * 64


def colour_histogram(image: np.ndarray, box) -> np.ndarray:
    """Return the colours of ``box`` (x, y, w, h) on an RGB ``image`` as a unit vector.

    The square root of the normalised histogram, so that the dot product of two is their
    Bhattacharyya coefficient (1: the same colours in the same shares). A box outside the
    image gives zeros.
    """
    height, width = image.shape[:2]
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(int(math.floor(x)), 0), max(int(math.floor(y)), 0)
    x1, y1 = min(int(math.ceil(x + w)), width), min(int(math.ceil(y + h)), height)
    colours = HUE_BINS * SATURATION_BINS
    if x1 <= x0 or y1 <= y0:
        return np.zeros(colours + VALUE_BINS, np.float32)
    step = max(1, int(math.sqrt((x1 - x0) * (y1 - y0) / COLOUR_SAMPLES)))
    patch = np.ascontiguousarray(image[y0:y1:step, x0:x1:step])
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]          # OpenCV: hue 0-179
    coloured = (sat >= MIN_SATURATION) & (val >= MIN_VALUE)
    cell = (np.minimum(hue[coloured] * HUE_BINS // 180, HUE_BINS - 1) * SATURATION_BINS +
            (sat[coloured] - MIN_SATURATION) * SATURATION_BINS // (256 - MIN_SATURATION))
    grey = colours + val[~coloured] * VALUE_BINS // 256
    counts = np.bincount(np.concatenate([cell, grey]), minlength=colours + VALUE_BINS)
    return np.sqrt(counts / len(hsv)).astype(np.float32)
