"""The parameter table: validation, the mapping to the core config, descriptors (no node)."""

import math

import pytest

from track_core.runtime import TrackerConfig
from track_node import params


def values(**changes):
    out = {p.name: p.default for p in params.TRACK_NODE}
    out.update(changes)
    return out


def test_defaults_are_valid_and_map_to_the_tracker_config():
    s = params.validate(values(lost_frames=9))
    assert s.tracker(TrackerConfig()).lost_frames == 9 and s.backend == 'onnx'
    assert s.model_path.endswith('default.safetensors')
    unset = params.validate({'lost_frames': None, 'window_blend': 0.25})
    own = TrackerConfig(lost_frames=4, window_blend=0.5, size_smoothing=0.7)
    assert unset.tracker_given == {'window_blend': 0.25}
    assert unset.tracker(own) == TrackerConfig(lost_frames=4, window_blend=0.25,
                                               size_smoothing=0.7)


@pytest.mark.parametrize('change, words', [
    ({'backend': 'tflite'}, 'backend must be one of'),
    ({'device': 'gpu0'}, 'device'),
    ({'lost_frames': 0}, 'lost_frames'),
    ({'lost_threshold': 1.5}, 'lost_threshold'),
    ({'frame_cache_size': 0}, 'frame_cache_size'),
    ({'class_id': ''}, 'class_id'),
    ({'max_search_scale': math.inf}, 'max_search_scale'),
    ({'search_growth': 1e300}, 'search_growth'),
    ({'max_frame_age': math.nan}, 'max_frame_age'),
    ({'threads': 2.5}, 'threads must be an integer'),
    ({'debug_image': 1}, 'debug_image must be true or false'),
    ({'model_path': 3}, 'model_path must be a string'),
    ({'lost_treshold': 0.2}, "unknown parameter 'lost_treshold'"),
])
def test_invalid_values_are_rejected_with_the_reason(change, words):
    with pytest.raises(ValueError, match=words):
        params.validate(values(**change))


def test_integers_are_accepted_for_floats():
    s = params.validate(values(lost_threshold=0, max_frame_age=2))
    assert s.tracker_given['lost_threshold'] == 0.0 and isinstance(s.max_frame_age, float)


def test_every_numeric_parameter_has_finite_bounds():
    for table in params.TABLES.values():
        for p in table:
            if p.kind in (int, float):
                assert p.limits is not None, p.name
                assert all(math.isfinite(v) for v in p.limits), p.name
                assert p.limits[0] <= p.default <= p.limits[1], p.name


def test_descriptors_carry_type_range_and_read_only():
    ParameterType = pytest.importorskip('rcl_interfaces.msg').ParameterType
    rows = params.table('track_node')
    d = params.descriptor(rows['max_search_scale'])
    assert d.type == ParameterType.PARAMETER_DOUBLE
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == \
        (1.0, 8.0)
    d = params.descriptor(rows['lost_frames'])
    assert d.integer_range[0].to_value == 10_000 and not d.read_only
    assert params.descriptor(rows['autostart']).read_only
    assert 'onnx' in params.descriptor(rows['backend']).additional_constraints


def test_run_time_changes():
    s = params.validate(values())
    s2 = params.apply_changes(s, {'lost_threshold': 0.1, 'class_id': 'dog'}, configured=True)
    assert s2.tracker_given['lost_threshold'] == 0.1 and s2.class_id == 'dog'
    with pytest.raises(ValueError, match='takes effect on configure'):
        params.apply_changes(s, {'backend': 'torch'}, configured=True)
    with pytest.raises(ValueError, match='start-up'):
        params.apply_changes(s, {'autostart': False}, configured=False)
    with pytest.raises(ValueError, match='recover_threshold'):
        params.apply_changes(s, {'recover_threshold': -1.0}, configured=True)
    assert params.apply_changes(s, {'backend': 'torch'}, configured=False).backend == 'torch'


def test_settings_are_read_only():
    s = params.validate(values())
    with pytest.raises(AttributeError):
        s.backend = 'torch'


def test_the_node_reference_is_generated_from_the_tables():
    import pathlib
    from track_node import interface
    page = pathlib.Path(__file__).resolve().parents[4] / 'docs' / 'node.md'
    text = page.read_text()
    assert text == interface.render_docs(text), \
        'regenerate: python -m track_node.interface docs/node.md'
    for name in interface.SECTIONS:
        assert f'<!-- generated: {name} -->' in text, name
    for p in params.TRACK_NODE + params.IMAGE_SOURCE:
        assert f'| `{p.name}` |' in text, p.name
