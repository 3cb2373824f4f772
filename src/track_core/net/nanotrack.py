"""NanoTrack v3 written here: its tracking-trained backbone as a stem, and the whole tracker.

Layout (module and key names follow the published checkpoint, so its state dict loads by key):

- ``MobileNetV3SmallFeatures``: MobileNetV3-small ``features[0..9]`` with the last block's
  stride set to 1, so 96 channels at stride 16 (255 px in, 16x16 out). Input: BGR pixels in
  0..255, not normalised (NanoTrack's own pipeline; a /255 input breaks its head).
- ``NanoTrackV3``: that backbone, then NanoTrack v3's head: per branch (classification,
  regression) a pixel-wise correlation of every template position with the search map (with
  channel attention) beside a depth-wise correlation of the template's central 4x4 with the
  search map, a 1x1 fusion, six depthwise-separable tower blocks and a 1x1 output; 15x15 maps:
  ``cls`` (2 logits) and ``reg`` (exp of left, top, right, bottom distances in pixels of the
  255 px search crop). The checkpoint's ``neck`` is not part of the published graph and is not
  used.
"""

import os
import pathlib
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from track_core.errors import CheckpointError
from track_core.net.heads import decode_center_maps

WEIGHTS_ENV = 'TRACK_NANOTRACK_V3'
WEIGHTS_FORMAT = 'track_core.nanotrack_v3'
WEIGHTS_NAME = 'nanotrack_v3.safetensors'

# (expansion channels, output channels, kernel, stride, squeeze-excite, hard-swish) of
# features[1..9]; the input of features[1] has 16 channels.
_V3_SMALL = ((16, 16, 3, 2, True, False), (72, 24, 3, 2, False, False),
             (88, 24, 3, 1, False, False), (96, 40, 5, 2, True, True),
             (240, 40, 5, 1, True, True), (240, 40, 5, 1, True, True),
             (120, 48, 5, 1, True, True), (144, 48, 5, 1, True, True),
             (288, 96, 5, 1, True, True))
# squeeze channels of each SE block (the checkpoint's fc.0 shapes)
_SQUEEZE = {16: 8, 96: 24, 240: 64, 120: 32, 144: 40, 288: 72}


class SqueezeExcite(nn.Module):

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, _SQUEEZE[channels]), nn.ReLU(inplace=True),
                                nn.Linear(_SQUEEZE[channels], channels))

    def forward(self, x):
        w = self.fc(x.mean((2, 3)))
        return x * F.hardsigmoid(w)[:, :, None, None]


class V3Block(nn.Module):
    """One MobileNetV3 inverted residual; ``conv`` indices match the checkpoint's keys."""

    def __init__(self, cin: int, hidden: int, cout: int, kernel: int, stride: int, se: bool,
                 hswish: bool):
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        pad = (kernel - 1) // 2
        dw = [nn.Conv2d(hidden, hidden, kernel, stride, pad, groups=hidden, bias=False),
              nn.BatchNorm2d(hidden)]
        if hidden == cin:        # no expansion: dw, BN, act, SE, pw, BN
            layers = dw + [act(inplace=True), SqueezeExcite(hidden) if se else nn.Identity()]
        else:                    # pw, BN, act, dw, BN, SE, act, pw, BN
            layers = [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                      act(inplace=True)] + dw + [
                SqueezeExcite(hidden) if se else nn.Identity(), act(inplace=True)]
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV3SmallFeatures(nn.Module):
    """features[0..9] of MobileNetV3-small at stride 16: (B, 3, H, W) -> (B, 96, H/16, W/16)."""

    out_channels = 96

    def __init__(self):
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16),
                                nn.Hardswish(inplace=True))]
        cin = 16
        for hidden, cout, kernel, stride, se, hswish in _V3_SMALL:
            blocks.append(V3Block(cin, hidden, cout, kernel, stride, se, hswish))
            cin = cout
        self.features = nn.Sequential(*blocks)

    def forward(self, x):
        return self.features(x)


class NanoTrackV3Stem(nn.Module):
    """The tracking-trained NanoTrack v3 backbone + a 1x1 projection to the token width.

    ``project=False`` (the 'ban' head) keeps the backbone's own 96 channels: no projection.
    """

    def __init__(self, dim: int, project: bool = True):
        super().__init__()
        self.backbone = MobileNetV3SmallFeatures()
        self.proj = nn.Conv2d(MobileNetV3SmallFeatures.out_channels, dim, kernel_size=1) \
            if project else nn.Identity()

    @property
    def features(self):        # the pretrained part (what freeze_stem keeps fixed)
        return self.backbone

    def load_pretrained(self, path=None) -> int:
        """Load NanoTrack v3's tracking-trained backbone; return how many tensors."""
        return load_nanotrack_v3_backbone(self.backbone, path)

    def forward(self, x):
        return self.proj(self.backbone(x))


