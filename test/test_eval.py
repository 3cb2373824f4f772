import json

import numpy as np
import pytest

from track_core.checkpoint import save_checkpoint
from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
from track_core.eval.cli import evaluate
from track_core.eval.metrics import curves, frame_errors, summary
from track_core.net import create_model

GT = np.array([[10, 10, 20, 20], [30, 30, 20, 40], [50, 50, 10, 10], [5, 5, 10, 10]], float)


def test_perfect_tracking():
    s = summary(frame_errors(GT, GT))
    assert s == {'auc': pytest.approx(20 / 21), 'precision': 1.0, 'norm_precision': 1.0,
                 'mean_iou': 1.0, 'frames': 4}
    # IoU 1 passes every threshold but the last (IoU > 1 is impossible): AUC = 20/21.


def test_shifted_boxes_by_hand():
    pred = GT.copy()
    pred[:, 0] += 10                     # 10 px right: IoU 1/3 for a 20-wide box
    e = frame_errors(pred[:1], GT[:1])
    assert e.iou[0] == pytest.approx(10 * 20 / (2 * 400 - 200))
    assert e.center_error[0] == pytest.approx(10.0)
    assert e.norm_center_error[0] == pytest.approx(0.5)
    c = curves(e)
    # IoU 0.333 exceeds thresholds 0, 0.05, ..., 0.30 (7 of 21).
    assert c['success'].sum() == 7 and c['success'].mean() == pytest.approx(7 / 21)
    assert c['precision'][9] == 0 and c['precision'][10] == 1


def test_failed_and_absent_frames():
    pred = GT.copy()
    pred[1] = np.nan                     # the tracker reported failure
    gt = GT.copy()
    gt[3] = np.nan                       # target absent: frame skipped
    e = frame_errors(pred, gt)
    assert len(e.iou) == 3
    assert e.iou.tolist() == [1.0, 0.0, 1.0]
    assert np.isinf(e.center_error[1])
    s = summary(e)
    assert s['precision'] == pytest.approx(2 / 3) and s['frames'] == 3


def test_polygon_ground_truth_is_read_as_its_bounding_box(tmp_path):
    from track_core.data.sequences import find_sequences
    frames, boxes = moving_object_sequence(3, seed=1)
    seq = write_uniform_sequence(tmp_path, 'poly', frames, boxes)
    x, y, w, h = boxes[0]
    lines = [f'{x},{y},{x + w},{y},{x + w},{y + h},{x},{y + h}' for x, y, w, h in boxes]
    (seq / 'groundtruth.txt').write_text('\n'.join(lines) + '\n')
    (s,) = find_sequences(tmp_path)
    assert s.boxes[0].tolist() == pytest.approx([x, y, w, h])


def test_report_from_a_tiny_synthetic_run(tmp_path):
    for k in range(2):
        frames, boxes = moving_object_sequence(12, seed=k)
        boxes[5] = np.nan                # an absent frame
        write_uniform_sequence(tmp_path / 'data', f'syn{k}', frames, boxes)
    model = save_checkpoint(tmp_path / 'tiny.safetensors', create_model('tiny'))
    summaries, path = evaluate(tmp_path / 'data', [f'tiny={model}'], ['kcf', 'bogus'],
                               out=tmp_path / 'report', backend='torch', progress=False)
    out = tmp_path / 'report'
    for name in ('report.md', 'report.json', 'success.png', 'precision.png'):
        assert (out / name).is_file() and (out / name).stat().st_size > 100
    assert (out / 'success.png').read_bytes()[:4] == b'\x89PNG'
    data = json.loads((out / 'report.json').read_text())
    assert set(data['sequences']['tiny']) == {'syn0', 'syn1'}
    assert data['sequences']['tiny']['syn0']['frames'] == 10     # 11 tracked, 1 absent
    assert 'bogus' in data['meta']['skipped']
    text = path.read_text()
    assert '| tiny |' in text and '| syn1 |' in text and 'Skipped' in text
    assert summaries['tiny']['model_ms'] > 0
    if 'KCF' in summaries:
        assert 'tiny vs KCF' in text
