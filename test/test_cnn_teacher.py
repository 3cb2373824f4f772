"""CNN trackers as teachers: maps on the student's grid, the losses that use them, a run.

The teachers need their published files from ../shared/data (skipped without them);
LightTrack-Mobile also needs the optional ``openvino`` package (skipped without it).
"""

import cv2
import numpy as np
import pytest
from shared_data import shared
import torch

from track_core.foreign.teacher import CnnTeacher, CnnTeacherConfig, resample
from track_core.runtime.preprocess import crop_side, crop_square
from track_core.train.task import LossWeights, supervision_terms


def _folder(kind):
    name = {'lighttrack': 'lighttrack_mobile', 'nanotrack_v3': 'nanotrack_v3'}[kind]
    folder = shared('baselines', name)
    if kind == 'lighttrack':
        pytest.importorskip('openvino', reason='openvino is an optional extra (lighttrack)')
    return folder


def test_resampling_a_ramp_is_exact_inside_and_holds_the_border():
    src = np.linspace(0.0, 1.0, 5)
    ramp = np.tile(src, (5, 1))[None]                      # value = x position
    dst = np.array([-0.2, 0.1, 0.5, 0.875, 1.3])
    out = resample(ramp, src, dst)
    assert np.allclose(out[0, 0], [0.0, 0.1, 0.5, 0.875, 1.0])
    assert np.allclose(out[0, :, 2], 0.5)                  # constant along y


@pytest.mark.parametrize('kind', ['nanotrack_v3', 'lighttrack'])
def test_teacher_maps_peak_on_the_target_in_a_real_pair(kind):
    folder = _folder(kind)
    seq = shared('sot', 'dev', 'Crossing')
    boxes = [[float(v) for v in line.split(',')]
             for line in (seq / 'groundtruth.txt').read_text().split()]
    frames = [cv2.cvtColor(cv2.imread(str(seq / 'img' / f'{i:08d}.jpg')), cv2.COLOR_BGR2RGB)
              for i in (1, 6)]
    (tx, ty, tw, th), (sx, sy, sw, sh) = boxes[0], boxes[5]
    template = crop_square(frames[0], tx + tw / 2, ty + th / 2, crop_side(tw, th, 2.0), 128)
    # the search crop is centred 15 % of a crop side away from the target (measured: the
    # peaks 0.0 (NanoTrack v3) and 0.9 (LightTrack) cells off, the boxes 0.01 of the crop)
    side = crop_side(sw, sh, 4.0)
    ccx, ccy = sx + sw / 2 + 0.15 * side, sy + sh / 2 - 0.05 * side
    search = crop_square(frames[1], ccx, ccy, side, 256)
    truth = np.array([(sx + sw / 2 - ccx) / side + 0.5, (sy + sh / 2 - ccy) / side + 0.5,
                      sw / side, sh / side])
    teacher = CnnTeacher(CnnTeacherConfig(kind), grid=16, folder=folder)
    out = teacher(template, search)
    assert out['teacher_score'].shape == (16, 16) and out['teacher_size'].shape == (2, 16, 16)
    row, col = np.unravel_index(np.argmax(out['teacher_score']), (16, 16))
    assert abs((col + 0.5) / 16 - truth[0]) < 1.5 / 16 and abs((row + 0.5) / 16 - truth[1]) \
        < 1.5 / 16
    assert np.abs(out['teacher_box'][:2] - truth[:2]).max() < 0.03
    assert 0.6 < out['teacher_box'][2] / truth[2] < 1.6
    assert out['teacher_conf'] > 0.5
    # the cell under the peak carries the same box as size/offset maps
    cx = (col + out['teacher_offset'][0, row, col]) / 16
    assert abs(cx - truth[0]) < 0.05


def _batch(n=4):
    g = torch.Generator().manual_seed(0)
    box = torch.tensor([[0.5, 0.5, 0.2, 0.3]] * n)
    return {'box': box, 'has_box': torch.tensor([1.0, 1.0, 0.0, 0.0]),
            'teacher_score': torch.rand(n, 16, 16, generator=g),
            'teacher_size': torch.full((n, 2, 16, 16), 0.2),
            'teacher_offset': torch.full((n, 2, 16, 16), 0.5),
            'teacher_box': torch.tensor([[0.45, 0.5, 0.2, 0.3]] * n),
            'teacher_conf': torch.tensor([0.9, 0.9, 0.9, 0.1])}


