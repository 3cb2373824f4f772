import json
import pickle

import pytest
from safetensors.torch import save_file
import torch

from track_core.checkpoint import load_model, read_checkpoint, save_checkpoint
from track_core.errors import CheckpointError
from track_core.importers.ostrack import import_ostrack
from track_core.net import create_model, PreprocessConfig


@pytest.fixture
def saved(tmp_path):
    model = create_model('tiny').eval()
    pre = PreprocessConfig(template_factor=2.5, search_factor=4.5)
    path = save_checkpoint(tmp_path / 'tiny.safetensors', model, pre, extra={'step': 3})
    return model, pre, path


def test_round_trip_restores_config_preprocess_and_outputs(saved):
    model, pre, path = saved
    cfg, pre2, state, extra = read_checkpoint(path)
    assert cfg == model.cfg and pre2 == pre and extra == {'step': 3}
    loaded, pre3 = load_model(path)
    z = torch.randn(1, 3, 32, 32)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(z, x)['score_map'], loaded(z, x)['score_map'])
    assert pre3.search_factor == 4.5


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match='nope.safetensors: model file not found'):
        load_model(tmp_path / 'nope.safetensors')


def test_truncated_file(saved, tmp_path):
    _, _, path = saved
    data = path.read_bytes()
    for cut, words in ((4, 'truncated'), (len(data) // 2, 'corrupt weights|truncated')):
        bad = tmp_path / f'cut{cut}.safetensors'
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=words) as info:
            load_model(bad)
        assert str(bad) in str(info.value)


def test_garbage_file(tmp_path):
    bad = tmp_path / 'garbage.safetensors'
    bad.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{not json at all')
    with pytest.raises(CheckpointError, match='corrupt safetensors header'):
        load_model(bad)


def test_plain_safetensors_is_not_a_tracker(tmp_path):
    path = tmp_path / 'plain.safetensors'
    save_file({'w': torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match='not a track_core tracker checkpoint'):
        load_model(path)


def test_newer_format_version(tmp_path):
    model = create_model('tiny')
    path = tmp_path / 'future.safetensors'
    meta = {'format': 'track_core.tracker', 'format_version': '99',
            'model_config': json.dumps({'name': 'tiny'}), 'preprocess': '{}'}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), meta)
    with pytest.raises(CheckpointError, match='newer than this track_core'):
        load_model(path)


def test_weights_that_do_not_match_the_config(tmp_path):
    big = create_model('tiny')
    small = create_model('tiny', depth=2)
    path = save_checkpoint(tmp_path / 'm.safetensors', small)
    # Put a depth-2 state dict under a depth-4 config.
    meta_cfg = json.dumps({**json.loads(json.dumps(big.cfg.__dict__))})
    state = {k: v.contiguous() for k, v in small.state_dict().items()}
    save_file(state, str(path), {'format': 'track_core.tracker', 'format_version': '1',
                                 'model_config': meta_cfg, 'preprocess': '{}'})
    with pytest.raises(CheckpointError, match=r'missing \d+ key\(s\): blocks\.2'):
        load_model(path)


def test_bad_model_config_in_metadata(tmp_path):
    model = create_model('tiny')
    path = tmp_path / 'badcfg.safetensors'
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              {'format': 'track_core.tracker', 'format_version': '1',
               'model_config': json.dumps({'name': 'x', 'head': 'mystery'}),
               'preprocess': '{}'})
    with pytest.raises(CheckpointError, match='bad config in metadata.*head must be'):
        load_model(path)


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ('touch /tmp/track_core_pwned',))


def test_pickled_code_is_never_executed(tmp_path):
    marker = '/tmp/track_core_pwned'
    import os
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / 'evil.pth.tar'
    with open(path, 'wb') as f:
        pickle.dump({'net': _Exploit()}, f)
    with pytest.raises(CheckpointError, match='weights-only'):
        import_ostrack(path, variant='tiny')
    assert not os.path.exists(marker)


def test_half_precision_file_loads_into_a_float32_model(tmp_path):
    model = create_model('tiny').eval()
    full = save_checkpoint(tmp_path / 'full.safetensors', model)
    half = save_checkpoint(tmp_path / 'half.safetensors', model, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, _ = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    z, x = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = model(z, x)['score_map'], loaded(z, x)['score_map']
    assert torch.allclose(a, b, atol=2e-3) and not torch.equal(a, b)


def _interpolate_script():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'interpolate_weights.py'
    spec = importlib.util.spec_from_file_location('interpolate_weights', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_checkpoints_of_one_network_mix_weight_by_weight(tmp_path):
    script = _interpolate_script()
    torch.manual_seed(0)
    a = create_model('tiny', score_head='query').eval()
    b = create_model('tiny', score_head='query').eval()
    pa = save_checkpoint(tmp_path / 'a.safetensors', a, extra={'runtime': {'lost_frames': 4}})
    pb = save_checkpoint(tmp_path / 'b.safetensors', b)
    sa, sb = a.state_dict(), b.state_dict()
    key = next(k for k, v in sa.items() if v.is_floating_point() and not torch.equal(v, sb[k])
               and not k.startswith('score_head.'))
    head = next(k for k, v in sa.items() if k.startswith('score_head.') and
                v.is_floating_point() and not torch.equal(v, sb[k]))
    out = tmp_path / 'mix.safetensors'
    assert script.main([str(pa), str(pb), '--alpha', '0.25', '--out', str(out)]) == 0
    mixed, _ = load_model(out)
    got = mixed.state_dict()
    assert torch.allclose(got[key], 0.75 * sa[key] + 0.25 * sb[key])
    assert torch.allclose(got[head], 0.75 * sa[head] + 0.25 * sb[head])
    assert read_checkpoint(out)[3] == {'runtime': {'lost_frames': 4}}       # A's settings
    # a score head taken whole from one end, the tracker still mixed
    script.interpolate(pa, pb, 0.25, out, score_head='b')
    got = load_model(out)[0].state_dict()
    assert torch.equal(got[head], sb[head])
    assert torch.allclose(got[key], 0.75 * sa[key] + 0.25 * sb[key])


def test_checkpoints_of_different_networks_do_not_mix(tmp_path, capsys):
    script = _interpolate_script()
    pa = save_checkpoint(tmp_path / 'a.safetensors', create_model('tiny'))
    pb = save_checkpoint(tmp_path / 'b.safetensors', create_model('tiny', score_head='query'))
    out = tmp_path / 'mix.safetensors'
    assert script.main([str(pa), str(pb), '--out', str(out)]) == 2
    assert 'different networks' in capsys.readouterr().err and not out.exists()
    assert script.main([str(pa), str(pa), '--alpha', '1.5', '--out', str(out)]) == 2
    assert script.main([str(pa), str(tmp_path / 'none.safetensors'), '--out', str(out)]) == 2
