"""The 'ban' head: NanoTrack v3's own head behind attention blocks that start as the identity.

Uses the shipped models/nanotrack_v3.safetensors and generated frames only (no shared data).
"""

import dataclasses

import numpy as np
import pytest
import torch

from track_core.checkpoint import save_checkpoint
from track_core.data.synthetic import moving_object_sequence
from track_core.export.onnx import export_onnx, parity
from track_core.foreign.siamese import NANOTRACK_V3, NanoTrackV3Torch, SiameseTracker
from track_core.net import create_model, variant_config
from track_core.net.config import ModelConfig, PreprocessConfig, stem_preprocess
from track_core.net.nanotrack import load_nanotrack_v3
from track_core.runtime import load_tracker, TrackerConfig
from track_core.runtime.decode import decode_center
from track_core.runtime.preprocess import crop_side
from track_core.train.losses import ban_cls_loss, ban_iou_loss, ban_labels
from track_core.train.task import GroundTruthTask

# NanoTrack v3's published run-time settings in TrackerConfig terms (window influence 0.455,
# penalty_k 0.138, size lr 0.348 -> smoothing 0.652), LOST off.
NANOTRACK_RUNTIME = TrackerConfig(window_blend=0.455, size_penalty=0.138, size_smoothing=0.652,
                                  lost_threshold=0.0)


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.fixture(scope='module')
def ban_model():
    return create_model('nt3_ban2', pretrained_stem=True).eval()


def test_an_untrained_ban_model_is_nanotrack_v3(ban_model):
    reference = load_nanotrack_v3()
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(2, 3, 128, 128, generator=gen) * 255
    x = torch.rand(2, 3, 256, 256, generator=gen) * 255
    with torch.no_grad():
        out, ref = ban_model(z, x), reference(z, x)
    assert torch.allclose(out['cls_logits'], ref['cls'], atol=1e-4)
    assert torch.allclose(out['ltrb'] * 256, ref['reg'], rtol=1e-4, atol=1e-3)
    # and the blocks are there: a non-zero residual branch changes the output
    changed = create_model('nt3_ban2', pretrained_stem=True).eval()
    with torch.no_grad():
        changed.blocks[0].mlp.fc2.bias.fill_(0.5)
        assert not torch.allclose(changed(z, x)['cls_logits'], ref['cls'], atol=1e-2)


def test_ban_maps_decode_to_nanotracks_point_boxes(ban_model):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        out = ban_model(torch.rand(1, 3, 128, 128, generator=gen) * 255,
                        torch.rand(1, 3, 256, 256, generator=gen) * 255)
    ltrb = out['ltrb'][0].numpy()
    points = (np.arange(15) + 1) / 16.0               # (j - 7) x 16 px from the centre
    assert np.allclose(out['points'].numpy(), points)
    score = out['score_map'][0, 0].numpy()
    box, s, _ = decode_center(score, out['size_map'][0].numpy(), out['offset_map'][0].numpy())
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    left, top, right, bottom = ltrb[:, row, col]
    expected = [points[col] + (right - left) / 2, points[row] + (bottom - top) / 2,
                left + right, top + bottom]
    assert box == pytest.approx(expected, abs=1e-5)
    assert s == pytest.approx(float(torch.softmax(out['cls_logits'][0, :, row, col], 0)[1]))
    assert out['box'][0].numpy() == pytest.approx(expected, abs=1e-5)


def test_ban_shapes_are_checked():
    with pytest.raises(ValueError, match="head 'ban' needs"):
        ModelConfig(stem='nanotrack_v3', head='ban', embed_dim=128, num_heads=4,
                    template_size=128, search_size=256)
    with pytest.raises(ValueError, match="head 'ban' needs"):
        dataclasses.replace(variant_config('nt3_ban2'), search_size=288)
    cfg = variant_config('nt3_ban2')
    assert cfg.score_feat == 15 and variant_config('nt3_s2_256').score_feat == 16
    pre = stem_preprocess(cfg, PreprocessConfig())
    assert (pre.context, pre.template_factor, pre.search_factor, pre.channel_order) == \
        ('padded', 2.0, 4.0, 'bgr')


def test_padded_context_matches_nanotracks_crop_side():
    from track_core.foreign.siamese import context_side
    for w, h in ((40, 40), (80, 20), (10, 60)):
        assert crop_side(w, h, 2.0, 'padded') == pytest.approx(context_side(w, h), abs=1.0)
        assert crop_side(w, h, 2.0, 'area') == pytest.approx(2 * np.sqrt(w * h), abs=1.0)
    assert crop_side(80, 20, 2.0, 'padded') > crop_side(80, 20, 2.0, 'area')


