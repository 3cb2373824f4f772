import json

import cv2
import numpy as np
import pytest

from track_core.checkpoint import save_checkpoint
from track_core.data.sequences import DataError
from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
from track_core.eval.metrics import curves, frame_errors, summary
from track_core.eval.protocols import evaluate
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
        assert summaries['KCF']['confidence'] is None          # no states: no such figures
    conf = summaries['tiny']['confidence']
    assert conf['absent_frames'] == 2 and 0.0 <= conf['tracking_on_absent'] <= 1.0
    assert 'Confidence and LOST' in text and 'of 2 |' in text


def test_cli_runtime_settings_reach_the_report_and_bad_ones_are_refused(tmp_path, capsys):
    from track_core.eval.cli import main
    frames, boxes = moving_object_sequence(8, seed=2)
    write_uniform_sequence(tmp_path / 'data', 'syn', frames, boxes)
    from track_core.runtime import TrackerConfig
    from track_core.runtime.loader import with_runtime
    model = tmp_path / 'tiny.safetensors'
    save_checkpoint(model, create_model('tiny'))
    own = tmp_path / 'own.safetensors'       # a model that brings its own settings
    save_checkpoint(own, create_model('tiny'), extra=with_runtime(
        {}, TrackerConfig(window_blend=0.4, lost_threshold=0.1, size_penalty=2.0)))
    out = tmp_path / 'out'
    assert main(['run', '--data', str(tmp_path / 'data'), '--model', f'tiny={model}',
                 '--model', f'own={own}', '--set', 'size_penalty=0', '--set',
                 'hann_window=false', '--out', str(out)]) == 0
    runtime = json.loads((out / 'report.json').read_text())['meta']['runtime']
    assert runtime['tiny']['size_penalty'] == 0 and runtime['tiny']['hann_window'] is False
    assert runtime['tiny']['window_blend'] == 0.0
    assert runtime['own']['size_penalty'] == 0                       # --set wins
    assert (runtime['own']['window_blend'], runtime['own']['lost_threshold']) == (0.4, 0.1)
    assert 'size_penalty=0' in (out / 'report.md').read_text()
    for bad, words in (('size_penalty=-1', 'size_penalty must be in'),
                       ('no_such_setting=1', 'no_such_setting')):
        with pytest.raises(SystemExit):
            main(['run', '--data', str(tmp_path / 'data'), '--model', f'tiny={model}',
                  '--set', bad, '--out', str(out)])
        assert words in capsys.readouterr().err


def test_cut_away_frames_measure_what_a_model_says_when_its_target_is_gone(tmp_path):
    from track_core.runtime import TrackerConfig
    from track_core.runtime.loader import with_runtime
    for k in range(2):
        frames, boxes = moving_object_sequence(10, seed=k)
        write_uniform_sequence(tmp_path / 'data', f'syn{k}', frames, boxes)
    # a model that never declares LOST (no score is under 0)
    model = save_checkpoint(tmp_path / 'never.safetensors', create_model('tiny'),
                            extra=with_runtime({}, TrackerConfig(lost_threshold=0.0)))
    plain, _ = evaluate(tmp_path / 'data', [f'm={model}'], out=tmp_path / 'plain',
                        backend='torch', progress=False)
    cut, path = evaluate(tmp_path / 'data', [f'm={model}'], out=tmp_path / 'cut',
                         backend='torch', progress=False, cut_away=7)
    assert plain['m']['confidence']['absent_frames'] == 0
    conf = cut['m']['confidence']
    assert conf['absent_frames'] == 14 and conf['tracking_on_absent'] == 1.0
    assert cut['m']['auc'] == pytest.approx(plain['m']['auc'])   # accuracy skips those frames
    text = path.read_text()
    assert '7 frames of the next one' in text and '1.00 of 14' in text
    # and one that is LOST once its score stays under 1 for a few frames: never TRACKING there
    alarmed = save_checkpoint(tmp_path / 'alarmed.safetensors', create_model('tiny'),
                              extra=with_runtime({}, TrackerConfig(lost_threshold=1.0,
                                                                   recover_threshold=1.0)))
    cut, _ = evaluate(tmp_path / 'data', [f'a={alarmed}'], out=tmp_path / 'alarmed',
                      backend='torch', progress=False, cut_away=7)
    assert cut['a']['confidence']['tracking_on_absent'] == 0.0
    with pytest.raises(DataError, match='two sequences'):
        evaluate(tmp_path / 'data', [f'm={model}'], out=tmp_path / 'one', backend='torch',
                 progress=False, sequences=['syn0'], cut_away=3)


