import math

import numpy as np
import pytest
import torch

from track_core.checkpoint import save_checkpoint
from track_core.net import create_model, PreprocessConfig
from track_core.runtime import load_tracker, Tracker, TrackerConfig, TrackState
from track_core.runtime.backends import TorchBackend
from track_core.runtime.decode import decode_center, size_change_penalty
from track_core.runtime.preprocess import (crop_side, crop_square, crop_to_image, hann2d,
                                           image_to_crop)


def make_tracker(name='tiny', config=TrackerConfig(), seed=0, **changes):
    torch.manual_seed(seed)
    model = create_model(name, **changes)
    return Tracker(TorchBackend(model, device='cpu'), model.cfg, PreprocessConfig(), config)


# ----------------------------------------------------------------- crop and map back
def test_crop_map_back_round_trip():
    box = np.array([130.0, 70.0, 40.0, 20.0])
    for cx, cy, side in ((120.0, 80.0, 113.0), (10.0, 5.0, 64.0)):
        back = crop_to_image(image_to_crop(box, cx, cy, side), cx, cy, side)
        assert back == pytest.approx(box)


def test_crop_puts_the_target_where_map_back_says():
    image = np.zeros((200, 300, 3), np.uint8)
    image[60:80, 100:140] = 255                     # x 100..140, y 60..80: a 40 x 20 box
    box_cxcywh = np.array([120.0, 70.0, 40.0, 20.0])
    cx, cy = 131.0, 64.0                            # crop centre off the target
    side = crop_side(40, 20, 4.0)
    out = 128
    crop = crop_square(image, cx, cy, side, out)
    ys, xs = np.nonzero(crop[..., 0] > 127)
    found = np.array([(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2,
                      xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]) / out
    expected = image_to_crop(box_cxcywh, cx, cy, side)
    assert found == pytest.approx(expected, abs=1.5 / out)


def test_crop_outside_the_image_is_zero_padded():
    image = np.full((50, 50, 3), 200, np.uint8)
    crop = crop_square(image, 0.0, 0.0, 50.0, 50)
    assert crop[:20, :20].max() == 0 and crop[30:, 30:].min() == 200


# ----------------------------------------------------------------- decode
def test_hann_window_formula():
    w = hann2d(4)
    one = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, 5) / 5))
    assert w == pytest.approx(np.outer(one, one))


def test_hann_window_prefers_the_peak_near_the_centre():
    f = 16
    score = np.full((f, f), 0.01)
    score[0, 0] = 0.9          # corner peak, first in argmax order
    score[8, 7] = 0.85         # near the centre
    size = np.full((2, f, f), 0.1)
    offset = np.zeros((2, f, f))
    plain, s_plain, _ = decode_center(score, size, offset)
    windowed, s_win, _ = decode_center(score, size, offset, hann2d(f))
    assert plain[:2] == pytest.approx([0.0, 0.0])
    assert windowed[:2] == pytest.approx([7 / f, 8 / f])
    assert (s_plain, s_win) == (pytest.approx(0.9), pytest.approx(0.85))


def test_window_blend_mixes_the_window_in():
    f = 15
    score = np.full((f, f), 0.01)
    score[0, 0] = 0.9
    size, offset = np.full((2, f, f), 0.1), np.zeros((2, f, f))
    # a small blend keeps the far peak, a large one moves to the centre
    weak, _, _ = decode_center(score, size, offset, hann2d(f), window_blend=0.1)
    strong, s, _ = decode_center(score, size, offset, hann2d(f), window_blend=0.95)
    assert weak[:2] == pytest.approx([0.0, 0.0])
    assert strong[:2] == pytest.approx([7 / f, 7 / f]) and s == pytest.approx(0.01)
    # multiplying by the window (blend 0) zeroes nothing out here but ranks 0.9 x w(0, 0) low
    plain, _, _ = decode_center(score, size, offset, hann2d(f))
    assert plain[:2] == pytest.approx([7 / f, 7 / f])