# ---------------------------------------------------------------- NanoTrack v3's head
def _conv_bn(cin, cout, kernel=1, groups=1, bias=True):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, groups=groups, bias=bias),
                         nn.BatchNorm2d(cout))


class ChannelAttention(nn.Module):

    def __init__(self, channels: int = 64):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * w


class PixelwiseCorrelation(nn.Module):
    """Every template position (8x8 = 64) against every search position, then 2x2 -> 15x15."""

    def __init__(self, channels: int = 96, positions: int = 64):
        super().__init__()
        self.conv_kernel = _conv_bn(channels, channels)
        self.conv_search = _conv_bn(channels, channels)
        self.CA_layer = ChannelAttention(positions)      # noqa: N815 - the checkpoint's name
        self.conv = nn.Sequential(
            nn.Conv2d(positions, positions, 2, groups=positions, bias=False),
            nn.BatchNorm2d(positions), nn.ReLU6(inplace=True),
            nn.Conv2d(positions, positions, 1), nn.BatchNorm2d(positions))

    def forward(self, z, x):
        k = self.conv_kernel(z).flatten(2)                     # (B, C, 64)
        s = self.conv_search(x)
        b, c, h, w = s.shape
        corr = torch.bmm(k.transpose(1, 2), s.flatten(2)).view(b, -1, h, w)
        return self.conv(self.CA_layer(corr))


class DepthwiseCorrelation(nn.Module):
    """The template's central 4x4 as a per-channel kernel over the search map (padding 1)."""

    def __init__(self, channels: int = 96):
        super().__init__()
        self.conv_kernel = _conv_bn(channels, channels)
        self.conv_search = _conv_bn(channels, channels)

    def forward(self, z, x):
        k = self.conv_kernel(z[:, :, 2:6, 2:6])
        s = self.conv_search(x)
        b, c, h, w = s.shape
        out = F.conv2d(s.reshape(1, b * c, h, w), k.reshape(b * c, 1, *k.shape[2:]),
                       padding=1, groups=b * c)
        return out.view(b, c, out.shape[-2], out.shape[-1])


def _tower(channels: int = 96, blocks: int = 6):
    layers = []
    for _ in range(blocks):
        layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                   nn.BatchNorm2d(channels), nn.ReLU6(inplace=True),
                   nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


class BanHead(nn.Module):
    """NanoTrack v3's head: (template 8x8, search 16x16 features) -> cls, reg at 15x15."""

    def __init__(self, channels: int = 96):
        super().__init__()
        self.corr_pw_reg = PixelwiseCorrelation(channels)
        self.corr_pw_cls = PixelwiseCorrelation(channels)
        self.corr_dw_reg = DepthwiseCorrelation(channels)
        self.corr_dw_cls = DepthwiseCorrelation(channels)
        self.down_reg = nn.Sequential(nn.Conv2d(channels + 64, channels, 1))
        self.down_cls = nn.Sequential(nn.Conv2d(channels + 64, channels, 1))
        self.cls_tower = _tower(channels)
        self.bbox_tower = _tower(channels)
        self.cls_logits = nn.Sequential(nn.Conv2d(channels, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(channels, 4, 1))

    def forward(self, z, x) -> Tuple[torch.Tensor, torch.Tensor]:
        reg = self.down_reg(torch.cat([self.corr_pw_reg(z, x), self.corr_dw_reg(z, x)], 1))
        cls = self.down_cls(torch.cat([self.corr_pw_cls(z, x), self.corr_dw_cls(z, x)], 1))
        return self.cls_logits(self.cls_tower(cls)), torch.exp(
            self.bbox_pred(self.bbox_tower(reg)))


class BanBoxHead(BanHead):
    """NanoTrack v3's head as a one-stream tracker's box head (``head: ban``).

    Takes the blocks' template (8x8) and search (16x16) tokens at the backbone's width and
    returns the center head's outputs on the 15x15 grid of NanoTrack's points, so the runtime
    decodes both alike: ``score_map`` = foreground softmax; each point's box from its
    left/top/right/bottom distances as ``size_map`` and ``offset_map`` (cx = (column + offset)
    / 15); plus ``cls_logits``, ``ltrb`` (distances / search size) and the ``points``' positions
    (0..1) for training. ``points``: where the 15 points sit along either axis,
    ``ModelConfig.score_positions`` ((j - 7) x 16 px from the crop centre).
    """

    score_size = 15

    def __init__(self, points: Sequence[float], channels: int = 96, search_size: int = 256):
        super().__init__(channels)
        if len(points) != self.score_size:
            raise ValueError(f'the ban head has {self.score_size} points, got {len(points)}')
        self.search_size = search_size
        self.register_buffer('points', torch.tensor(points, dtype=torch.float32),
                             persistent=False)

    def forward(self, z_tokens, x_tokens):
        z = _tokens_to_map(z_tokens, 8)
        x = _tokens_to_map(x_tokens, self.search_size // 16)
        cls, reg = super().forward(z, x)
        ltrb = reg / self.search_size
        n = self.score_size
        px = self.points.to(ltrb.dtype).view(1, 1, n)
        py = self.points.to(ltrb.dtype).view(1, n, 1)
        left, top, right, bottom = ltrb.unbind(1)
        cx = px + (right - left) / 2
        cy = py + (bottom - top) / 2
        grid = torch.arange(n, dtype=ltrb.dtype, device=ltrb.device)
        size_map = torch.stack([left + right, top + bottom], 1)
        offset_map = torch.stack([cx * n - grid.view(1, 1, n), cy * n - grid.view(1, n, 1)], 1)
        score_map = cls.softmax(1)[:, 1:2]
        box, score = decode_center_maps(score_map, size_map, offset_map)
        return {'box': box, 'score': score, 'score_map': score_map, 'size_map': size_map,
                'offset_map': offset_map, 'cls_logits': cls, 'ltrb': ltrb,
                'points': self.points.to(ltrb.dtype)}

    def read(self, tokens, nz: int, nx: int):
        """Apply the head to its parts of a joint token sequence: template and search."""
        return self(tokens[:, :nz], tokens[:, nz:nz + nx])

    def load_pretrained(self, path=None) -> int:
        """Load NanoTrack v3's published head weights; return how many tensors."""
        return load_nanotrack_v3_head(self, path)


def _tokens_to_map(tokens, side: int):
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], side, side)


