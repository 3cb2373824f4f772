"""The model configuration: everything needed to rebuild a network's shapes."""

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

# Every token stem reduces the image by 16: one token per 16x16 pixels.
STRIDE = 16
CONTEXTS = ('area', 'padded')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class HeadKind:
    """What the rest of the code knows of a box head, chosen once by ``ModelConfig.head``.

    score_map: it predicts score / size / offset maps that the runtime decodes with a motion
    window (False: its prediction tokens give the box and score directly).
    prediction_tokens: learnt tokens appended after the search tokens (MixFormerV2's four).
    final_norm: a LayerNorm between the blocks and the head.
    stem_projection: the stem projects its features to ``embed_dim`` (False: the head reads
    the stem's own channels, as NanoTrack v3's head does).
    nanotrack_points: its score map sits on NanoTrack's 15 x 15 points, not the search cells.
    pretrained: published weights exist (``pretrained_stem`` loads them; training keeps their
    BatchNorm statistics).
    shapes: (stem, embed_dim, template_size, search_size) it needs, if fixed.
    batch_norm: its convolution towers have BatchNorm (False: VitTrack's, where it was folded
    into the convolutions before publication).
    """

    name: str
    score_map: bool = True
    prediction_tokens: int = 0
    final_norm: bool = True
    stem_projection: bool = True
    nanotrack_points: bool = False
    pretrained: bool = False
    shapes: Optional[Tuple[str, int, int, int]] = None
    batch_norm: bool = True


@dataclass(frozen=True)
class StemKind:
    """What the rest of the code knows of a token stem, chosen once by ``ModelConfig.stem``.

    pretrained: published weights exist (``pretrained_stem`` loads them).
    pixels: the input convention it was trained on, 'imagenet' (RGB, ImageNet mean/std),
    'bgr255' (BGR pixels in 0..255, NanoTrack's) or 'bgr_imagenet' (BGR channels normalised by
    the ImageNet mean/std in RGB's order: what OpenCV's TrackerVit feeds VitTrack).
    separate_template: template and search crops go through two stems with their own weights
    (VitTrack's); the stem is then called as ``stem(image, template)``.
    """

    name: str
    pretrained: bool = False
    pixels: str = 'imagenet'
    separate_template: bool = False


HEAD_KINDS: Dict[str, HeadKind] = {k.name: k for k in (
    HeadKind('center'),
    HeadKind('token', score_map=False, prediction_tokens=4),
    HeadKind('ban', final_norm=False, stem_projection=False, nanotrack_points=True,
             pretrained=True, shapes=('nanotrack_v3', 96, 128, 256)),
    HeadKind('vit_center', batch_norm=False),
)}
STEM_KINDS: Dict[str, StemKind] = {k.name: k for k in (
    StemKind('patch'),
    StemKind('mobilenetv2', pretrained=True),
    StemKind('nanotrack_v3', pretrained=True, pixels='bgr255'),
    StemKind('vittrack', pixels='bgr_imagenet', separate_template=True),
)}
HEADS = tuple(HEAD_KINDS)
SCORE_HEADS = ('', 'query')
STEMS = tuple(STEM_KINDS)