class _BoxReader:
    """A reference tracker over one sequence: the ground truth, or the box it was given.

    These are the two ends of the scale response.
    """

    def __init__(self, seq, keep_given_size):
        self.seq, self.keep = seq, keep_given_size

    def initialize(self, image, box):
        self.given = np.asarray(box, float)

    def relocate(self, box, image_size=None):
        self.given = np.asarray(box, float)

    def track(self, image):
        i = next(k for k in range(len(self.seq)) if np.array_equal(self.seq.frame(k), image))
        gt = self.seq.boxes[i]
        if self.keep:
            c = self.given[:2] + self.given[2:] / 2
            gt = np.concatenate([c - self.given[2:] / 2, self.given[2:]])
        return type('R', (), {'box': tuple(gt)})()


def test_scale_response_of_reference_trackers_and_a_real_model(tmp_path):
    from track_core.data.sequences import find_sequences
    from track_core.eval.scale import markdown_table, plot, scale_response
    from track_core.runtime import load_tracker
    frames, boxes = moving_object_sequence(12, seed=4)
    write_uniform_sequence(tmp_path / 'data', 'syn', frames, boxes)
    seq = find_sequences(tmp_path / 'data')[0]
    factors = (0.5, 1.0, 2.0)
    exact = scale_response(_BoxReader(seq, False), [seq], factors, frames_per_sequence=4)
    assert all(r['log_error'] == pytest.approx(0.0) and r['iou'] == pytest.approx(1.0)
               for r in exact.values())
    # Keeping the given size: the error stays log(f), up to the motion between frames.
    kept = scale_response(_BoxReader(seq, True), [seq], factors, frames_per_sequence=4)
    area = boxes[:, 2] * boxes[:, 3]
    growth = np.mean([0.5 * np.log(area[i] / area[i - 1]) for i in range(1, 12)])
    for f in factors:
        assert kept[f]['log_error'] == pytest.approx(np.log(f) - growth, abs=0.05)
        assert kept[f]['samples'] == 4
    model = tmp_path / 'tiny.safetensors'
    save_checkpoint(model, create_model('tiny'))
    real = scale_response(load_tracker(model), [seq], factors, frames_per_sequence=3)
    assert all(np.isfinite(r['log_error']) and r['samples'] == 3 for r in real.values())
    table = markdown_table({'exact': exact, 'kept': kept})
    assert '| 2 | +0.69 | +0.00 | 1.00 |' in table
    assert plot({'exact': exact, 'tiny': real}, tmp_path / 'scale.png').stat().st_size > 1000


