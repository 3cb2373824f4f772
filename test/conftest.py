import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _onnx_cache(tmp_path, monkeypatch):
    # Exported graphs go to a per-test cache, never the user's home.
    monkeypatch.setenv('TRACK_CORE_CACHE', str(tmp_path / 'cache'))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def make_frame(rng):
    """Return a factory of noisy uint8 RGB frames (240 x 320 unless told)."""
    def factory(height=240, width=320):
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return factory
