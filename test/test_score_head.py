"""The score head: a confidence beside the box head, trained with the tracker frozen."""

import dataclasses

import numpy as np
import pytest
import torch

from track_core.checkpoint import load_model, save_checkpoint
from track_core.config import load_config
from track_core.data.sampler import PairDataset, SamplingConfig, SequenceSource, StillSource
from track_core.data.sequences import DataError, find_sequences
from track_core.data.stills import StillBox
from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
from track_core.export.onnx import export_onnx, parity
from track_core.net import create_model
from track_core.net.network import OneStreamTracker
from track_core.runtime import load_tracker, TrackerConfig
from track_core.train.config import TrainConfig
from track_core.train.run import run
from track_core.train.task import ScoreTask
from track_core.types import TrackState

MAP_KEYS = ('score_map', 'size_map', 'offset_map')


def with_score_head(model):
    """``model`` plus an untrained score head (its own weights carried over)."""
    scored = OneStreamTracker(dataclasses.replace(model.cfg, score_head='query'))
    missing, unexpected = scored.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith('score_head.') for k in missing)
    return scored.eval()


def _inputs(cfg, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, cfg.template_size, cfg.template_size, generator=g),
            torch.randn(n, 3, cfg.search_size, cfg.search_size, generator=g))


def test_a_score_head_adds_a_confidence_and_changes_no_map():
    torch.manual_seed(0)
    model = create_model('tiny').eval()
    scored = with_score_head(model)
    with torch.no_grad():                  # weights that tell crops apart (as trained ones do)
        for p in scored.score_head.parameters():
            p.normal_(0.0, 0.3)
    z, x = _inputs(model.cfg)
    with torch.no_grad():
        plain, out = model(z, x), scored(z, x)
    for key in MAP_KEYS:
        assert torch.equal(plain[key], out[key]), key
    assert 'confidence' not in plain
    assert out['confidence'].shape == (3,)
    assert bool(((out['confidence'] > 0) & (out['confidence'] < 1)).all())
    # it reads the search tokens: other crops, other confidences
    with torch.no_grad():
        other = scored(z, torch.flip(x, dims=[0]))
    assert not torch.allclose(other['confidence'], out['confidence'])


def test_score_head_names_are_checked():
    with pytest.raises(ValueError, match='score_head must be one of'):
        create_model('tiny', score_head='mlp')


def test_onnx_graph_carries_the_confidence(tmp_path):
    torch.manual_seed(0)
    scored = with_score_head(create_model('tiny'))
    paths = export_onnx(scored, tmp_path)
    diffs = parity(scored, *paths)
    assert 'confidence' in diffs and max(diffs.values()) < 1e-4, diffs