def test_scale_cli_measures_on_the_small_target_replay_and_refuses_bad_values(
        tmp_path, capsys):
    from track_core.eval.cli import main
    frames, boxes = moving_object_sequence(10, seed=5)
    write_uniform_sequence(tmp_path / 'data', 'syn', frames, boxes)
    model = save_checkpoint(tmp_path / 'tiny.safetensors', create_model('tiny'))
    args = ['scale', '--data', str(tmp_path / 'data'), '--model', f'tiny={model}',
            '--factors', '0.5', '2', '--frames', '3']
    out = tmp_path / 'small'
    assert main(args + ['--small-target', '8', '--jpeg', '40', '--out', str(out)]) == 0
    report = json.loads((out / 'scale.json').read_text())
    assert (report['small_target'], report['jpeg']) == (8.0, 40)
    assert all(r['samples'] == 3 and np.isfinite(r['log_error'])
               for r in report['responses']['tiny'].values())
    # The replay is what was measured: a box of the true size (f = 1) on the generated scene
    # gives another answer at 8 px than at the recorded size.
    at = {}
    for name, extra in (('plain', []), ('tiny8', ['--small-target', '8'])):
        assert main(args[:5] + ['--factors', '1', '--frames', '3',
                                '--out', str(tmp_path / name)] + extra) == 0
        at[name] = json.loads((tmp_path / name / 'scale.json').read_text())
    assert at['plain']['responses']['tiny']['1.0'] != at['tiny8']['responses']['tiny']['1.0']
    # A baseline whose files are missing is skipped with the reason; the rest is measured.
    capsys.readouterr()
    assert main(args + ['--baselines', 'lighttrack', '--lighttrack-dir',
                        str(tmp_path / 'none'), '--out', str(tmp_path / 'skip')]) == 0
    assert 'skipped lighttrack: z_feature.xml' in capsys.readouterr().err
    report = json.loads((tmp_path / 'skip' / 'scale.json').read_text())
    assert list(report['responses']) == ['tiny']
    for bad, words in ((['--small-target', '-4'], 'positive number of pixels'),
                       (['--jpeg', '400'], 'JPEG quality must be 1-100'),
                       (['--baselines', 'kcf'], 'not kcf')):
        assert main(args + bad + ['--out', str(tmp_path / 'bad')]) == 2
        assert words in capsys.readouterr().err


def test_confidence_figures_count_false_alarms_and_silent_misses():
    from track_core.eval.metrics import FrameErrors
    from track_core.eval.ope import confidence, SequenceRun
    present = np.array([True, True, True, True, False, False])
    lost = np.array([True, True, False, False, False, True])
    iou = np.array([0.5, 0.0, 0.0, 0.7])                  # the four frames with the target
    scores = np.array([0.2, 0.1, 0.3, 0.9, 0.5, 0.1])
    errors = FrameErrors(iou, np.zeros(4), np.zeros(4))
    run = SequenceRun('t', 's', np.zeros((7, 4)), [], errors, {}, scores, lost, present)
    c = confidence([run])
    assert c['lost_share'] == pytest.approx(0.5)          # 2 of 4 frames with the target
    assert c['lost_on_target'] == pytest.approx(0.5)      # 1 of those 2 still overlapped
    assert c['tracking_off_target'] == pytest.approx(0.5)  # 1 of 2 TRACKING frames missed
    assert c['tracking_on_absent'] == pytest.approx(0.5)  # 1 of 2 absent frames TRACKING
    assert c['score_iou_corr'] == pytest.approx(np.corrcoef(scores[:4], iou)[0, 1])
    assert confidence([SequenceRun('t', 's', np.zeros((2, 4)), [], errors)]) is None


def test_paired_comparison_counts_sequences_and_brackets_the_mean():
    from track_core.eval.report import paired_comparison
    a = {f's{i}': {'auc': 0.6 + 0.01 * i} for i in range(10)}
    b = {f's{i}': {'auc': 0.6} for i in range(10)}
    b['only_b'] = {'auc': 0.1}                     # not shared: ignored
    c = paired_comparison({'a': a, 'b': b}, 'a', 'b')
    assert (c['sequences'], c['better']) == (10, 9)   # s0 ties
    assert c['mean'] == pytest.approx(0.045)
    assert 0.0 < c['low'] < c['mean'] < c['high'] < 0.09
    noisy = {f's{i}': {'auc': 0.6 + (0.2 if i % 2 else -0.2)} for i in range(10)}
    c = paired_comparison({'a': noisy, 'b': b}, 'a', 'b')
    assert c['low'] < 0 < c['high'] and c['better'] == 5


def _run(boxes, start=0, lost=None, scores=None):
    from track_core.eval.ope import SequenceRun
    boxes = np.asarray(boxes, np.float64)
    run = SequenceRun('t', 's', boxes, [], None)
    run.start = start
    run.reported = np.isfinite(boxes[start + 1:]).all(axis=1)
    if lost is not None:
        run.lost = np.asarray(lost, bool)
        run.scores = np.asarray(scores, np.float64)
        run.reported &= ~run.lost
    return run


