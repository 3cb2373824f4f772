"""The right instance: the appearance memory and the presence rule around it.

Also the shipped model on a generated scene where another figure of the same build walks in
while the target is away (real ONNX Runtime inference).
"""

import pathlib

import numpy as np
import pytest

from track_core.data.synthetic import look_alike_scene
from track_core.runtime import load_tracker, model_runtime, TrackerConfig, TrackState
from track_core.runtime.appearance import Appearance, LOOK_ALIKE_GAP, TARGET_VIEWS
from track_core.runtime.presence import Presence

MODEL = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'


def _view(angle_deg):
    """Return a unit vector at ``angle_deg`` from (1, 0, 0) (cosine to it: cos(angle))."""
    a = np.radians(angle_deg)
    return np.array([np.cos(a), np.sin(a), 0.0])


# ----------------------------------------------------------------- the memory, pure
def test_a_view_passes_on_its_cosine_to_the_nearest_target_view():
    memory = Appearance(_view(0) * 7.0)         # views are compared as unit vectors
    assert memory.matches(_view(30), 0.8)       # cos 30 = 0.87
    assert not memory.matches(_view(40), 0.8)   # cos 40 = 0.77
    memory.remember(_view(60))
    assert memory.matches(_view(70), 0.8)       # near the newer view
    assert memory.similarity(_view(70))[0] == pytest.approx(np.cos(np.radians(10)))


def test_a_candidate_nearer_a_refused_look_alike_than_the_target_is_refused():
    memory = Appearance(_view(0))
    memory.refuse(_view(90), 0.8)               # clearly unlike: kept as a look-alike
    assert memory.refused == 1 and len(memory.look_alikes) == 1
    assert not memory.matches(_view(75), 0.1), 'nearer the look-alike than the target'
    assert memory.matches(_view(20), 0.1)


def test_a_view_refused_near_the_threshold_is_not_kept_as_a_look_alike():
    memory = Appearance(_view(0))
    near = np.degrees(np.arccos(0.8 - LOOK_ALIKE_GAP / 2))
    memory.refuse(_view(near), 0.8)
    assert memory.refused == 1 and memory.look_alikes == []
    # so the target, seen again a little closer, is not taken for a look-alike
    assert memory.matches(_view(near - 10), 0.8)


def test_the_first_view_stays_and_the_others_roll():
    memory = Appearance(_view(0))
    for k in range(1, 3 * TARGET_VIEWS):
        memory.remember(_view(k))
    assert len(memory.views) == TARGET_VIEWS
    assert memory.views[0] @ _view(0) == pytest.approx(1.0)
    assert memory.views[-1] @ _view(3 * TARGET_VIEWS - 1) == pytest.approx(1.0)


def test_checks_fall_due_every_interval_frames_and_never_at_zero():
    memory = Appearance(_view(0))
    assert [memory.due(3) for _ in range(7)] == [False, False, True, False, False, True, False]
    assert not any(memory.due(0) for _ in range(20))


# ----------------------------------------------------------------- presence around it
def test_a_refused_find_leaves_the_target_searching_and_unseen():
    rules = TrackerConfig(lost_threshold=0.5, lost_frames=2, recover_threshold=0.5)
    p = Presence()
    for score in (0.1, 0.1, 0.1):
        p.step(score, rules)
    assert p.state == TrackState.SEARCHING and p.unseen == 2
    assert p.step(0.9, rules) and p.state == TrackState.REACQUIRED and p.returning
    assert p.refuse(rules) is False                 # the search goes on, box held
    assert p.state == TrackState.SEARCHING and p.unseen == 3 and not p.returning
    assert p.step(0.9, rules) and p.returning and p.unseen == 0


