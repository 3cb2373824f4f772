"""Tracker networks: configs, blocks, stems, heads, the one-stream network, named variants."""

from track_core.net.config import ModelConfig, PreprocessConfig
from track_core.net.network import OneStreamTracker
from track_core.net.variants import create_model, list_variants, variant_config

__all__ = ['ModelConfig', 'PreprocessConfig', 'OneStreamTracker', 'create_model',
           'list_variants', 'variant_config']
