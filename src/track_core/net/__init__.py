"""Tracker networks: configs, blocks, stems, heads, the one-stream network, named variants.

The bottom of the core: imports nothing of it but ``errors``. Stems and heads are chosen once
by name (``network.STEMS`` / ``HEADS``); ``config.StemKind`` / ``HeadKind`` tell everyone else
what they need to know about them.
"""

from track_core.net.config import ModelConfig, PreprocessConfig
from track_core.net.network import OneStreamTracker
from track_core.net.variants import create_model, list_variants, variant_config

__all__ = ['ModelConfig', 'PreprocessConfig', 'OneStreamTracker', 'create_model',
           'list_variants', 'variant_config']
