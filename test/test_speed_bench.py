"""The benchmark runs and reports; no assertion on wall-clock values (shared, noisy CPUs)."""

import json

import pytest

from track_core.eval.speed import (add_speedups, markdown_table, measure, onnx_verdict,
                                   REFERENCE, SpeedRow)
from track_core.eval.speed_cli import main


def test_measure_reports_positive_times():
    row = measure('tiny', 'torch', runs=3, warmup=1)
    assert row.model_ms > 0 and row.e2e_ms > 0 and row.fps == pytest.approx(1000 / row.e2e_ms)
    assert row.params_m > 0


@pytest.mark.export
def test_cli_writes_table_verdict_and_json(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    assert main(['--variants', 'tiny', 'tiny_token', '--runs', '2', '--warmup', '0',
                 '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'Hardware:' in text and '| tiny | onnx |' in text
    assert 'tiny_token: ONNX Runtime is' in text
    data = json.loads(out.read_text())
    assert {r['backend'] for r in data['rows']} == {'torch', 'onnx'}
    assert len(data['rows']) == 4


def test_speedups_are_relative_to_the_reference_on_the_same_backend():
    rows = add_speedups([SpeedRow(REFERENCE, 'torch', 1, 90, 100, 10),
                         SpeedRow('s', 'torch', 1, 20, 25, 40),
                         SpeedRow(REFERENCE, 'onnx', 1, 40, 50, 20),
                         SpeedRow('s', 'onnx', 1, 8, 10, 100),
                         SpeedRow('t', 'other', 1, 8, 10, 100)])
    assert [r.speedup_e2e for r in rows] == [1.0, 4.0, 1.0, 5.0, None]
    table = markdown_table(rows)
    assert '| s | torch |' in table and '4.00x' in table and 'n/a' in table
    assert onnx_verdict(rows)[1].startswith('s: ONNX Runtime is 2.50x faster')


@pytest.mark.export
def test_bench_alternates_processes_and_reports_rounds_ratios_and_stages(tmp_path, capsys):
    from track_core.eval import bench
    out = tmp_path / 'bench.json'
    assert bench.main(['--rounds', '2', '--frames', '14', '--warmup', '2', '--generated',
                       '--baselines', 'kcf', 'nosuch', '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'Hardware:' in text and '| default |' in text and '| OpenCV KCF |' in text
    assert 'skipped nosuch: unknown baseline' in text
    data = json.loads(out.read_text())
    assert set(data['rounds']) == {'default', 'kcf'}
    assert all(len(v) == 2 and min(v) > 0 for v in data['rounds'].values())
    ref = [r for r in data['rows'] if r['tracker'] == 'default'][0]
    assert ref['time_vs_reference'] == 1.0
    assert set(data['profile']) >= {'crop', 'normalise', 'search network', 'decode'}


def test_bench_summary_takes_ratios_within_each_round():
    from track_core.eval.bench import summary
    # round 2 is twice as slow for both: the within-round ratio stays 2.0
    rows = {r['tracker']: r for r in summary({'a': [10.0, 20.0], 'b': [20.0, 40.0]}, 'a')}
    assert rows['b']['time_vs_reference'] == 2.0 and rows['b']['faster_rounds'] == 2
    assert (rows['a']['min_ms'], rows['a']['max_ms'], rows['a']['median_ms']) == \
        (10.0, 20.0, 15.0)


@pytest.mark.export
def test_bench_takes_more_track_core_models_in_the_rounds(tmp_path, capsys):
    import torch
    from track_core.checkpoint import save_checkpoint
    from track_core.eval import bench
    from track_core.net import create_model
    torch.manual_seed(0)
    small = save_checkpoint(tmp_path / 'small.safetensors', create_model('tiny').eval())
    out = tmp_path / 'bench.json'
    assert bench.main(['--rounds', '1', '--frames', '8', '--warmup', '1', '--generated',
                       '--model', str(small), '--label', 'teacher', '--also',
                       f'student={small}', '--baselines', '--no-profile',
                       '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert '| teacher |' in text and '| student |' in text and 'time / teacher' in text
    data = json.loads(out.read_text())
    assert set(data['rounds']) == {'default', 'student'} and data['reference'] == 'teacher'
    for taken in ('kcf=x', 'default=x', 'noequals'):
        with pytest.raises(SystemExit, match='--also'):
            bench.main(['--generated', '--also', taken, '--baselines'])


def test_searching_frames_are_another_sequence_after_the_first_frame(tmp_path):
    import numpy as np
    from track_core.data.sequences import fit_frame
    from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
    from track_core.eval import bench
    dev = tmp_path / 'sot' / 'dev'
    for name, seed, size in (('target', 1, (240, 320)), ('elsewhere', 2, (120, 160))):
        frames, boxes = moving_object_sequence(6, size=size, seed=seed)
        write_uniform_sequence(dev, name, frames, boxes)
    args = bench._parser().parse_args(['--data-root', str(tmp_path), '--sequence', 'target',
                                       '--frames', '5', '--absent-sequence', 'elsewhere'])
    frames, box = bench.load_frames(args)
    plain, first_box = bench.sequence_frames(dev, 'target', 5)
    other, _ = bench.sequence_frames(dev, 'elsewhere', 4)
    assert len(frames) == 5 and box == first_box
    assert np.array_equal(frames[0], plain[0])
    assert all(f.shape == plain[0].shape for f in frames)      # brought to the frame size
    small = [fit_frame(f, (120, 160)) for f in frames[1:]]
    assert all(np.abs(s.astype(int) - o).mean() < 8 for s, o in zip(small, other))
    args = bench._parser().parse_args(['--generated', '--absent-sequence', 'elsewhere',
                                       '--data-root', str(tmp_path / 'none')])
    with pytest.raises(ValueError, match='needs the dev sequences'):
        bench.load_frames(args)