class NanoTrackV3(nn.Module):
    """The whole NanoTrack v3 tracker network (template 127 px, search 255 px, BGR 0..255)."""

    template_size = 127
    search_size = 255
    score_size = 15
    stride = 16

    def __init__(self):
        super().__init__()
        self.backbone = MobileNetV3SmallFeatures()
        self.ban_head = BanHead()

    def forward(self, z, x) -> Dict[str, torch.Tensor]:
        """(B, 3, 127, 127), (B, 3, 255, 255) -> {'cls': (B, 2, 15, 15), 'reg': (B, 4, ...)}."""
        cls, reg = self.ban_head(self.backbone(z), self.backbone(x))
        return {'cls': cls, 'reg': reg}


# ---------------------------------------------------------------- weights
def find_nanotrack_v3_weights() -> Optional[pathlib.Path]:
    """$TRACK_NANOTRACK_V3, else models/nanotrack_v3.safetensors of this repository (shipped)."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return pathlib.Path(env)
    roots = [os.environ.get('TRACK_CORE_ROOT'), pathlib.Path(__file__).resolve().parents[3]]
    for root in roots:
        if root and (pathlib.Path(root) / 'models' / WEIGHTS_NAME).is_file():
            return pathlib.Path(root) / 'models' / WEIGHTS_NAME
    return None


def read_nanotrack_v3_weights(path=None) -> Dict[str, torch.Tensor]:
    """Return the tensors of a converted NanoTrack v3 file (safetensors: no pickle)."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    path = pathlib.Path(path) if path else find_nanotrack_v3_weights()
    if path is None or not path.is_file():
        raise CheckpointError(
            f'NanoTrack v3 weights not found ({path or WEIGHTS_NAME + " not in models/"}); '
            f'convert nanotrackv3.pth with `track-import nanotrack-v3` or set {WEIGHTS_ENV}')
    try:
        with safe_open(str(path), 'pt') as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise CheckpointError(f'{path}: not a safetensors file ({exc})') from None
    if meta.get('format') != WEIGHTS_FORMAT:
        raise CheckpointError(f'{path}: not a NanoTrack v3 weights file (format '
                              f'{meta.get("format")!r}, expected {WEIGHTS_FORMAT!r})')
    return state


def load_nanotrack_v3(path=None) -> NanoTrackV3:
    """Return the whole NanoTrack v3 network with its converted weights (eval mode)."""
    model = NanoTrackV3()
    try:
        model.load_state_dict(read_nanotrack_v3_weights(path))
    except RuntimeError as exc:
        raise CheckpointError(f'{path}: weights do not match NanoTrack v3 ({exc})') from None
    return model.eval()


def _load_part(module: nn.Module, prefix: str, what: str, path=None) -> int:
    state = {k[len(prefix):]: v for k, v in read_nanotrack_v3_weights(path).items()
             if k.startswith(prefix)}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f'{path}: {what} weights do not match ({exc})') from None
    return len(state)


def load_nanotrack_v3_head(head: BanHead, path=None) -> int:
    """Load NanoTrack v3's head into ``head`` (a BanHead); return how many tensors."""
    return _load_part(head, 'ban_head.', 'head', path)


def load_nanotrack_v3_backbone(backbone: MobileNetV3SmallFeatures, path=None) -> int:
    """Load the tracking-trained backbone into ``backbone``; return how many tensors."""
    return _load_part(backbone, 'backbone.', 'backbone', path)