def _out(n=4, token=False):
    g = torch.Generator().manual_seed(1)
    out = {'box': torch.rand(n, 4, generator=g) * 0.5 + 0.25}
    if token:
        out['edge_logits'] = torch.randn(n, 4, 16, generator=g)
    else:
        out['score_map'] = torch.rand(n, 1, 16, 16, generator=g).clamp(0.01, 0.99)
    return out


def test_unannotated_pairs_take_the_confident_teachers_box_and_nothing_else():
    w = LossWeights(cnn_map=1.0, cnn_guidance=1.0)
    batch = _batch()
    terms, _ = supervision_terms(_out(), batch, w)
    assert {'loss/cnn_map', 'loss/cnn_giou', 'loss/cnn_l1', 'loss/box_giou'} <= set(terms)
    # the unsure, unannotated pair (conf 0.1) counts for nothing: its boxes can change freely
    moved = dict(batch, box=batch['box'].clone(), teacher_box=batch['teacher_box'].clone())
    moved['box'][3] = torch.tensor([0.9, 0.9, 0.1, 0.1])
    moved['teacher_box'][3] = torch.tensor([0.1, 0.1, 0.1, 0.1])
    again, _ = supervision_terms(_out(), moved, w)
    for key in ('loss/box_giou', 'loss/box_l1', 'loss/cnn_giou'):
        assert torch.allclose(terms[key], again[key]), key
    # ... while the confident unannotated one (index 2) is supervised by the teacher's box
    moved['teacher_box'][2] = torch.tensor([0.2, 0.2, 0.1, 0.1])
    third, _ = supervision_terms(_out(), moved, w)
    assert not torch.allclose(terms['loss/box_giou'], third['loss/box_giou'])


def test_a_token_head_student_gets_the_dense_to_sparse_kl_of_the_teachers_boxes():
    terms, _ = supervision_terms(_out(token=True), _batch(), LossWeights(cnn_kl=1.0),
                                 num_bins=16)
    assert 'loss/cnn_kl' in terms and torch.isfinite(terms['loss/cnn_kl'])
    assert 'loss/cnn_map' not in terms


def test_without_a_teacher_nothing_changes():
    batch = {'box': torch.tensor([[0.5, 0.5, 0.2, 0.3]] * 2)}
    out = _out(2)
    plain, _ = supervision_terms(out, batch, LossWeights(cnn_map=1.0))
    labelled, _ = supervision_terms(out, dict(batch, has_box=torch.ones(2)), LossWeights())
    assert set(plain) == {'loss/box_giou', 'loss/box_l1', 'loss/focal'}
    assert all(torch.allclose(plain[k], labelled[k]) for k in plain)


@pytest.mark.parametrize('kind', ['nanotrack_v3', 'lighttrack'])
def test_a_short_run_with_a_cnn_teacher_and_the_nanotrack_stem(kind, tmp_path):
    from track_core.config import load_config
    from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
    from track_core.runtime import load_tracker
    from track_core.train.config import TrainConfig
    from track_core.train.run import run
    folder = _folder(kind)
    for k in range(2):
        frames, boxes = moving_object_sequence(12, seed=k)
        write_uniform_sequence(tmp_path / 'sot', f'syn{k}', frames, boxes)
    cfg = load_config(TrainConfig, None, [
        f'data.sot=["{tmp_path / "sot"}"]', 'data.stills_csv=[]', 'data.samples_per_epoch=4',
        'optim.epochs=1', 'optim.batch_size=2', 'optim.num_workers=0', 'model=tiny_nt3',
        'model_overrides={search_size: 256, template_size: 128}',
        'pretrained_stem=true', 'freeze_stem=true', 'train_stem_projection=true',
        f'cnn_teacher.kind={kind}', f'cnn_teacher.folder={folder}',
        'losses.cnn_map=1.0', 'losses.cnn_guidance=0.5', f'out_dir={tmp_path / "run"}'])
    last = run('teacher', cfg, progress=False)
    assert 'loss/cnn_map' in last and np.isfinite(last['loss'])
    tracker = load_tracker(tmp_path / 'run' / 'model.safetensors', device='cpu')
    assert tracker.model_cfg.stem == 'nanotrack_v3'
    assert tracker.preprocess.channel_order == 'bgr'