def test_a_model_brings_its_own_runtime_settings(tmp_path):
    from track_core.errors import CheckpointError
    from track_core.runtime import model_runtime
    from track_core.runtime.loader import with_runtime
    own = TrackerConfig(window_blend=0.3, size_smoothing=0.7, lost_threshold=0.2)
    path = save_checkpoint(tmp_path / 'own.safetensors', create_model('tiny'),
                           extra=with_runtime({'note': 'kept'}, own))
    assert load_tracker(path, device='cpu').config == own
    assert model_runtime(path, {'lost_threshold': 0.05}) == \
        TrackerConfig(window_blend=0.3, size_smoothing=0.7, lost_threshold=0.05)
    given = TrackerConfig(size_penalty=0.0)
    assert load_tracker(path, device='cpu', config=given).config == given
    plain = save_checkpoint(tmp_path / 'plain.safetensors', create_model('tiny'))
    assert load_tracker(plain, device='cpu').config == TrackerConfig()
    with pytest.raises(ValueError, match='lost_threshold'):
        model_runtime(path, {'lost_threshold': 7})
    for stored, words in (({'lost_threshold': 'high'}, 'lost_threshold'),
                          ({'no_such': 1}, 'no_such'), ({'size_penalty': -1}, 'size_penalty')):
        bad = save_checkpoint(tmp_path / 'bad.safetensors', create_model('tiny'),
                              extra={'runtime': stored})
        with pytest.raises(CheckpointError, match=words):
            load_tracker(bad, device='cpu')


def test_size_penalty_values():
    prior = (0.2, 0.1)
    sizes = np.array([[0.2, 0.4, 0.1], [0.1, 0.2, 0.2]]).reshape(2, 1, 3)
    pen = size_change_penalty(sizes, prior, 0.5)[0]
    assert pen[0] == pytest.approx(1.0)                    # same box
    assert pen[1] == pytest.approx(math.exp(-0.5))         # twice the size, same aspect
    # same padded side (0.2 x 0.1 -> 0.35 x 0.25; 0.1 x 0.2 likewise), aspect 2 -> 0.5
    assert pen[2] == pytest.approx(math.exp(-0.5 * 3))


def test_size_penalty_picks_the_peak_that_keeps_the_size():
    f = 16
    score = np.full((f, f), 0.01)
    size = np.full((2, f, f), 0.1)
    offset = np.zeros((2, f, f))
    score[8, 8], size[:, 8, 8] = 0.9, 0.4       # best score, but four times the size
    score[8, 6], size[:, 8, 6] = 0.8, 0.1       # slightly lower, the prior's size
    box, raw, penalty = decode_center(score, size, offset)
    assert box[2] == pytest.approx(0.4) and penalty == 1.0
    box, raw, penalty = decode_center(score, size, offset, prior=(0.1, 0.1), size_penalty=0.2)
    assert box[2] == pytest.approx(0.1) and raw == pytest.approx(0.8)
    # the returned penalty is the peak's, the one the size update weighs by
    assert penalty == pytest.approx(size_change_penalty(size, (0.1, 0.1), 0.2)[8, 6])


@pytest.mark.parametrize('seed', range(5))
def test_runtime_and_training_decoders_agree_on_random_maps(seed):
    # net/heads.py (torch, training) and runtime/decode.py (numpy) place a box the same way
    import torch
    from track_core.net.heads import decode_center_maps
    rng = np.random.default_rng(seed)
    f = int(rng.integers(4, 20))
    score = rng.random((2, 1, f, f)).astype(np.float32)
    size = rng.random((2, 2, f, f)).astype(np.float32)
    offset = rng.random((2, 2, f, f)).astype(np.float32)
    boxes, scores = decode_center_maps(*(torch.from_numpy(a) for a in (score, size, offset)))
    for i in range(2):
        box, raw, _ = decode_center(score[i, 0], size[i], offset[i])
        assert box == pytest.approx(boxes[i].numpy(), abs=1e-6)
        assert raw == pytest.approx(float(scores[i]))


