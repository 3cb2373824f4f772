"""The objects beside a followed target (runtime/rivals.py) and the tracker around them."""

import pathlib

import numpy as np
import pytest

from track_core.data.synthetic import twin_scene
from track_core.runtime import load_tracker, model_runtime, TrackerConfig, TrackState
from track_core.runtime.decode import local_peaks
from track_core.runtime.presence import Presence
from track_core.runtime.rivals import apart, onto_rival, own_peak, RIVAL_APART, rivals_of

MODEL = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'


# ----------------------------------------------------------------- pure
def test_apart_is_the_larger_offset_in_the_target_sides():
    assert apart((0, 0), (10, 5), (10, 20)) == pytest.approx(1.0)     # touching side by side
    assert apart((0, 0), (5, 30), (10, 20)) == pytest.approx(1.5)
    assert apart((3, 4), (3, 4), (10, 20)) == 0.0


def test_rivals_are_the_peaks_apart_from_the_best_one():
    peaks = [(1.0, (100, 50)), (0.9, (104, 52)), (0.6, (120, 50)), (0.4, (100, 90))]
    kept = rivals_of((100, 50), peaks, (16, 32))
    # the peak 4 px away is the target's own; 20 px to the side and 40 px below are others
    assert [tuple(r) for r in kept] == [(120, 50), (100, 90)]
    assert all(apart(r, (100, 50), (16, 32)) >= RIVAL_APART for r in kept)


def test_a_jump_onto_a_rival_is_told_from_a_move_of_the_target():
    size, expected, rival = (10, 20), (100, 50), (88, 50)
    assert onto_rival((89, 51), expected, [rival], size)      # jumped to where the other was
    assert not onto_rival((97, 51), expected, [rival], size)  # a small move: no jump
    assert not onto_rival((112, 50), expected, [rival], size)  # a jump away from the other
    assert not onto_rival((89, 51), expected, [], size)       # nothing beside it


def test_the_targets_own_peak_is_the_best_one_not_onto_a_rival():
    size, expected, near = (10, 20), (100, 50), [(88, 50)]
    peaks = [(0.95, (89, 50)), (0.7, (101, 49)), (0.6, (130, 50))]
    assert own_peak(expected, near, peaks, size, min_score=0.5) == 1
    assert own_peak(expected, near, peaks, size, min_score=0.8) == -1
    assert own_peak(expected, near, peaks[:1], size, min_score=0.0) == -1


def test_local_peaks_are_the_maxima_of_their_neighbourhood_best_first():
    score = np.zeros((8, 8), np.float32)
    score[2, 2], score[2, 3] = 0.9, 0.5       # one bump and its shoulder
    score[6, 5] = 0.6
    score[0, 7] = 0.2
    assert local_peaks(score, 0.3) == [(2, 2), (6, 5)]
    assert local_peaks(score, 0.1) == [(2, 2), (6, 5), (0, 7)]
    assert local_peaks(score, 0.95) == []


def test_refusals_count_in_a_row_only():
    rules = TrackerConfig(lost_threshold=0.2, lost_frames=3)
    p = Presence()
    for refused in (True, True, False, True, True):
        p.step(0.9, rules)
        if refused:
            assert p.refuse(rules)                  # still followed: never three in a row
    assert p.refused == 2 and p.state == TrackState.UNSURE
    p.step(0.9, rules)
    assert not p.refuse(rules) and p.state == TrackState.SEARCHING     # the third in a row


# ----------------------------------------------------------------- the shipped model
def _run(share, seed):
    frames, boxes, twins = twin_scene(seed=seed)
    tracker = load_tracker(MODEL, backend='onnx', threads=1,
                           config=model_runtime(MODEL, {'rivals': share}))
    tracker.initialize(frames[0], boxes[0])
    results = [tracker.track(f) for f in frames[1:]]
    return tracker, results, boxes[1:], twins[1:]


def _on(result, box):
    return abs(result.box[0] + result.box[2] / 2 - (box[0] + box[2] / 2)) < box[2] / 3


# The generated twin shows in the score map at 0.14-0.38 of the target's peak while both are
# in view (a one-stream network plays down the instance it was not given); on these seeds it
# is over the shipped share, so it is kept as a rival.
SEEDS = [0, 2, 3]
HIDDEN = slice(9, 12)           # results of frames 10-12, where only the twin is in view


@pytest.mark.parametrize('seed', SEEDS)
def test_the_box_does_not_jump_onto_the_twin_while_the_target_is_hidden(seed):
    share = model_runtime(MODEL).rivals
    assert share > 0, 'the shipped model keeps rivals'
    tracker, results, boxes, twins = _run(share, seed)
    assert not any(r.present and _on(r, twin) for r, twin in zip(results, twins)), \
        [(r.state.name, round(r.box[0])) for r in results]
    assert not any(r.present for r in results[HIDDEN])
    assert tracker.look_alikes_refused > 0
    # back in view: found again, and followed
    assert all(r.state == TrackState.TRACKING and _on(r, box)
               for r, box in zip(results[-5:], boxes[-5:]))