@dataclass(frozen=True)
class ModelConfig:
    """Shapes of a one-stream tracker. Stored in every checkpoint.

    stem: 'patch' (ViT patch embedding), 'mobilenetv2' (ImageNet MobileNetV2 cut at stride 16,
    then a 1x1 projection to ``embed_dim``) or 'nanotrack_v3' (NanoTrack v3's tracking-trained
    MobileNetV3-small backbone, 96 channels at stride 16, then the projection; it takes BGR
    pixels in 0..255: ``stem_preprocess``) or 'vittrack' (VitTrack's two conv stems, one for
    the template and one for the search crop, four stride-2 3x3 convolutions with hard-swish
    between them, straight to ``embed_dim``).
    attention: 'joint' (OSTrack: all tokens attend to all) or 'asymmetric' (MixFormerV2:
    template tokens attend only to template tokens, so they can be computed once).
    head: 'center' (OSTrack score/size/offset maps), 'token' (MixFormerV2 prediction tokens) or
    'ban' (NanoTrack v3's correlation head on the blocks' template and search maps; needs the
    'nanotrack_v3' stem at its own width, 96, and 128 / 256 crops; the blocks' residual
    branches and position embeddings start at zero, so an untrained model is NanoTrack v3), or
    'vit_center' (the center head without BatchNorm: VitTrack's, ``head_channels`` 32).
    score_head: '' (the box head's peak score is the confidence) or 'query' (a separate
    ``ScoreHead`` gives the confidence, trained with the rest frozen: ``track-train score``).
    norm_eps: the LayerNorms' epsilon (1e-6 as in OSTrack; VitTrack's are 1e-5).
    """

    name: str = 'custom'
    stem: str = 'patch'
    mnv2_blocks: int = 14
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    attention: str = 'joint'
    head: str = 'center'
    head_channels: int = 256
    num_bins: int = 48
    drop_path: float = 0.0
    template_size: int = 128
    search_size: int = 256
    score_head: str = ''
    norm_eps: float = 1e-6

    def __post_init__(self):
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {', '.join(STEMS)}, got {self.stem!r}")
        if self.attention not in ('joint', 'asymmetric'):
            raise ValueError(f"attention must be 'joint' or 'asymmetric', got {self.attention!r}")
        if self.score_head not in SCORE_HEADS:
            raise ValueError(f"score_head must be one of {', '.join(map(repr, SCORE_HEADS))}, "
                             f'got {self.score_head!r}')
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        need = self.head_kind.shapes
        if need and (self.stem, self.embed_dim, self.template_size, self.search_size) != need:
            raise ValueError(f'head {self.head!r} needs stem {need[0]!r}, embed_dim {need[1]}, '
                             f'template_size {need[2]} and search_size {need[3]} (the shapes '
                             f'it was published with), got {self.stem!r}, {self.embed_dim}, '
                             f'{self.template_size}, {self.search_size}')
        if self.embed_dim % self.num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by '
                             f'num_heads {self.num_heads}')
        for name in ('template_size', 'search_size'):
            size = getattr(self, name)
            if size <= 0 or size % STRIDE:
                raise ValueError(f'{name} must be a positive multiple of {STRIDE}, got {size}')
        if self.depth < 1:
            raise ValueError(f'depth must be >= 1, got {self.depth}')
        if not 0 < self.norm_eps < 1:
            raise ValueError(f'norm_eps must be in (0, 1), got {self.norm_eps}')
        if self.stem == 'mobilenetv2' and not 11 <= self.mnv2_blocks <= 14:
            raise ValueError('mnv2_blocks must be 11..14 (the stride-16 part of MobileNetV2), '
                             f'got {self.mnv2_blocks}')

    @property
    def head_kind(self) -> HeadKind:
        return HEAD_KINDS[self.head]

    @property
    def stem_kind(self) -> StemKind:
        return STEM_KINDS[self.stem]

    @property
    def template_feat(self) -> int:
        return self.template_size // STRIDE

    @property
    def search_feat(self) -> int:
        return self.search_size // STRIDE

    @property
    def score_feat(self) -> int:
        """Side of the score map: the search grid, or 15 on NanoTrack's points (2x2 corr.)."""
        return self.search_feat - 1 if self.head_kind.nanotrack_points else self.search_feat

    def score_positions(self) -> List[float]:
        """Positions (0..1 of the search crop) of the score map's cells along either axis.

        Cell centres (j + 0.5) / F, or NanoTrack's points, (j - 7) x 16 px from the crop centre.
        """
        if self.head_kind.nanotrack_points:
            return [(j + 1) * STRIDE / self.search_size for j in range(self.score_feat)]
        return [(j + 0.5) / self.score_feat for j in range(self.score_feat)]

    @property
    def num_template_tokens(self) -> int:
        return self.template_feat ** 2

    @property
    def num_search_tokens(self) -> int:
        return self.search_feat ** 2


@dataclass(frozen=True)
class PreprocessConfig:
    """How crops are cut and normalised. Stored in every checkpoint next to ModelConfig.

    context: how a crop's side follows the target's w x h: 'area' (OSTrack: sqrt(w h) x factor)
    or 'padded' (SiamRPN/NanoTrack: sqrt((w + p)(h + p)) x factor / 2, p = (w + h) / 2; the
    same side for a square target, more context around a long thin one).
    """

    template_factor: float = 2.0
    search_factor: float = 4.0
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    channel_order: str = 'rgb'
    context: str = 'area'

    def __post_init__(self):
        if self.template_factor <= 0 or self.search_factor <= 0:
            raise ValueError('crop context factors must be positive')
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError('mean and std need three values, std positive')
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if self.channel_order not in ('rgb', 'bgr'):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")


def stem_preprocess(model: ModelConfig, preprocess: PreprocessConfig) -> PreprocessConfig:
    """Return ``preprocess`` with the pixel convention a pretrained stem was trained on.

    The NanoTrack v3 backbone takes BGR pixels in 0..255 (mean 0, std 1/255); the crop
    factors are kept, except with NanoTrack's own head ('ban'), which was trained on its
    crops: padded context, template factor 2 and search factor 4 (127 / 255 px in NanoTrack,
    the same pixels per crop pixel at 128 / 256). The VitTrack stems take BGR channels with
    the ImageNet mean / std in RGB's order (OpenCV's TrackerVit). Other stems keep
    ``preprocess`` as it is.
    """
    if model.stem_kind.pixels == 'bgr_imagenet':
        return replace(preprocess, mean=IMAGENET_MEAN, std=IMAGENET_STD, channel_order='bgr')
    if model.stem_kind.pixels != 'bgr255':
        return preprocess
    pre = replace(preprocess, mean=(0.0, 0.0, 0.0), std=(1 / 255.0,) * 3, channel_order='bgr')
    if model.head_kind.nanotrack_points:       # NanoTrack's own head: its own crops
        pre = replace(pre, context='padded', template_factor=2.0, search_factor=4.0)
    return pre