def test_size_by_confidence_slows_size_changes_on_unsure_frames(make_frame):
    frames = [make_frame() for _ in range(3)]
    sizes = {}
    for by_confidence in (False, True):
        tracker = make_tracker(config=TrackerConfig(size_by_confidence=by_confidence,
                                                    lost_frames=100))
        tracker.initialize(frames[0], (150, 100, 30, 40))
        _set_confidence(tracker, -3.0)                        # score ~0.05
        sizes[by_confidence] = np.array(tracker.track(frames[1]).box[2:])
    start = np.array([30.0, 40.0])
    moved = np.abs(sizes[True] - start)
    assert np.abs(sizes[False] - start).max() > 1.0           # the network changes the size
    assert moved.max() < 0.1 * np.abs(sizes[False] - start).max()


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize('image, words', [
    (np.zeros((40, 40, 3), np.float32), 'dtype must be uint8'),
    (np.zeros((40, 40), np.uint8), r'shape \(H, W, 3\)'),
    (np.zeros((40, 40, 4), np.uint8), r'shape \(H, W, 3\)'),
    ([[0, 0, 0]], 'numpy array'),
])
def test_bad_images_are_explained(image, words):
    tracker = make_tracker()
    with pytest.raises((TypeError, ValueError), match=words):
        tracker.initialize(image, (1, 1, 5, 5))


@pytest.mark.parametrize('box, words', [
    ((10, 10, 0, 5), 'positive'),
    ((10, 10, -3, 5), 'positive'),
    ((10, 10, math.nan, 5), 'NaN'),
    ((400, 10, 5, 5), 'outside'),
])
def test_bad_boxes_are_explained(box, words, make_frame):
    tracker = make_tracker()
    with pytest.raises(ValueError, match=words):
        tracker.initialize(make_frame(), box)


def test_track_before_initialize(make_frame):
    tracker = make_tracker()
    with pytest.raises(RuntimeError, match='initialize'):
        tracker.track(make_frame())


def test_target_bookkeeping_errors(make_frame):
    tracker = make_tracker()
    tracker.max_targets = 2
    image = make_frame()
    tracker.add_target(image, (10, 10, 20, 20))
    tracker.add_target(image, (50, 10, 20, 20))
    with pytest.raises(ValueError, match='max_targets'):
        tracker.add_target(image, (90, 10, 20, 20))
    with pytest.raises(KeyError, match='no target with id'):
        tracker.remove_target('nope')


def test_invalid_tracker_config():
    with pytest.raises(ValueError, match='lost_frames'):
        TrackerConfig(lost_frames=0)


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    path = save_checkpoint(tmp_path / 't.safetensors', create_model('tiny'))
    with pytest.raises(RuntimeError, match='CUDA is not available'):
        load_tracker(path, device='cuda')
    with pytest.raises(ValueError, match='backend must be one of'):
        load_tracker(path, backend='tflite')


# ----------------------------------------------------------------- behaviour
def test_results_are_in_the_image_with_a_score(make_frame):
    tracker = make_tracker()
    frames = [make_frame() for _ in range(4)]
    tracker.initialize(frames[0], (150, 100, 30, 40))
    for frame in frames[1:]:
        r = tracker.track(frame)
        x, y, w, h = r.box
        assert 0 <= x and 0 <= y and x + w <= 320 + 1e-6 and y + h <= 240 + 1e-6
        assert w > 0 and h > 0 and 0.0 <= r.score <= 1.0


@pytest.mark.parametrize('name', ['tiny', 'tiny_token'])
def test_batched_targets_equal_single_target_runs(name, make_frame):
    frames = [make_frame() for _ in range(3)]
    boxes = [(20, 30, 40, 30), (150, 100, 30, 40), (250, 180, 50, 45)]
    multi = make_tracker(name)
    ids = [multi.add_target(frames[0], b) for b in boxes]
    batched = [multi.track_all(f) for f in frames[1:]]
    for tid, box in zip(ids, boxes):
        single = make_tracker(name)
        single.initialize(frames[0], box)
        for frame, res in zip(frames[1:], batched):
            alone = single.track(frame)
            assert res[tid].box == pytest.approx(alone.box, abs=1e-3)
            assert res[tid].score == pytest.approx(alone.score, abs=1e-5)