def _set_confidence(model, logit):
    """Make the score head say ``sigmoid(logit)`` whatever it sees."""
    last = model.score_head.mlp[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(logit)
    return model


@pytest.mark.parametrize('backend', ['torch', 'onnx'])
def test_the_state_follows_the_confidence_and_the_boxes_do_not(backend, tmp_path):
    torch.manual_seed(0)
    model = create_model('tiny').eval()
    plain = save_checkpoint(tmp_path / 'plain.safetensors', model)
    sure = save_checkpoint(tmp_path / 'sure.safetensors', _set_confidence(
        with_score_head(model), 8.0))
    unsure = save_checkpoint(tmp_path / 'unsure.safetensors', _set_confidence(
        with_score_head(model), -8.0))
    frames, boxes = moving_object_sequence(8, seed=4)
    config = TrackerConfig(lost_threshold=0.5, lost_frames=3, recover_threshold=0.5)
    never_lost = dataclasses.replace(config, lost_threshold=0.0)
    runs = {}
    for name, path, cfg in (('plain', plain, never_lost), ('sure', sure, config),
                            ('unsure', unsure, config)):
        tracker = load_tracker(path, device='cpu', backend=backend, config=cfg)
        tracker.initialize(frames[0], boxes[0])
        runs[name] = [tracker.track(f) for f in frames[1:]]
    # a confident head: never LOST, and exactly the boxes of the model without the head
    assert all(r.state == TrackState.TRACKING for r in runs['sure'])
    np.testing.assert_allclose([r.box for r in runs['sure']], [r.box for r in runs['plain']],
                               atol=1e-6)
    assert all(r.score == pytest.approx(1 / (1 + np.exp(-8.0)), abs=1e-4) for r in runs['sure'])
    # an unsure one: SEARCHING from the third low frame, whatever the box head's peak says
    states = [r.state for r in runs['unsure']]
    assert states[:2] == [TrackState.TRACKING] * 2
    assert all(s == TrackState.SEARCHING for s in states[2:])
    assert min(r.score for r in runs['plain']) < 0.5     # the peak alone would have lost it


def test_absent_threshold_reports_lost_at_once_and_leaves_the_boxes_alone(tmp_path):
    torch.manual_seed(0)
    model = create_model('tiny').eval()
    unsure = save_checkpoint(tmp_path / 'unsure.safetensors', _set_confidence(
        with_score_head(model), -2.0))                       # 0.12 on every frame
    frames, boxes = moving_object_sequence(8, seed=4)
    rule = TrackerConfig(lost_threshold=0.05, lost_frames=3, recover_threshold=0.5)
    runs = {}
    for absent in (0.0, 0.2, 0.1):
        tracker = load_tracker(unsure, device='cpu', config=dataclasses.replace(
            rule, absent_threshold=absent))
        tracker.initialize(frames[0], boxes[0])
        runs[absent] = [tracker.track(f) for f in frames[1:]]
    assert all(r.state == TrackState.TRACKING for r in runs[0.0])    # 0.12 is above 0.05
    assert all(r.state == TrackState.UNSURE for r in runs[0.2])      # not seen, said at once
    assert all(r.state == TrackState.TRACKING for r in runs[0.1])
    for absent in (0.2, 0.1):                                # still followed: the same boxes
        assert [r.box for r in runs[absent]] == [r.box for r in runs[0.0]]
    with pytest.raises(ValueError, match='absent_threshold'):
        TrackerConfig(absent_threshold=1.5)


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn_score')
    for k in range(3):
        frames, boxes = moving_object_sequence(16, seed=20 + k)
        write_uniform_sequence(root / 'sot', f'syn{k}', frames, boxes)
    return root / 'sot'


def test_background_negatives_leave_the_target_out(synthetic_root):
    cfg = create_model('tiny').cfg
    source = SequenceSource(find_sequences(synthetic_root))
    data = PairDataset([source], None, cfg, sampling=SamplingConfig(background_prob=1.0),
                       samples_per_epoch=6, seed=1)
    items = [data[i] for i in range(len(data))]
    assert all(float(it['negative']) == 1.0 and float(it['has_box']) == 0.0 for it in items)
    rng = np.random.default_rng(0)
    image = np.zeros((240, 320, 3), np.uint8)
    box = (100.0, 80.0, 30.0, 40.0)
    for _ in range(50):
        centre = data._away_centre(rng, image, box, 64.0)
        assert centre is not None
        cx, cy = centre
        ix = max(0.0, min(130.0, cx + 32) - max(100.0, cx - 32))
        iy = max(0.0, min(120.0, cy + 32) - max(80.0, cy - 32))
        assert ix * iy <= 0.1 * 30 * 40
    # a target filling the frame leaves no crop without it
    assert data._away_centre(rng, image, (0.0, 0.0, 320.0, 240.0), 64.0) is None


def _two_of_a_kind(tmp_path):
    """One still: a red 'thing' (the template's target), a blue one 40 px to its right."""
    import cv2
    image = np.full((240, 480, 3), 128, np.uint8)
    image[100:130, 20:50] = (255, 0, 0)
    image[100:130, 90:120] = (0, 0, 255)
    path = tmp_path / 'two.png'
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return [StillBox(path, np.array([20.0, 100.0, 30.0, 30.0]), 'thing'),
            StillBox(path, np.array([90.0, 100.0, 30.0, 30.0]), 'thing')]


def _two_of_a_kind_pairs(tmp_path, sampling, count, seed):
    """Pairs drawn from ``_two_of_a_kind``, and the red and blue as the crops hold them."""
    data = PairDataset([StillSource(_two_of_a_kind(tmp_path))], None, create_model('tiny').cfg,
                       sampling=sampling, samples_per_epoch=count, seed=seed)
    red, blue = (data.normalize([np.full((1, 1, 3), c, np.uint8)])[0][:, 0, 0]
                 for c in ((255, 0, 0), (0, 0, 255)))
    return data, red, blue


def test_look_alike_negatives_show_the_other_object_not_the_target(tmp_path):
    sampling = SamplingConfig(negative_prob=1.0, look_alike_prob=1.0, grayscale_prob=0.0,
                              brightness=0.0, center_jitter=0.5)
    data, red, blue = _two_of_a_kind_pairs(tmp_path, sampling, 12, seed=3)

    def share(crop, colour):
        return float((np.abs(crop - colour[:, None, None]).max(0) < 0.05).mean())

    for i in range(len(data)):
        item = data[i]
        assert float(item['negative']) == 1.0 and float(item['has_box']) == 0.0
        template, search = item['template'].numpy(), item['search'].numpy()
        if share(template, red) > 0.05:        # the red one is the target: blue in the crop
            assert share(search, red) < 0.01 and share(search, blue) > 0.01, i
        else:
            assert share(template, blue) > 0.05
            assert share(search, blue) < 0.01 and share(search, red) > 0.01, i


def test_look_alike_negatives_need_a_label_that_occurs_twice(tmp_path):
    cfg = create_model('tiny').cfg
    boxes = _two_of_a_kind(tmp_path)
    boxes[1].label = 'other'
    with pytest.raises(DataError, match='label that occurs twice'):
        PairDataset([StillSource(boxes)], None, cfg,
                    sampling=SamplingConfig(negative_prob=1.0, look_alike_prob=1.0))


def test_look_alike_pairs_keep_to_objects_of_the_minimum_size(tmp_path):
    # three 'thing's: two of 30 px and one of 12 px; at 20 px only the two large ones pair
    boxes = _two_of_a_kind(tmp_path)
    boxes.append(StillBox(boxes[0].image, np.array([200.0, 20.0, 12.0, 12.0]), 'thing'))
    stills = StillSource(boxes)
    rng = np.random.default_rng(0)
    drawn = set()
    for _ in range(60):
        _, a, _, b, _ = stills.look_alike(rng, min_size=20.0)
        drawn.update({float(a[2]), float(b[2])})
    assert drawn == {30.0}
    drawn = set()
    for _ in range(60):
        _, a, _, b, _ = stills.look_alike(rng)
        drawn.update({float(a[2]), float(b[2])})
    assert drawn == {12.0, 30.0}                        # without it, the small one as well
    with pytest.raises(DataError, match='40 px or more'):
        stills.look_alike(rng, min_size=40.0)


def test_score_task_trains_the_head_only_and_learns_negatives():
    torch.manual_seed(0)
    tracker = create_model('tiny').eval()
    task = ScoreTask(tracker)
    before = {k: v.clone() for k, v in tracker.state_dict().items()}
    assert [n for n, p in task.named_parameters() if p.requires_grad] and \
        all(n.startswith('score_head.') for n, p in task.named_parameters())
    z, x = _inputs(tracker.cfg, n=8, seed=1)
    negative = torch.tensor([0.0, 1.0] * 4)
    with torch.no_grad():                 # the positives' truth: the tracker's own box (IoU 1)
        truth = tracker(z, x)['box']
    batch = {'template': z, 'search': x, 'box': truth, 'has_box': 1 - negative,
             'negative': negative}
    optim = torch.optim.Adam(task.score_head.parameters(), lr=3e-3)
    task.train()
    first = task(batch)['loss'].item()
    for _ in range(60):
        loss = task(batch)['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert loss.item() < first
    model = task.trained_model()
    with torch.no_grad():
        out, ref = model(z, x), tracker(z, x)
    for key in MAP_KEYS:
        assert torch.equal(out[key], ref[key]), key
    assert all(torch.equal(v, before[k]) for k, v in tracker.state_dict().items())
    conf = out['confidence']
    assert conf[negative > 0].max() < conf[negative == 0].min()


def test_track_train_score_writes_a_model_with_its_confidence(synthetic_root, tmp_path):
    torch.manual_seed(0)
    init = save_checkpoint(tmp_path / 'tracker.safetensors', create_model('tiny'),
                           extra={'runtime': {'lost_threshold': 0.9}})
    cfg = load_config(TrainConfig, None, [
        f'init={init}', f'data.sot=["{synthetic_root}"]', 'data.stills_csv=[]',
        'data.samples_per_epoch=8', 'data.sampling.negative_prob=0.5', 'optim.epochs=1',
        'optim.batch_size=4', 'optim.num_workers=0', f'out_dir={tmp_path / "score"}'])
    run('score', cfg, progress=False)
    path = tmp_path / 'score' / 'model.safetensors'
    model, _ = load_model(path)
    assert model.cfg.score_head == 'query'
    assert 'loss/score' in (tmp_path / 'score' / 'log.csv').read_text()
    frames, boxes = moving_object_sequence(3, seed=9)
    tracker = load_tracker(path, device='cpu', config=TrackerConfig())
    tracker.initialize(frames[0], boxes[0])
    assert 0.0 < tracker.track(frames[1]).score < 1.0
    # scoring it again starts a new head on the same frozen tracker
    torch.manual_seed(0)
    again = ScoreTask(model)
    assert not again.tracker.cfg.score_head
    assert not torch.equal(again.score_head.mlp[-1].weight, model.score_head.mlp[-1].weight)
    plain, _ = load_model(init)
    assert all(torch.equal(v, plain.state_dict()[k])
               for k, v in again.tracker.state_dict().items())


def test_score_needs_the_tracker_to_score(tmp_path):
    from track_core.config import ConfigError
    cfg = load_config(TrainConfig, None, [f'out_dir={tmp_path}'])
    with pytest.raises(ConfigError, match='init=PATH'):
        run('score', cfg, progress=False)


def test_crowd_pairs_show_the_target_and_its_look_alike_with_the_box_on_the_target(tmp_path):
    sampling = SamplingConfig(crowd_prob=1.0, grayscale_prob=0.0, brightness=0.0,
                              flip_prob=0.0, scale_jitter=0.05)
    data, red, blue = _two_of_a_kind_pairs(tmp_path, sampling, 16, seed=5)

    def mask(crop, colour):
        return (np.abs(crop - colour[:, None, None]).max(0) < 0.05)

    targets = set()
    for i in range(len(data)):
        item = data[i]
        assert float(item['negative']) == 0.0 and float(item['has_box']) == 1.0
        template, search = item['template'].numpy(), item['search'].numpy()
        mine, other = (red, blue) if mask(template, red).mean() > mask(template, blue).mean() \
            else (blue, red)
        targets.add(tuple(mine))
        assert mask(search, mine).mean() > 0.01 and mask(search, other).mean() > 0.01, i
        size = search.shape[1]
        cx, cy = (float(v) * size for v in item['box'][:2])
        assert mask(search, mine)[int(cy), int(cx)], i      # the label is on the template's
    assert len(targets) == 2                                 # either one as the target


def test_crowd_pairs_need_an_image_holding_a_label_twice(tmp_path):
    cfg = create_model('tiny').cfg
    boxes = _two_of_a_kind(tmp_path)
    boxes[1].label = 'other'
    with pytest.raises(DataError, match='holding a label twice'):
        PairDataset([StillSource(boxes)], None, cfg, sampling=SamplingConfig(crowd_prob=1.0))
    with pytest.raises(DataError, match='40 px or more'):
        StillSource(_two_of_a_kind(tmp_path)).crowd(np.random.default_rng(0), min_size=40.0)


@pytest.mark.parametrize('option, size_key', [('crowd_prob', 'crowd_min_size'),
                                              ('look_alike_prob', 'look_alike_min_size')])
def test_a_minimum_size_no_pair_reaches_fails_at_start_up(tmp_path, option, size_key):
    # the two 'thing's are 30 px: at 30 they pair, at 31 none does, and that is said up front
    # (not as skipped draws, then "no usable pair" mid-epoch)
    cfg = create_model('tiny').cfg
    sources = [StillSource(_two_of_a_kind(tmp_path))]
    negative = 1.0 if option == 'look_alike_prob' else 0.0
    PairDataset(sources, None, cfg, sampling=SamplingConfig(
        **{option: 1.0, size_key: 30.0, 'negative_prob': negative}))
    with pytest.raises(DataError, match=rf'{size_key} \(31 px\) or more'):
        PairDataset(sources, None, cfg, sampling=SamplingConfig(
            **{option: 1.0, size_key: 31.0, 'negative_prob': negative}))
