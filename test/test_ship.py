"""scripts/ship_models.py --settings-only: new run-time settings, the shipped weights unchanged."""

import importlib.util
import pathlib

import torch

from track_core.checkpoint import read_checkpoint, save_checkpoint
from track_core.net import create_model
from track_core.runtime import model_runtime

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'ship_models.py'


def test_settings_only_keeps_the_weights_and_changes_the_settings(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location('ship_models', SCRIPT)
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    torch.manual_seed(0)
    shipped = save_checkpoint(tmp_path / 'models' / 'default.safetensors',
                              create_model('tiny').eval(), extra={'shipped_from': 'runs/a'})
    (tmp_path / 'config').mkdir()
    (tmp_path / 'config' / 'rt.yaml').write_text('lost_frames: 7\nabsent_threshold: 0.2\n')
    monkeypatch.setattr(ship, 'ROOT', tmp_path)
    monkeypatch.setattr(ship, 'SHIP', [('runs/missing/model.safetensors',
                                        'models/default.safetensors', False, 'config/rt.yaml')])
    before = read_checkpoint(shipped)[2]
    assert ship.main([]) == 1                          # the training run is not here
    assert ship.main(['--settings-only']) == 0
    _, _, after, extra = read_checkpoint(shipped)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k])
                                                 for k in before)
    assert extra['shipped_from'] == 'runs/a' and extra['runtime_from'] == 'config/rt.yaml'
    cfg = model_runtime(shipped)
    assert cfg.lost_frames == 7 and cfg.absent_threshold == 0.2