def _set_confidence(tracker, logit):
    # A real network whose score map is pushed to sigmoid(logit) everywhere.
    head = tracker.backend.model.box_head
    with torch.no_grad():
        head.conv5_ctr.weight.zero_()
        head.conv5_ctr.bias.fill_(logit)


def test_lost_after_k_low_frames_then_reacquired(make_frame):
    cfg = TrackerConfig(lost_threshold=0.3, lost_frames=3, recover_threshold=0.5,
                        search_growth=1.5, max_search_scale=2.0)
    tracker = make_tracker(config=cfg)
    frames = [make_frame() for _ in range(8)]
    tracker.initialize(frames[0], (150, 100, 30, 40))
    _set_confidence(tracker, -8.0)
    states = [tracker.track(f) for f in frames[1:5]]
    assert [r.state for r in states] == [TrackState.TRACKING] * 2 + [TrackState.SEARCHING] * 2
    assert [r.frames_below_threshold for r in states] == [1, 2, 3, 4]
    # While searching the reported box stays where it was when the target was lost.
    assert states[3].box == states[2].box
    _set_confidence(tracker, 8.0)
    back = tracker.track(frames[5])
    assert back.state == TrackState.REACQUIRED and back.score > 0.99
    assert back.frames_below_threshold == 0
    assert tracker.track(frames[6]).state == TrackState.TRACKING


@pytest.mark.parametrize('name, value, loads', [
    ('lost_follow', False, True), ('update_interval', 0, True), ('update_threshold', 0.8, True),
    ('lost_follow', True, False), ('lost_rollback', True, False), ('update_interval', 5, False),
])
def test_retired_settings_load_only_at_their_off_values(tmp_path, name, value, loads):
    # Checkpoints written before lost_follow / lost_rollback / update_* were removed store
    # them; a model that relied on one of them being on is refused with the reason.
    import dataclasses
    from track_core.errors import CheckpointError
    from track_core.runtime import model_runtime
    stored = {**dataclasses.asdict(TrackerConfig(lost_frames=7)), name: value}
    path = save_checkpoint(tmp_path / 'old.safetensors', create_model('tiny'),
                           extra={'runtime': stored})
    if loads:
        assert model_runtime(path).lost_frames == 7
    else:
        with pytest.raises(CheckpointError, match=name):
            model_runtime(path)


def test_presence_follows_unsure_frames_and_counts_one_loss(make_frame):
    # absent_threshold makes a low frame UNSURE (not reported) while the box is still
    # followed; only lost_frames low frames in a row make it SEARCHING.
    cfg = TrackerConfig(lost_threshold=0.3, lost_frames=3, absent_threshold=0.4,
                        hann_window=False, size_smoothing=0.0, size_by_confidence=False,
                        size_penalty=0.0)
    tracker = make_tracker(config=cfg)
    frames = [make_frame() for _ in range(6)]
    tracker.initialize(frames[0], (150, 100, 30, 40))
    _set_confidence(tracker, -8.0)
    low = [tracker.track(f) for f in frames[1:5]]
    assert [r.state for r in low] == [TrackState.UNSURE] * 2 + [TrackState.SEARCHING] * 2
    assert not any(r.present for r in low)
    assert low[1].box != pytest.approx(low[0].box)         # UNSURE: still followed
    assert low[3].box == low[2].box                         # SEARCHING: held
    _set_confidence(tracker, 8.0)
    assert tracker.track(frames[5]).state == TrackState.REACQUIRED


