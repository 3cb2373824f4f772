"""Input conventions between models: a crop normalised for one model, re-expressed for another.

Crops reach training already normalised for the model that trains (its checkpoint's
``PreprocessConfig``). A frozen teacher trained on another convention (an ImageNet-normalised
RGB teacher for a student on NanoTrack's 0..255 BGR stem, say) gets the same pixels in its
own convention, exactly: undo one normalisation, reorder the channels, apply the other.
"""

import torch

from track_core.net.config import PreprocessConfig


def _stats(pre: PreprocessConfig, like: torch.Tensor):
    mean = torch.tensor(pre.mean, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
    return mean, std


def to_pixels(x: torch.Tensor, pre: PreprocessConfig) -> torch.Tensor:
    """(B, 3, H, W) normalised as ``pre`` says -> RGB pixels in 0..255."""
    mean, std = _stats(pre, x)
    pixels = (x * std + mean) * 255.0
    return pixels.flip(1) if pre.channel_order == 'bgr' else pixels


def from_pixels(pixels: torch.Tensor, pre: PreprocessConfig) -> torch.Tensor:
    """RGB pixels in 0..255 -> (B, 3, H, W) normalised as ``pre`` says."""
    if pre.channel_order == 'bgr':
        pixels = pixels.flip(1)
    mean, std = _stats(pre, pixels)
    return (pixels / 255.0 - mean) / std


class Renormalize:
    """Callable: crops normalised for ``src`` -> the same crops normalised for ``dst``."""

    def __init__(self, src: PreprocessConfig, dst: PreprocessConfig):
        self.src, self.dst = src, dst
        self.identity = (tuple(src.mean), tuple(src.std), src.channel_order) == \
            (tuple(dst.mean), tuple(dst.std), dst.channel_order)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.identity else from_pixels(to_pixels(x, self.src), self.dst)