def test_a_followed_target_refused_is_unsure_then_searching_after_lost_frames_refusals():
    rules = TrackerConfig(absent_threshold=0.5, lost_threshold=0.2, lost_frames=3)
    p = Presence()
    p.step(0.9, rules)
    assert p.state == TrackState.TRACKING and not p.returning
    assert p.refuse(rules) is True                  # a periodic check failed: still followed
    assert p.state == TrackState.UNSURE and p.unseen == 1
    p.step(0.9, rules)
    assert p.state == TrackState.TRACKING and p.returning     # so it is checked again
    p.confirm()                                     # and it was the target after all
    assert p.refused == 0 and p.state.present
    for k in range(3):                              # three refusals in a row
        p.step(0.9, rules)
        followed = p.refuse(rules)
    assert not followed and p.state == TrackState.SEARCHING and p.unseen == 3


def test_a_find_clears_the_refusals_counted_before_it():
    rules = TrackerConfig(absent_threshold=0.5, lost_threshold=0.2, lost_frames=3)
    p = Presence()
    for _ in range(2):
        p.step(0.9, rules)
        p.refuse(rules)
    assert p.refused == 2 and p.state == TrackState.UNSURE
    p.found()                                       # a verified scan or detector find
    assert p.refused == 0 and p.state == TrackState.TRACKING
    p.step(0.9, rules)
    assert p.refuse(rules) and p.state == TrackState.UNSURE   # one refusal, not the third


# ----------------------------------------------------------------- the shipped model
# The generated figures share one background and one build, so they sit closer in the
# tracker's features (0.62-0.68 to the target's first view) than the look-alikes of the dev
# protocol (0.47-0.75, docs/evaluation.md): the check runs at 0.75 here, not the shipped 0.65.
CHECK = 0.75


def _run(threshold, seed=0):
    frames, boxes, others, shown = look_alike_scene(seed=seed)
    config = model_runtime(MODEL, {'appearance_threshold': threshold})
    tracker = load_tracker(MODEL, backend='onnx', config=config, threads=1)
    tracker.initialize(frames[0], boxes[0])
    results = [tracker.track(f) for f in frames[1:]]
    return tracker, results, shown[1:], frames, boxes, others


@pytest.mark.parametrize('seed', [0, 1])
def test_the_target_is_not_claimed_on_a_look_alike_and_is_found_on_its_return(seed):
    tracker, results, shown, *_ = _run(CHECK, seed)
    on_other = [r for r, k in zip(results, shown) if k == 'other']
    assert not any(r.present for r in on_other), \
        [(r.state.name, round(r.score, 2)) for r in on_other]
    assert all(r.state == TrackState.SEARCHING for r in on_other)
    assert tracker.look_alikes_refused > 0
    back = [r for r, k in zip(results, shown) if k == 'target'][-20:]
    first = next(i for i, r in enumerate(back) if r.present)
    assert first <= 8 and all(r.present for r in back[first:])


def test_without_the_check_the_same_scene_claims_the_look_alike():
    """What the check changes: the network alone scores the other figure like the target."""
    tracker, results, shown, *_ = _run(0.0)
    on_other = [r for r, k in zip(results, shown) if k == 'other']
    assert sum(r.present for r in on_other) > len(on_other) // 2
    assert tracker.look_alikes_refused == 0


def test_a_detector_candidate_on_the_look_alike_is_refused_and_one_on_the_target_taken():
    frames, boxes, others, shown = look_alike_scene(seed=0)
    config = model_runtime(MODEL, {'appearance_threshold': CHECK})
    tracker = load_tracker(MODEL, backend='onnx', config=config, threads=1)
    tracker.initialize(frames[0], boxes[0])
    away = shown.index('other')
    for frame in frames[1:away]:
        tracker.track(frame)
    k = away + 5
    refused = tracker.look_alikes_refused
    assert tracker.reacquire('1', frames[k], [others[k]]) is None
    assert tracker.look_alikes_refused > refused
    back = len(shown) - 5
    found = tracker.reacquire('1', frames[back], [others[k], boxes[back]])
    assert found is not None and found.state == TrackState.REACQUIRED
    overlap = np.minimum(np.add(found.box[:2], found.box[2:]), boxes[back][:2] + boxes[back][2:]) \
        - np.maximum(found.box[:2], boxes[back][:2])
    assert (overlap > 0).all(), (found.box, boxes[back])