def test_reinitialize_replaces_the_target(make_frame):
    tracker = make_tracker()
    image = make_frame()
    tracker.initialize(image, (10, 10, 20, 20))
    tracker.initialize(image, (100, 100, 30, 30))
    assert tracker.target_ids == ['1']
    tracker.reset()
    assert tracker.target_ids == []


def test_relocate_moves_the_box_and_keeps_the_template(make_frame):
    tracker = make_tracker()
    image = make_frame()
    tracker.initialize(image, (150, 100, 30, 40))
    template = tracker._targets['1'].z_tokens.copy()
    tracker.relocate((20, 30, 60, 20), image_size=(image.shape[1], image.shape[0]))
    assert tracker.result('1').box == (20.0, 30.0, 60.0, 20.0)
    assert np.array_equal(tracker._targets['1'].z_tokens, template)
    with pytest.raises(ValueError, match='positive'):
        tracker.relocate((20, 30, 0, 20))
    with pytest.raises(KeyError, match='no target'):
        tracker.relocate((20, 30, 10, 20), target_id='7')


@pytest.mark.parametrize('mean, std, flip', [
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False),     # ImageNet, RGB
    ((0.0, 0.0, 0.0), (1 / 255.0,) * 3, True),                   # NanoTrack: BGR 0..255
    ((0.5, 0.4, 0.3), (0.2, 0.3, 0.4), True),
])
def test_the_one_pass_normaliser_equals_the_formula(mean, std, flip):
    from track_core.runtime.preprocess import Normalizer
    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 256, (64, 48, 3), dtype=np.uint8) for _ in range(3)]
    norm = Normalizer(mean, std, flip)
    fast = norm(crops)
    assert fast.shape == (3, 3, 64, 48) and fast.dtype == np.float32
    assert fast.flags['C_CONTIGUOUS']
    want = (np.stack(crops).astype(np.float64)[..., ::-1 if flip else 1] / 255.0
            - np.array(mean)) / np.array(std)
    assert np.abs(fast - want.transpose(0, 3, 1, 2)).max() < 1e-4 * max(1.0, np.abs(want).max())
    assert np.abs(fast - norm.reference(crops)).max() < 1e-5 * max(1.0, np.abs(want).max())