def test_long_term_figures_of_trackers_that_tell_and_do_not_tell():
    from track_core.eval.longterm import longterm_metrics, missed_returns
    box, away = [10, 10, 20, 20], [np.nan] * 4
    truth = np.array([box, box, away, away, box, box])          # gone at 2-3, back at 4
    # one that never says absent and stays on a wrong box while away, back one frame late
    naive = _run([box, box, [50, 50, 20, 20], [50, 50, 20, 20], [50, 50, 20, 20], box])
    m = longterm_metrics([naive], [truth], [4])
    assert m['absent_reported'] == 1.0 and m['reacquired'] == 1.0
    assert m['frames_to_reacquire'] == 1.0 and m['f_best'] is None
    assert m['recall'] == pytest.approx(2 / 3) and m['precision'] == pytest.approx(2 / 5)
    # one that says LOST exactly while the target is away, and is right otherwise
    lost = [False, True, True, False, False]
    honest = _run([box, box, box, box, box, box], lost=lost, scores=[0.9, 0.1, 0.2, 0.9, 0.9])
    m = longterm_metrics([honest], [truth], [4])
    assert m['absent_reported'] == 0.0 and m['precision'] == 1.0 and m['recall'] == 1.0
    assert m['f'] == 1.0 and m['frames_to_reacquire'] == 0.0
    assert m['f_best'] == 1.0 and 0.2 < m['f_best_threshold'] <= 0.9
    # one that never comes back
    gone = _run([box, box, away, away, away, away])
    m = longterm_metrics([gone], [truth], [4])
    assert m['reacquired'] == 0.0 and m['frames_to_reacquire'] is None
    assert m['absent_reported'] == 0.0 and m['recall'] == pytest.approx(1 / 3)
    # each sequence's own figures say which one held the averages down
    both = longterm_metrics([honest, gone], [truth, truth], [4, 4])
    assert [(r['reacquired_after'], r['f']) for r in both['sequences']] == \
        [(0, 1.0), (None, pytest.approx(0.5))]
    assert both['sequences'][1]['travelled'] == 0.0
    assert missed_returns(both) == 's (0.0)' and missed_returns(m) == 's (0.0)'
    assert missed_returns(longterm_metrics([honest], [truth], [4])) == 'none'
    assert missed_returns({'reacquired': 0.5}) == 'n/a'          # an older report
    # a sequence the target does not come back in has no return to miss
    never = longterm_metrics([gone], [truth], [9])
    assert never['sequences'][0]['returned'] is False and missed_returns(never) == 'none'


def test_the_long_term_protocol_runs_every_tracker_on_both_variants(tmp_path):
    from track_core.eval.protocols import evaluate_longterm
    for k in range(2):
        frames, boxes = moving_object_sequence(20, seed=k)
        write_uniform_sequence(tmp_path / 'data', f'syn{k}', frames, boxes)
    model = save_checkpoint(tmp_path / 'tiny.safetensors', create_model('tiny'))
    figures, path = evaluate_longterm(tmp_path / 'data', [f'tiny={model}'], ['kcf'],
                                      out=tmp_path / 'lt', backend='torch', absent=6,
                                      progress=False)
    assert set(figures) == {'where it left', 'where it has moved to'}
    for rows in figures.values():
        assert 0.0 <= rows['tiny']['absent_reported'] <= 1.0
        assert rows['tiny']['f_best'] is not None               # it has a score
        if 'OpenCV KCF' in rows:
            assert rows['OpenCV KCF']['f_best'] is None
    text = path.read_text()
    assert 'The target returns where it left (6 frames away)' in text and '| tiny |' in text
    assert text.count('Returns not re-acquired within') == 2 and '- tiny: ' in text
    data = json.loads((tmp_path / 'lt' / 'longterm.json').read_text())
    assert data['meta']['absent_frames'] == 6 and data['meta']['sequences'] == ['syn0', 'syn1']
    rows = data['figures']['where it left']['tiny']['sequences']
    assert [r['sequence'] for r in rows] == ['syn0', 'syn1']


