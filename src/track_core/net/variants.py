"""Named model variants: teachers and students are entries here, not separate files."""

import dataclasses
from typing import Callable, Dict, Union

from track_core.net.config import ModelConfig, STEM_KINDS
from track_core.net.network import OneStreamTracker

_REGISTRY: Dict[str, Callable[[], ModelConfig]] = {}


def register(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
    _REGISTRY[fn.__name__] = fn
    return fn


def list_variants():
    return sorted(_REGISTRY)


def variant_config(name: str, **changes) -> ModelConfig:
    if name not in _REGISTRY:
        raise KeyError(f'unknown model variant {name!r}; known: {", ".join(list_variants())}')
    return dataclasses.replace(_REGISTRY[name](), **changes)


def create_model(spec: Union[str, ModelConfig], pretrained_stem: bool = False,
                 **changes) -> OneStreamTracker:
    """Build a network from a variant name or a ModelConfig.

    ``pretrained_stem`` loads ImageNet MobileNetV2 weights into a 'mobilenetv2' stem, or NanoTrack
    v3's tracking-trained backbone into a 'nanotrack_v3' stem (and its head into a 'ban' head).
    """
    cfg = variant_config(spec, **changes) if isinstance(spec, str) else \
        dataclasses.replace(spec, **changes)
    model = OneStreamTracker(cfg)
    if pretrained_stem:
        if not cfg.stem_kind.pretrained:
            have = ', '.join(k for k, v in STEM_KINDS.items() if v.pretrained)
            raise ValueError(f'pretrained_stem needs a stem with published weights ({have}); '
                             f'{cfg.name} has {cfg.stem!r}')
        model.stem.load_pretrained()
        if cfg.head_kind.pretrained:
            model.box_head.load_pretrained()
    return model


# ---------------------------------------------------------------- OSTrack geometry (ViT-B/16)
@register
def ostrack_vitb_256():
    """OSTrack-256: ViT-B/16, 12 layers, center head, template 128 / search 256."""
    return ModelConfig(name='ostrack_vitb_256')


@register
def ct4_vitb_256():
    """CompressTracker-4 student of OSTrack-256: 4 ViT-B layers, same head and crops."""
    return ModelConfig(name='ct4_vitb_256', depth=4)


@register
def ct2_vitb_256():
    """CompressTracker-2 student of OSTrack-256."""
    return ModelConfig(name='ct2_vitb_256', depth=2)


@register
def mfv2_s_224():
    """MixFormerV2-S geometry: 4 ViT-B layers, MLP ratio 1, token head, 112 / 224 crops."""
    return ModelConfig(name='mfv2_s_224', depth=4, mlp_ratio=1.0, attention='asymmetric',
                       head='token', template_size=112, search_size=224)


# ---------------------------------------------------------------- CPU-sized family
@register
def mnv2_t8_256():
    """Teacher trainable on a CPU: ImageNet MobileNetV2 stem + 8 blocks of width 256."""
    return ModelConfig(name='mnv2_t8_256', stem='mobilenetv2', embed_dim=256, depth=8,
                       num_heads=4, mlp_ratio=4.0, head_channels=128)


@register
def mnv2_t12_256():
    """Deeper CPU teacher: ImageNet MobileNetV2 stem + 12 blocks of width 256."""
    return dataclasses.replace(mnv2_t8_256(), name='mnv2_t12_256', depth=12)


@register
def mnv2_s3_256():
    """3-block student of mnv2_t12_256 (CompressTracker-3: stages of 4 layers)."""
    return dataclasses.replace(mnv2_t8_256(), name='mnv2_s3_256', depth=3)


@register
def mnv2_s4_256():
    """4-block student of mnv2_t8_256."""
    return dataclasses.replace(mnv2_t8_256(), name='mnv2_s4_256', depth=4)


@register
def mnv2_s2_256():
    """2-block student of mnv2_t8_256."""
    return dataclasses.replace(mnv2_t8_256(), name='mnv2_s2_256', depth=2)


@register
def vit_s8_256():
    """Small ViT teacher (width 384, 8 layers) for machines with time to train one."""
    return ModelConfig(name='vit_s8_256', embed_dim=384, depth=8, num_heads=6,
                       head_channels=128)


@register
def vit_s4_256():
    """4-layer student of vit_s8_256."""
    return dataclasses.replace(vit_s8_256(), name='vit_s4_256', depth=4)


# ---------------------------------------------------------------- NanoTrack v3 stem
@register
def nt3_t8_256():
    """Teacher on NanoTrack v3's tracking-trained stem: width 256, 8 blocks, center head."""
    return ModelConfig(name='nt3_t8_256', stem='nanotrack_v3', embed_dim=256, depth=8,
                       num_heads=8, mlp_ratio=2.0, head_channels=128)


@register
def nt3_s4_256():
    """4-block student of nt3_t8_256."""
    return dataclasses.replace(nt3_t8_256(), name='nt3_s4_256', depth=4)


@register
def nt3_s2_256():
    """2-block student of nt3_t8_256."""
    return dataclasses.replace(nt3_t8_256(), name='nt3_s2_256', depth=2)


@register
def nt3_s2_128():
    """2-block, half-width student (trained with projections to the teacher's width)."""
    return dataclasses.replace(nt3_t8_256(), name='nt3_s2_128', depth=2, embed_dim=128,
                               num_heads=4, head_channels=64)


@register
def nt3_ban2():
    """Return NanoTrack v3 with 2 joint-attention blocks between backbone and head (width 96).

    The blocks start as the identity (zero residual branches), so the untrained model tracks
    exactly as NanoTrack v3; crops use NanoTrack's padded context (``stem_preprocess``).
    """
    return ModelConfig(name='nt3_ban2', stem='nanotrack_v3', embed_dim=96, depth=2,
                       num_heads=4, mlp_ratio=2.0, head='ban')


@register
def nt3_ban4():
    """As nt3_ban2 with 4 blocks (a teacher for depth pruning to nt3_ban2)."""
    return dataclasses.replace(nt3_ban2(), name='nt3_ban4', depth=4)


# ---------------------------------------------------------------- VitTrack (OpenCV Model Zoo)
@register
def vittrack():
    """Return VitTrack's layout: two conv stems, 3 joint blocks of width 48 (1 head), center head.

    The pretrained weights come from ``track-import vittrack`` (its published ONNX graph).
    """
    return ModelConfig(name='vittrack', stem='vittrack', embed_dim=48, depth=3, num_heads=1,
                       mlp_ratio=4.0, head='vit_center', head_channels=32, norm_eps=1e-5)


@register
def vittrack_s2():
    """2-block student of VitTrack (depth pruning or CompressTracker stages 0 | 1-2)."""
    return dataclasses.replace(vittrack(), name='vittrack_s2', depth=2)


@register
def vittrack_t2():
    """2-block VitTrack student with MixFormerV2's prediction tokens instead of the towers."""
    return dataclasses.replace(vittrack(), name='vittrack_t2', depth=2, head='token')


# ---------------------------------------------------------------- tests
@register
def tiny():
    """Test-sized: width 32, 4 blocks, 32 / 64 crops, center head."""
    return ModelConfig(name='tiny', embed_dim=32, depth=4, num_heads=2, mlp_ratio=2.0,
                       head_channels=16, template_size=32, search_size=64)


@register
def tiny_token():
    """Test-sized with asymmetric attention and the token head."""
    return dataclasses.replace(tiny(), name='tiny_token', attention='asymmetric', head='token',
                               num_bins=16)


@register
def tiny_mnv2():
    """Test-sized with the MobileNetV2 stem (cut at 11 blocks)."""
    return dataclasses.replace(tiny(), name='tiny_mnv2', stem='mobilenetv2', mnv2_blocks=11,
                               depth=2)


@register
def tiny_nt3():
    """Test-sized with the NanoTrack v3 stem."""
    return dataclasses.replace(tiny(), name='tiny_nt3', stem='nanotrack_v3', depth=2)