def test_without_rivals_the_box_jumps_onto_the_twin_and_says_tracking():
    """What the setting changes: the best match is the twin, as confident as the target."""
    for seed in SEEDS:
        tracker, results, boxes, twins = _run(0.0, seed)
        assert all(r.state == TrackState.TRACKING and _on(r, twin)
                   for r, twin in zip(results[HIDDEN], twins[HIDDEN]))
        assert tracker.look_alikes_refused == 0


def test_a_target_in_view_beside_its_twin_is_never_held():
    share = model_runtime(MODEL).rivals
    frames, boxes, _ = twin_scene(seed=0, hidden=(0, 0), length=30)
    tracker = load_tracker(MODEL, backend='onnx', threads=1,
                           config=model_runtime(MODEL, {'rivals': share}))
    tracker.initialize(frames[0], boxes[0])
    results = [tracker.track(f) for f in frames[1:]]
    assert all(r.state == TrackState.TRACKING and _on(r, box)
               for r, box in zip(results, boxes[1:]))
    assert tracker.look_alikes_refused == 0


@pytest.mark.parametrize('seed', [1, 4])
def test_two_targets_tracked_at_once_are_each_others_rivals(seed):
    # On these seeds the twin is too faint in the target's map to be kept as a rival (the
    # single-target run above jumps onto it); tracked as a second target, it is one anyway.
    frames, boxes, twins = twin_scene(seed=seed)
    states = {}
    for share in (0.0, model_runtime(MODEL).rivals):
        tracker = load_tracker(MODEL, backend='onnx', threads=1,
                               config=model_runtime(MODEL, {'rivals': share}))
        first = tracker.add_target(frames[0], boxes[0])
        second = tracker.add_target(frames[0], twins[0])
        states[share] = [tracker.track_all(f) for f in frames[1:]]
        # the second is followed throughout, whatever the first does
        assert all(_on(r[second], twin) for r, twin in zip(states[share], twins[1:]))
    off, on = states[0.0], states[model_runtime(MODEL).rivals]
    assert all(r[first].present and _on(r[first], twin)
               for r, twin in zip(off[HIDDEN], twins[1:][HIDDEN]))      # both on the twin
    assert not any(r[first].present and _on(r[first], twin)
                   for r, twin in zip(on, twins[1:]))
    assert all(r[first].state == TrackState.TRACKING and _on(r[first], box)
               for r, box in zip(on[-5:], boxes[-5:]))


def test_a_lost_target_does_not_take_another_target_it_finds_while_searching():
    # Hidden for 18 frames: the first target is lost, and its frame scan (and a detector's
    # box) find the twin, which is the second target: one object, one id.
    frames, boxes, twins = twin_scene(seed=0, hidden=(10, 28), length=36)
    tracker = load_tracker(MODEL, backend='onnx', threads=1, config=model_runtime(MODEL))
    first = tracker.add_target(frames[0], boxes[0])
    second = tracker.add_target(frames[0], twins[0])
    results = []
    for k, frame in enumerate(frames[1:], start=1):
        results.append(tracker.track_all(frame))
        if k == 20:
            assert results[-1][first].state == TrackState.SEARCHING
            refused = tracker.look_alikes_refused
            assert tracker.reacquire(first, frame, [twins[k]]) is None     # a detector's box
            assert tracker.look_alikes_refused > refused
    assert not any(r[first].present and _on(r[first], twin)
                   for r, twin in zip(results, twins[1:]))
    assert all(r[second].state == TrackState.TRACKING and _on(r[second], twin)
               for r, twin in zip(results, twins[1:]))
    back = [r[first] for r in results[27:]]             # frames 28 on: the target is back
    found = next(i for i, r in enumerate(back) if r.present)
    assert found <= 6 and all(r.present and _on(r, box)
                              for r, box in zip(back[found:], boxes[28 + found:]))


def test_the_two_target_script_counts_a_target_reported_on_the_other():
    import importlib.util
    from track_core.data.sequences import Sequence
    path = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'two_targets.py'
    spec = importlib.util.spec_from_file_location('two_targets', path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    frames, boxes, twins = twin_scene(seed=1)
    twins[0] = np.nan                   # the look-alike is selected on its first frame, 1
    scene = Sequence('twins', boxes, np.ones(len(boxes), bool), source=frames.__getitem__)
    scene.distractors = twins
    off = script.run_one(MODEL, {'rivals': 0.0}, [scene], threads=1)
    on = script.run_one(MODEL, {}, [scene], threads=1)
    # frames 2-19 with both: without rivals the first target is on the twin from its hiding
    # (frame 10) on, and stays there
    assert off['frames'] == on['frames'] == 18
    assert off['first_on_second'] == pytest.approx(100 * 10 / 18) and off['swapped']
    assert on['first_on_second'] == 0.0 and on['second_on_first'] == 0.0 and not on['swapped']