def _back_smaller_scene(seed, side=20):
    """Return frames: a 48-px patch for 6 frames, gone for 8, back where it was at ``side``."""
    import cv2
    from track_core.data.synthetic import blurred_scene
    background, patch = blurred_scene(np.random.default_rng(seed), (240, 320), 48, 8)

    def frame(side=0, at=(140, 100)):
        image = background.copy()
        if side:
            small = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
            image[at[1]:at[1] + side, at[0]:at[0] + side] = small
        return image
    return [frame(48)] * 7 + [frame()] * 8 + [frame(side, (164 - side // 2, 124 - side // 2))] * 4


@pytest.mark.parametrize('seed', [0, 1])
def test_a_target_back_smaller_where_it_left_is_found_by_the_near_crop(seed):
    # The shipped model (ONNX Runtime) on a generated scene: after 8 frames away the local
    # search is at twice the normal crop, which shows the 20-px target at a fifth of the
    # template's scale: never found. search_near also searches the normal crop there.
    import dataclasses
    import pathlib
    from track_core.runtime import model_runtime
    model = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'
    frames = _back_smaller_scene(seed)
    states = {}
    for near in (False, True):
        cfg = dataclasses.replace(model_runtime(model), search_near=near, scan_tiles=0,
                                  appearance_threshold=0.0)
        tracker = load_tracker(model, backend='onnx', config=cfg)
        tracker.initialize(frames[0], (140, 100, 48, 48))
        states[near] = [tracker.track(f) for f in frames[1:]]
    away = slice(8, 14)                 # the last frames without the target
    for near in (False, True):
        assert all(r.state == TrackState.SEARCHING for r in states[near][away])
    assert all(r.state == TrackState.SEARCHING for r in states[False][14:])
    back = states[True][14:]
    assert back[0].state == TrackState.REACQUIRED
    assert back[-1].state == TrackState.TRACKING
    x, y, w, h = back[-1].box
    assert abs(x + w / 2 - 164) < 8 and abs(y + h / 2 - 124) < 8     # on it,
    assert w < 46 and h < 46                # shrinking towards it (the size is smoothed)


def test_the_near_crop_runs_in_the_same_batch_only_while_searching(make_frame):
    cfg = TrackerConfig(lost_threshold=0.3, lost_frames=2, search_growth=1.5,
                        max_search_scale=2.0, search_near=True)
    tracker = make_tracker(config=cfg)
    batches = []
    run = tracker.backend.run

    def counted(z, x):
        batches.append(len(x))
        out = run(z, x)
        counted.out = out
        return out
    tracker.backend.run = counted
    frames = [make_frame() for _ in range(6)]
    tracker.initialize(frames[0], (150, 100, 30, 40))
    _set_confidence(tracker, -8.0)
    results = [tracker.track(f) for f in frames[1:5]]
    assert [r.state for r in results] == [TrackState.TRACKING] + [TrackState.SEARCHING] * 3
    # the frame it is lost on searches one crop; then widened (1.5, 2.0): two crops
    assert batches == [1, 1, 2, 2]
    # the score is the more confident of the two crops'
    scores = [float(v) for v in counted.out['score_map'][:, 0].reshape(2, -1).max(axis=1)]
    assert results[-1].score == pytest.approx(max(scores), abs=1e-6)


# ----------------------------------------------------------------- sized again where in doubt

def _shipped(**changes):
    """Return the shipped model (ONNX Runtime) with its own settings, some changed."""
    import dataclasses
    import pathlib
    from track_core.runtime import model_runtime
    model = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'
    return load_tracker(model, backend='onnx',
                        config=dataclasses.replace(model_runtime(model), **changes))


@pytest.mark.parametrize('seed', [0, 1])
def test_a_target_found_again_smaller_is_sized_as_it_is(seed):
    # The target comes back at 20 px where it left at 48: the network keeps most of the scale
    # of the crop it is handed (cut for 48), so the box found is about the old size. With
    # rescale_on_return it is searched again at x0.35 .. x2 and the scale the confidence prefers
    # gives the box: the true one at once.
    frames = _back_smaller_scene(seed)
    back = {}
    for rescale in (False, True):
        tracker = _shipped(search_near=True, scan_tiles=0, appearance_threshold=0.0,
                           rescale_on_return=rescale, rescale_unsure=False)
        tracker.initialize(frames[0], (140, 100, 48, 48))
        back[rescale] = [tracker.track(f) for f in frames[1:]][14]
    for rescale in (False, True):
        assert back[rescale].state == TrackState.REACQUIRED
    assert min(back[False].box[2:]) > 40                    # the size it left at
    x, y, w, h = back[True].box
    assert abs(x + w / 2 - 164) < 4 and abs(y + h / 2 - 124) < 4
    assert 16 < w < 24 and 16 < h < 24                      # the true 20 px


@pytest.mark.parametrize('seed', [0, 1])
def test_a_target_found_again_at_a_third_of_its_size_is_sized_as_it_is(seed, monkeypatch):
    # Back at 17 px where it left at 48, the box found is near the size it left at; a
    # return's ladder goes down to x0.35 (a crop cut for 17 px): the box is the true one. The
    # ladder of an unsure frame (down to x0.5) stops short of it.
    from track_core.runtime import tracker as module
    frames = _back_smaller_scene(seed, 17)
    back = {}
    for ladder in (module.RESCALES, module.RESCALES_ON_RETURN):
        monkeypatch.setattr(module, 'RESCALES_ON_RETURN', ladder)
        tracker = _shipped(search_near=True, scan_tiles=0, appearance_threshold=0.0,
                           rescale_on_return=True, rescale_unsure=False)
        tracker.initialize(frames[0], (140, 100, 48, 48))
        back[len(ladder)] = [tracker.track(f) for f in frames[1:]][14]
        assert back[len(ladder)].state == TrackState.REACQUIRED
    x, y, w, h = back[6].box
    assert abs(x + w / 2 - 164) < 3 and abs(y + h / 2 - 124) < 3
    assert abs(w - 17) <= 1 and abs(h - 17) <= 1
    assert back[5].box[2] * back[5].box[3] > w * h


@pytest.mark.parametrize('seed', [0, 1])
def test_an_unsure_box_three_times_too_big_is_pulled_back(seed):
    # Handed a box 3x the 48-px target (a box that inflated), the next frame's confidence
    # falls under absent_threshold; rescale_unsure searches x0.5 .. x2 round it and takes the
    # size of the scale that reaches it. Without it the box keeps nearly all its size.
    from track_core.data.synthetic import blurred_scene
    background, patch = blurred_scene(np.random.default_rng(seed), (240, 320), 48, 8)
    image = background.copy()
    image[100:148, 140:188] = patch
    first = {}
    for rescale in (False, True):
        tracker = _shipped(rescale_unsure=rescale)
        tracker.initialize(image, (140, 100, 48, 48))
        tracker.relocate((92, 52, 144, 144))
        first[rescale] = tracker.track(image)
    for rescale in (False, True):
        assert first[rescale].state == TrackState.UNSURE     # under absent_threshold
        x, y, w, h = first[rescale].box
        assert x < 164 < x + w and y < 124 < y + h           # still on the target
    assert min(first[False].box[2:]) > 130
    assert max(first[True].box[2:]) < 0.85 * min(first[False].box[2:])


def test_the_rescale_runs_only_where_the_size_is_in_doubt(make_frame):
    # One crop on a confident frame; five on the first unconfident one (not on the next), and
    # six on the frame the target is found again (the return's ladder goes one step further
    # down), in a frame large enough for the crops of the larger scales: a crop larger than
    # the image is not searched.
    cfg = TrackerConfig(lost_threshold=0.3, lost_frames=2, search_growth=1.0,
                        absent_threshold=0.6, rescale_on_return=True, rescale_unsure=True)
    tracker = make_tracker(config=cfg)
    batches = []
    run = tracker.backend.run

    def counted(z, x):
        batches.append(len(x))
        return run(z, x)
    tracker.backend.run = counted
    frames = [make_frame(480, 640) for _ in range(9)]
    tracker.initialize(frames[0], (300, 200, 30, 40))
    states = []
    for logit, frame in zip((8.0, 0.0, 0.0, -8.0, -8.0, -8.0, 8.0, 8.0), frames[1:]):
        _set_confidence(tracker, logit)
        states.append(tracker.track(frame).state)
    assert states == [TrackState.TRACKING] + [TrackState.UNSURE] * 3 + \
        [TrackState.SEARCHING] * 2 + [TrackState.REACQUIRED, TrackState.TRACKING]
    assert batches == [1, 1, 5, 1, 1, 1, 1, 1, 6, 1]
    # in a frame the larger scales' crops would overflow, the three others
    batches.clear()
    small = make_frame()
    tracker.initialize(small, (150, 100, 30, 40))
    for logit in (8.0, 0.0):
        _set_confidence(tracker, logit)
        tracker.track(small)
    assert batches == [1, 1, 3]


def test_settings_the_others_leave_idle_are_named():
    import pathlib
    from track_core.runtime import model_runtime, without_effect
    model = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'
    assert without_effect(model_runtime(model)) == []      # the shipped settings all work
    assert without_effect(TrackerConfig()) == []
    idle = without_effect(TrackerConfig(rescale_unsure=True, colour_threshold=0.5,
                                        search_near=True, max_search_scale=1.0))
    assert [note.split()[0] for note in idle] == ['rescale_unsure', 'colour_threshold',
                                                  'search_near']
    assert without_effect(TrackerConfig(rescale_unsure=True, absent_threshold=0.6,
                                        colour_threshold=0.5, appearance_threshold=0.6,
                                        search_near=True)) == []