def test_a_small_target_replay_shrinks_the_scene_and_its_boxes_alike():
    from track_core.data.sequences import Sequence, with_small_target
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), np.uint8) for _ in range(3)]
    boxes = np.array([[40, 30, 64, 36], [44, 32, 60, 40], [np.nan] * 4])
    seq = Sequence('s', boxes, np.isfinite(boxes).all(axis=1), source=lambda i: frames[i])
    small = with_small_target(seq, 12.0)
    scale = 12.0 / np.sqrt(64 * 36)
    assert small.frame(0).shape == (120, 160, 3)
    side = np.sqrt(small.boxes[0, 2] * small.boxes[0, 3])
    assert abs(side - 12.0) < 0.5 and np.isnan(small.boxes[2]).all()
    # the box still frames the same pixels: the downscaled patch sits where the box says
    x, y, w, h = small.boxes[1]
    patch = cv2.resize(frames[1], (round(160 * scale), round(120 * scale)),
                       interpolation=cv2.INTER_AREA)
    ox, oy = (160 - patch.shape[1]) // 2, (120 - patch.shape[0]) // 2
    assert np.array_equal(small.frame(1)[oy:oy + patch.shape[0], ox:ox + patch.shape[1]], patch)
    assert abs(x - (ox + 44 * patch.shape[1] / 160)) < 1e-6
    assert with_small_target(seq, 1000.0).boxes[0].tolist() == boxes[0].tolist()   # s <= 1


def test_a_jpeg_replay_puts_compression_back_at_the_replayed_scale(tmp_path, capsys):
    from track_core.data.sequences import Sequence, with_jpeg, with_small_target
    from track_core.eval.cli import main
    rng = np.random.default_rng(1)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (96, 128, 3), np.uint8), (0, 0), 2.0)
              for _ in range(2)]
    boxes = np.array([[40, 30, 32, 24], [42, 31, 32, 24]], float)
    seq = Sequence('s', boxes, np.ones(2, bool), source=lambda i: frames[i])

    def error(quality):
        out = with_jpeg(seq, quality)
        assert out.frame(1).shape == frames[1].shape and out.frame(1).dtype == np.uint8
        assert np.array_equal(out.boxes, boxes)
        return float(np.abs(out.frame(1).astype(int) - frames[1]).mean())
    assert 0 < error(95) < error(40) < error(5)         # the lower the quality, the more lost
    small = with_jpeg(with_small_target(seq, 12.0), 40)  # compressed at the small scale
    assert np.array_equal(small.boxes, with_small_target(seq, 12.0).boxes)
    for bad in (0, 101):
        with pytest.raises(ValueError, match='quality'):
            with_jpeg(seq, bad)
    with pytest.raises(SystemExit):
        main(['run', '--data', str(tmp_path), '--baselines', 'kcf', '--leave-return', '5',
              '--jpeg', '40'])
    assert '--jpeg' in capsys.readouterr().err
    # through track-eval: the replay is recorded in the report
    moving, moving_boxes = moving_object_sequence(6, seed=3)
    write_uniform_sequence(tmp_path / 'data', 'syn', moving, moving_boxes)
    model = save_checkpoint(tmp_path / 'tiny.safetensors', create_model('tiny'))
    out = tmp_path / 'out'
    assert main(['run', '--data', str(tmp_path / 'data'), '--model', f'tiny={model}',
                 '--small-target', '12', '--jpeg', '40', '--out', str(out)]) == 0
    meta = json.loads((out / 'report.json').read_text())['meta']
    assert (meta['small_target'], meta['jpeg']) == (12.0, 40)
    assert 'JPEG at quality 40' in (out / 'report.md').read_text()


def test_returns_are_broken_down_by_how_far_the_target_travelled():
    from track_core.eval.longterm import travelled
    gt = np.array([[0, 0, 10, 10], [2, 0, 10, 10], [np.nan] * 4, [np.nan] * 4,
                   [32, 0, 10, 10]], float)
    assert travelled(gt, 4) == pytest.approx(3.0)            # 30 px for a 10 px target
    assert travelled(gt, 3) is None and travelled(gt, 9) is None


