"""The model configuration: everything needed to rebuild a network's shapes."""

from dataclasses import dataclass

# Both token stems reduce the image by 16: one token per 16x16 pixels.
STRIDE = 16


@dataclass(frozen=True)
class ModelConfig:
    """Shapes of a one-stream tracker. Stored in every checkpoint.

    stem: 'patch' (ViT patch embedding) or 'mobilenetv2' (ImageNet MobileNetV2 cut at
    stride 16, then a 1x1 projection to ``embed_dim``).
    attention: 'joint' (OSTrack: all tokens attend to all) or 'asymmetric' (MixFormerV2:
    template tokens attend only to template tokens, so they can be computed once).
    head: 'center' (OSTrack score/size/offset maps) or 'token' (MixFormerV2 prediction tokens).
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

    def __post_init__(self):
        if self.stem not in ('patch', 'mobilenetv2'):
            raise ValueError(f"stem must be 'patch' or 'mobilenetv2', got {self.stem!r}")
        if self.attention not in ('joint', 'asymmetric'):
            raise ValueError(f"attention must be 'joint' or 'asymmetric', got {self.attention!r}")
        if self.head not in ('center', 'token'):
            raise ValueError(f"head must be 'center' or 'token', got {self.head!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by '
                             f'num_heads {self.num_heads}')
        for name in ('template_size', 'search_size'):
            size = getattr(self, name)
            if size <= 0 or size % STRIDE:
                raise ValueError(f'{name} must be a positive multiple of {STRIDE}, got {size}')
        if self.depth < 1:
            raise ValueError(f'depth must be >= 1, got {self.depth}')
        if self.stem == 'mobilenetv2' and not 11 <= self.mnv2_blocks <= 14:
            raise ValueError('mnv2_blocks must be 11..14 (the stride-16 part of MobileNetV2), '
                             f'got {self.mnv2_blocks}')

    @property
    def template_feat(self) -> int:
        return self.template_size // STRIDE

    @property
    def search_feat(self) -> int:
        return self.search_size // STRIDE

    @property
    def num_template_tokens(self) -> int:
        return self.template_feat ** 2

    @property
    def num_search_tokens(self) -> int:
        return self.search_feat ** 2


@dataclass(frozen=True)
class PreprocessConfig:
    """How crops are cut and normalised. Stored in every checkpoint next to ModelConfig."""

    template_factor: float = 2.0
    search_factor: float = 4.0
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    channel_order: str = 'rgb'

    def __post_init__(self):
        if self.template_factor <= 0 or self.search_factor <= 0:
            raise ValueError('crop context factors must be positive')
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError('mean and std need three values, std positive')
        if self.channel_order not in ('rgb', 'bgr'):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")
