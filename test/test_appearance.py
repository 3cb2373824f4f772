"""The right instance: the appearance memory and the presence rule around it.

Also the shipped model on a generated scene where another figure of the same build walks in
while the target is away (real ONNX Runtime inference).
"""

import pathlib

import cv2
import numpy as np
import pytest

from track_core.data.synthetic import look_alike_scene
from track_core.runtime import load_tracker, model_runtime, TrackerConfig, TrackState
from track_core.runtime.appearance import (Appearance, COLOUR_SIDE, colour_threshold_for,
                                           LOOK_ALIKE_GAP, TARGET_VIEWS)
from track_core.runtime.preprocess import colour_histogram
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


def test_the_colours_refuse_a_candidate_the_features_let_through():
    red, blue = _colours(0), _colours(120)
    memory = Appearance(_view(0), red)
    assert memory.matches(_view(10), 0.8, red, 0.8)
    assert not memory.matches(_view(10), 0.8, blue, 0.8), 'same features, other colours'
    assert memory.matches(_view(10), 0.8, blue, 0.0), 'colours off'
    assert memory.matches(_view(10), 0.8, None, 0.8), 'no colour given'
    assert not memory.matches(_view(60), 0.8, red, 0.8), 'the colours never let one in'
    # a view kept with its colours: the target seen in blue light now passes in blue
    memory.remember(_view(5), blue)
    assert memory.matches(_view(10), 0.8, blue, 0.8)
    assert memory.colour_similarity(blue) == pytest.approx(1.0, abs=1e-6)


def test_colours_roll_with_their_views_and_count_only_for_a_large_target():
    memory = Appearance(_view(0), _colours(0))
    for k in range(1, 2 * TARGET_VIEWS):
        memory.remember(_view(k), _colours(10 * k))
    assert len(memory.colours) == len(memory.views) == TARGET_VIEWS
    assert memory.colours[0] @ _colours(0) == pytest.approx(1.0, abs=1e-6)
    last = _colours(10 * (2 * TARGET_VIEWS - 1))
    assert memory.colours[-1] @ last == pytest.approx(1.0, abs=1e-6)
    assert colour_threshold_for(COLOUR_SIDE, 0.8) == 0.8
    assert colour_threshold_for(COLOUR_SIDE - 1, 0.8) == 0.0


def _colours(hue_deg, size=40):
    """Return the colours of a saturated patch of one hue, with grey pixels in a corner."""
    hsv = np.full((size, size, 3), (hue_deg // 2, 204, 204), np.uint8)     # OpenCV: hue / 2
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    image[:size // 4, :size // 4] = 128
    return colour_histogram(image, (0, 0, size, size))


def test_the_colour_histogram_compares_shares_of_colours_and_greys():
    rng = np.random.default_rng(0)
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :100] = (200, 30, 30)                          # red left half
    image[:, 100:] = (128, 128, 128)                        # grey right half
    image = np.clip(image + rng.integers(-8, 8, image.shape), 0, 255).astype(np.uint8)
    red = colour_histogram(image, (0, 0, 100, 100))
    grey = colour_histogram(image, (100, 0, 100, 100))
    half = colour_histogram(image, (50, 0, 100, 100))
    assert np.linalg.norm(red) == pytest.approx(1.0, abs=1e-5)
    assert red @ colour_histogram(image, (10, 10, 60, 60)) > 0.99     # the same colours
    assert red @ grey < 0.01                                # nothing in common
    assert 0.6 < half @ red < 0.8 and 0.6 < half @ grey < 0.8   # sqrt(1/2) of each
    # white and dark grey are told apart (hue means nothing there; value does)
    image[:, 100:] = 240
    assert colour_histogram(image, (100, 0, 100, 100)) @ grey < 0.01
    # a large box is sampled on a grid and still reads the same
    big = np.clip(np.full((1000, 1000, 3), (30, 60, 200)) + rng.integers(-8, 8, (1000, 1000, 3)),
                  0, 255).astype(np.uint8)
    assert colour_histogram(big, (0, 0, 1000, 1000)) @ colour_histogram(big, (0, 0, 50, 50)) > 0.99
    assert not colour_histogram(image, (300, 0, 10, 10)).any(), 'outside the image: zeros'


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
# tracker's features (0.62-0.72 to the target's views) than the look-alikes of the dev
# protocol (0.47-0.75, docs/evaluation.md): the features alone part them at 0.75, not at the
# shipped 0.65. The shipped settings part them by their colours (red top and blue trousers
# against a white striped coat).
FEATURES = {'appearance_threshold': 0.75, 'colour_threshold': 0.0}
SHIPPED = {}


def _run(settings, seed=0):
    frames, boxes, others, shown = look_alike_scene(seed=seed)
    config = model_runtime(MODEL, settings)
    tracker = load_tracker(MODEL, backend='onnx', config=config, threads=1)
    tracker.initialize(frames[0], boxes[0])
    results = [tracker.track(f) for f in frames[1:]]
    return tracker, results, shown[1:], frames, boxes, others


@pytest.mark.parametrize('settings', [FEATURES, SHIPPED], ids=['features', 'shipped'])
@pytest.mark.parametrize('seed', [0, 1])
def test_the_target_is_not_claimed_on_a_look_alike_and_is_found_on_its_return(settings, seed):
    tracker, results, shown, *_ = _run(settings, seed)
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
    tracker, results, shown, *_ = _run({'appearance_threshold': 0.0})
    on_other = [r for r, k in zip(results, shown) if k == 'other']
    assert sum(r.present for r in on_other) > len(on_other) // 2
    assert tracker.look_alikes_refused == 0


def test_at_the_shipped_feature_threshold_only_the_colours_refuse_it():
    """What the colours change: without them the shipped check lets the figure in."""
    assert model_runtime(MODEL).colour_threshold > 0, 'the shipped model compares colours'
    tracker, results, shown, *_ = _run({'colour_threshold': 0.0}, seed=1)
    on_other = [r for r, k in zip(results, shown) if k == 'other']
    assert sum(r.present for r in on_other) > len(on_other) // 2


def test_a_detector_candidate_on_the_look_alike_is_refused_and_one_on_the_target_taken():
    frames, boxes, others, shown = look_alike_scene(seed=0)
    config = model_runtime(MODEL, FEATURES)
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