def test_a_look_alike_takes_the_targets_place_and_size_while_it_is_away():
    from track_core.data.sequences import Sequence, with_look_alike
    from track_core.eval.longterm import longterm_metrics
    from track_core.eval.ope import run_sequence
    frames = [np.full((100, 120, 3), 50 + i, np.uint8) for i in range(10)]
    boxes = np.array([[30.0 + i, 40.0, 20.0, 10.0] for i in range(10)])
    seq = Sequence('s', boxes, np.ones(10, bool), source=lambda i: frames[i])
    still = np.zeros((80, 80, 3), np.uint8)
    still[20:60, 10:50] = 255                              # the look-alike, 40x40
    out = with_look_alike(seq, still, (10, 20, 40, 40), leave_at=4, count=3, drift=(2, 0))
    assert len(out) == 13 and np.isnan(out.boxes[4:7]).all()
    assert np.isnan(out.distractors[:4]).all() and np.isnan(out.distractors[7:]).all()
    x, y, w, h = out.distractors[4]
    assert w * h == pytest.approx(20 * 10)                # the target's size where it left
    assert (x + w / 2, y + h / 2) == pytest.approx((43.0, 45.0), abs=0.5)     # and place
    assert out.distractors[6][0] == pytest.approx(x + 4)  # drifts 2 px a frame
    shown = out.frame(4)
    assert shown[int(y) + 2, int(x) + 2].tolist() == [255, 255, 255]  # the look-alike there
    assert np.array_equal(out.frame(7), frames[4])        # the target comes back

    class Follower:                                        # reports the look-alike as present
        name = 'follower'

        def initialize(self, image, box):
            self.i = 0

        def track(self, image):
            self.i += 1
            d = out.distractors[self.i]
            return d if np.isfinite(d).all() else out.boxes[self.i]
    run = run_sequence(Follower(), out)
    figures = longterm_metrics([run], [out.boxes], [7], distractors=[out.distractors])
    assert figures['switches'] == 1.0 and figures['absent_reported'] == 1.0


def test_a_distractor_stays_beside_the_target_and_a_switch_to_it_is_counted():
    from track_core.data.sequences import Sequence, with_distractor
    from track_core.eval.ope import aggregate, run_sequence
    frames = [np.full((100, 200, 3), 50 + i, np.uint8) for i in range(12)]
    boxes = np.array([[30.0 + 2 * i, 40.0, 20.0, 10.0] for i in range(12)])
    boxes[9] = np.nan                                      # not annotated: no look-alike
    seq = Sequence('s', boxes, np.isfinite(boxes).all(axis=1), source=lambda i: frames[i])
    still = np.zeros((80, 80, 3), np.uint8)
    still[20:60, 10:50] = 255                              # the look-alike, 40x40
    out = with_distractor(seq, still, (10, 20, 40, 40), period=8)
    np.testing.assert_array_equal(out.boxes, boxes)        # the target's boxes unchanged
    assert np.isnan(out.distractors[0]).all() and np.isnan(out.distractors[9]).all()
    gaps = []
    for k in (1, 2, 4, 6, 8, 10):
        x, y, w, h = out.distractors[k]
        assert w * h == pytest.approx(20 * 10, rel=0.1)   # the target's size
        assert y + h / 2 == pytest.approx(boxes[k, 1] + 5, abs=1)    # level with it
        gaps.append(x - (boxes[k, 0] + boxes[k, 2]))       # on its right (more room there)
        image = out.frame(k)
        assert image[int(y + h / 2), int(x + w / 2)].tolist() == [255, 255, 255]
        tx, ty = int(boxes[k, 0]) + 5, int(boxes[k, 1]) + 5
        assert image[ty, tx].tolist() == frames[k][ty, tx].tolist()   # never over the target
    assert min(gaps) >= -1 and max(gaps) > 20              # touching, then 1.5 widths away
    assert np.array_equal(out.frame(0), frames[0])

    class Jumper:                                          # goes over to the look-alike at 6
        name = 'jumper'

        def initialize(self, image, box):
            self.i = 0

        def track(self, image):
            self.i += 1
            return tuple(out.distractors[self.i]) if self.i >= 6 and \
                np.isfinite(out.distractors[self.i]).all() else tuple(boxes[self.i])
    run = run_sequence(Jumper(), out)
    assert run.look_alike.sum() == 10                      # frames 1..11 but 9
    assert run.switched.sum() == 5                         # 6, 7, 8, 10, 11
    figures = aggregate([run])
    assert figures['switches'] == pytest.approx(0.5) and figures['switched_sequences'] == 1