def test_the_runtime_tracks_like_nanotrack_v3(ban_model, tmp_path):
    """Our runtime on the untrained ban model vs the SiamRPN-style runtime on NanoTrack v3."""
    path = save_checkpoint(tmp_path / 'ban.safetensors', ban_model,
                           stem_preprocess(ban_model.cfg, PreprocessConfig()))
    frames, boxes = moving_object_sequence(length=30, size=(240, 320), box_size=(48, 36),
                                           speed=5.0, seed=3)
    ours = load_tracker(path, device='cpu', backend='onnx', config=NANOTRACK_RUNTIME)
    theirs = SiameseTracker('nanotrack_v3', NanoTrackV3Torch(load_nanotrack_v3()),
                            NANOTRACK_V3)
    ours.initialize(frames[0], boxes[0])
    theirs.initialize(frames[0], boxes[0])
    agree, truth = [], []
    for frame, box in zip(frames[1:], boxes[1:]):
        a, b = ours.track(frame).box, theirs.track(frame)
        agree.append(_iou(a, b))
        truth.append(_iou(a, box))
    assert np.mean(agree) > 0.8, agree                 # measured 0.93
    assert np.mean(truth) > 0.6, truth


def test_onnx_graphs_of_the_ban_head_match_pytorch(ban_model, tmp_path):
    paths = export_onnx(ban_model, tmp_path)
    diffs = parity(ban_model, *paths)
    assert diffs['score_map'] < 1e-4 and diffs['size_map'] < 1e-3, diffs


def test_siamban_labels_and_losses():
    points = torch.arange(15, dtype=torch.float32).add(1).div(16)
    box = torch.tensor([[0.5, 0.5, 0.4, 0.2]])
    labels = ban_labels(box, points)[0]
    assert labels[7, 7] == 1 and labels[0, 0] == 0          # centre positive, corner negative
    assert (labels[7] == 1).sum() > (labels[:, 7] == 1).sum()  # the ellipse follows the box
    assert (labels == -1).any()                                # a ring is ignored
    good = torch.stack([torch.zeros(15, 15), torch.zeros(15, 15)])[None]
    good[0, 1][labels == 1], good[0, 0][labels == 0] = 5.0, 5.0
    bad = good.flip(1)
    assert ban_cls_loss(good, labels[None]) < 0.01 < ban_cls_loss(bad, labels[None])
    px, py = points.view(1, 15), points.view(15, 1)
    exact = torch.stack([px - 0.3 + 0 * py, py - 0.4 + 0 * px, 0.7 - px + 0 * py,
                         0.6 - py + 0 * px])[None]
    assert ban_iou_loss(exact, box, points, labels[None]) < 1e-5
    assert ban_iou_loss(exact * 1.5, box, points, labels[None]) > 0.1
    # a weight-0 sample adds nothing
    assert ban_iou_loss(exact * 1.5, box, points, labels[None], torch.zeros(1)) == 0


def test_a_training_step_moves_the_blocks_and_keeps_the_heads_statistics():
    torch.manual_seed(0)
    model = create_model('nt3_ban2', pretrained_stem=True)
    task = GroundTruthTask(model, freeze_stem=True).train()
    stats = model.box_head.cls_tower[1].running_mean.clone()
    optim = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=1e-3)
    batch = {'template': torch.rand(2, 3, 128, 128) * 255,
             'search': torch.rand(2, 3, 256, 256) * 255,
             'box': torch.tensor([[0.5, 0.5, 0.2, 0.3], [0.4, 0.6, 0.3, 0.2]])}
    losses = task(batch)
    assert {'loss/ban_cls', 'loss/ban_iou'} <= set(losses) and 'loss/focal' not in losses
    losses['loss'].backward()
    assert model.blocks[0].mlp.fc2.weight.grad.abs().sum() > 0
    assert model.stem.backbone.features[0][0].weight.grad is None
    optim.step()
    assert model.blocks[0].mlp.fc2.weight.abs().sum() > 0
    assert torch.equal(model.box_head.cls_tower[1].running_mean, stats)


