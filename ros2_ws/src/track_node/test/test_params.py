"""Parameter validation and the mapping to the core config (no node needed)."""

import pytest

from track_node import params


def values(**changes):
    out = {name: default for name, (default, _, _) in params.PARAMETERS.items()}
    out.update(changes)
    return out


def test_defaults_are_valid_and_map_to_the_tracker_config():
    s = params.settings_from_values(values(lost_frames=9))
    assert s.tracker.lost_frames == 9 and s.backend == 'onnx'
    assert s.model_path.endswith('default.safetensors')


@pytest.mark.parametrize('change, words', [
    ({'backend': 'tflite'}, 'backend must be'),
    ({'device': 'gpu0'}, 'device'),
    ({'lost_frames': 0}, 'lost_frames'),
    ({'lost_threshold': 1.5}, 'lost_threshold'),
    ({'frame_cache_size': 0}, 'frame_cache_size'),
    ({'class_id': ''}, 'class_id'),
])
def test_invalid_values_are_rejected_with_the_reason(change, words):
    with pytest.raises(ValueError, match=words):
        params.settings_from_values(values(**change))


def test_run_time_changes():
    s = params.settings_from_values(values())
    s2 = params.apply_changes(s, {'lost_threshold': 0.1, 'class_id': 'dog'}, configured=True)
    assert s2.tracker.lost_threshold == 0.1 and s2.class_id == 'dog'
    with pytest.raises(ValueError, match='takes effect on configure'):
        params.apply_changes(s, {'backend': 'torch'}, configured=True)
    with pytest.raises(ValueError, match='recover_threshold'):
        params.apply_changes(s, {'recover_threshold': -1.0}, configured=True)
    assert params.apply_changes(s, {'backend': 'torch'}, configured=False).backend == 'torch'