def test_the_presence_sweep_names_the_returns_each_setting_missed():
    import importlib.util
    import pathlib
    from track_core.eval.longterm import longterm_metrics
    path = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'sweep_longterm.py'
    spec = importlib.util.spec_from_file_location('sweep_longterm', path)
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    box, away = [10, 10, 20, 20], [np.nan] * 4
    truth = np.array([box, box, away, away, box, box])
    back = _run([box, box, box, box, box, box], lost=[False, True, True, False, False],
                scores=[0.9, 0.1, 0.1, 0.9, 0.9])
    gone = _run([box, box, away, away, away, away])
    results = {}
    for label, run in (('finds it', back), ('does not', gone)):
        figures = longterm_metrics([run], [truth], [4])
        results[label] = {'auc': 0.5, 'silent': None, 'sequences': {'s': {'auc': 0.5}},
                          'longterm': {'where it left': figures,
                                       'where it has moved to': figures}}
    text = sweep.table(results, 'finds it')
    assert '- finds it: none ; none' in text and '- does not: s (0.0) ; s (0.0)' in text


def test_a_static_occluder_covers_part_of_the_first_box_and_stays_put(tmp_path):
    from track_core.data.sequences import Sequence, with_occluder
    from track_core.data.stills import StillBox
    from track_core.eval.protocols import occluded
    frames = [np.full((100, 200, 3), 50 + i, np.uint8) for i in range(6)]
    boxes = np.array([[40.0 + 10 * i, 30.0, 40.0, 20.0] for i in range(6)])
    seq = Sequence('s', boxes, np.ones(6, bool), source=lambda i: frames[i])
    patch = np.full((30, 10, 3), 255, np.uint8)            # tall: the height is capped
    out = with_occluder(seq, patch, 0.25, offset=(0.1, 0.0))
    np.testing.assert_array_equal(out.boxes, boxes)        # the target's boxes unchanged
    bx, by, dw, dh = out.occluder
    assert dw == 8 and dh == 16                            # 8 x 24 for 25 %, capped at 0.8 h
    assert bx + dw / 2 == pytest.approx(40 + 20 + 4, abs=1)
    assert by + dh / 2 == pytest.approx(30 + 10, abs=1)
    for k in range(6):
        image = out.frame(k)
        white = (image == 255).all(axis=2)
        assert white.sum() == dw * dh and white[by:by + dh, bx:bx + dw].all()   # same pixels
        assert (image[~white] == 50 + k).all()
    with pytest.raises(ValueError, match='occluder area'):
        with_occluder(seq, patch, 0.0)
    # the protocol's occluders repeat from run to run, and differ between sequences
    still = np.zeros((80, 120, 3), np.uint8)
    still[10:50, 10:50] = (255, 0, 0)
    still[10:50, 60:110] = (0, 0, 255)
    (tmp_path / 'still.png').write_bytes(cv2.imencode('.png', still[..., ::-1])[1].tobytes())
    stills = [StillBox(tmp_path / 'still.png', np.array([10.0, 10.0, 40.0, 40.0]), 'a'),
              StillBox(tmp_path / 'still.png', np.array([60.0, 10.0, 50.0, 40.0]), 'b'),
              StillBox(tmp_path / 'still.png', np.array([0.0, 0.0, 20.0, 20.0]), 'c')]
    first = [s.frame(0) for s in occluded([seq, seq], 0.2, stills)]
    again = [s.frame(0) for s in occluded([seq, seq], 0.2, stills)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])