def test_negative_pairs_and_an_iou_aware_score_in_the_losses():
    from track_core.train.losses import ban_point_iou
    from track_core.train.task import LossWeights, supervision_terms
    torch.manual_seed(0)
    model = create_model('nt3_ban2', pretrained_stem=True).eval()
    z, x = torch.rand(2, 3, 128, 128) * 255, torch.rand(2, 3, 256, 256) * 255
    with torch.no_grad():
        out = model(z, x)
    box = torch.tensor([[0.5, 0.5, 0.3, 0.3]] * 2)
    plain = {'box': box, 'has_box': torch.ones(2)}
    negative = {'box': box, 'has_box': torch.tensor([1.0, 0.0]),
                'negative': torch.tensor([0.0, 1.0])}
    a, _ = supervision_terms(out, plain, LossWeights())
    b, _ = supervision_terms(out, negative, LossWeights())
    assert not torch.allclose(a['loss/ban_cls'], b['loss/ban_cls'])
    # the negative pair adds no box term: only sample 0's box counts
    only_first = {'box': box[:1], 'has_box': torch.ones(1)}
    first = {k: v[:1] for k, v in out.items() if k != 'points'}
    c, _ = supervision_terms({**first, 'points': out['points']}, only_first, LossWeights())
    assert torch.allclose(b['loss/box_giou'], c['loss/box_giou'], atol=1e-6)
    # an IoU-aware target: a perfect box at the positives leaves the loss where it was
    iou = ban_point_iou(out['ltrb'], box, out['points'])
    assert iou.shape == (2, 15, 15) and float(iou.min()) >= 0 and float(iou.max()) <= 1
    q, _ = supervision_terms(out, plain, LossWeights(ban_quality=True))
    assert not torch.allclose(q['loss/ban_cls'], a['loss/ban_cls'])


def test_the_sampler_cuts_negative_pairs_from_another_draw(tmp_path):
    from track_core.data.sampler import PairDataset, SamplingConfig, SequenceSource
    from track_core.data.sequences import find_sequences
    from track_core.data.synthetic import write_uniform_sequence
    for k in range(3):
        frames, boxes = moving_object_sequence(8, seed=k)
        write_uniform_sequence(tmp_path, f'syn{k}', frames, boxes)
    source = SequenceSource(find_sequences(tmp_path))
    cfg = variant_config('tiny')
    data = PairDataset([source], None, cfg, sampling=SamplingConfig(negative_prob=0.5),
                       samples_per_epoch=40)
    items = [data[i] for i in range(40)]
    flags = np.array([float(it['negative']) for it in items])
    assert 8 < flags.sum() < 32                                  # about half
    assert all(float(it['has_box']) == 0 for it, f in zip(items, flags) if f)
    assert all(float(it['has_box']) == 1 for it, f in zip(items, flags) if not f)
    plain = PairDataset([source], None, cfg, samples_per_epoch=4)
    assert all(float(plain[i]['negative']) == 0 for i in range(4))


def test_a_moved_siamese_box_is_tracked_from_there_and_its_raw_size_measured():
    """``relocate`` (the scale response) and ``size_by_score=False`` (the size as found)."""
    from track_core.data.sequences import Sequence
    from track_core.eval.scale import scale_response
    frames, boxes = moving_object_sequence(length=12, size=(240, 320), box_size=(40, 30),
                                           speed=3.0, seed=5)
    seq = Sequence('syn', np.asarray(boxes, float), np.ones(len(boxes), bool),
                   source=lambda i: frames[i])
    published = SiameseTracker('nanotrack_v3', NanoTrackV3Torch(load_nanotrack_v3()),
                               NANOTRACK_V3)
    raw = SiameseTracker('nanotrack_v3', published.engine, dataclasses.replace(
        NANOTRACK_V3, penalty_k=0.0, lr=1.0, size_by_score=False))
    raw.initialize(frames[0], boxes[0])
    x, y, w, h = boxes[1]
    raw.relocate((x - 4, y + 3, 2 * w, 2 * h))
    assert raw.size == pytest.approx([2 * w, 2 * h]) and raw.zf is not None
    bx, by, bw, bh = raw.track(frames[1])
    assert _iou((bx, by, bw, bh), boxes[1]) > 0.3          # found again from the moved box
    factors = (0.5, 2.0)
    smoothed = scale_response(published, [seq], factors, frames_per_sequence=4)
    found = scale_response(raw, [seq], factors, frames_per_sequence=4)
    for f in factors:
        assert found[f]['samples'] == 4
        # the published size update keeps more of the error than the size as found
        assert abs(found[f]['log_error']) < abs(smoothed[f]['log_error'])
        assert abs(smoothed[f]['log_error']) < abs(np.log(f))
