"""Choosing a detection for a request and the re-acquisition candidates (pure, no graph)."""

import pytest

from track_node.detector import candidates, choose, Detected, DetectionBook

DETS = [Detected('p1', 'person', 0.6, (10, 10, 20, 40)),
        Detected('p2', 'person', 0.9, (100, 10, 20, 40)),
        Detected('c1', 'cup', 0.8, (50, 60, 10, 10))]


@pytest.mark.parametrize('kwargs, want', [
    ({'detection_id': 'c1'}, 'c1'),
    ({'class_id': 'person'}, 'p2'),                       # the best of the class
    ({'point': (55, 65)}, 'c1'),                          # inside the cup's box
    ({'point': (95, 0)}, 'p2'),                           # nearest box
    ({'detection_id': 'p1', 'class_id': 'cup'}, 'p1'),    # the id decides
])
def test_a_request_picks_one_detection(kwargs, want):
    det, why = choose(DETS, **kwargs)
    assert why == '' and det.id == want


@pytest.mark.parametrize('kwargs, words', [
    ({'detection_id': 'nobody'}, "no detection with id 'nobody' in that frame (have: c1, p1"),
    ({'class_id': 'dog'}, "no detection of class 'dog' in that frame (have: cup, person)"),
    ({}, 'say which detection'),
])
def test_a_request_that_names_no_detection_is_refused_with_the_reason(kwargs, words):
    det, why = choose(DETS, **kwargs)
    assert det is None and words in why, why
    assert choose([], detection_id='x') == (None, 'that frame has no detections')


def test_candidates_are_the_targets_class_or_all_when_unknown():
    got = candidates(DETS, {'a': 'person'}, ['a', 'b'])
    assert got['a'] == [DETS[0].box, DETS[1].box] and got['b'] == [d.box for d in DETS]


def test_detections_are_found_by_stamp():
    book = DetectionBook(keep=2)
    assert book.find(0)[2] == 'no detections received from the detector'
    for stamp in (1, 2, 3):
        book.add(stamp, DETS[:stamp])
    assert book.find(0)[:2] == (3, DETS[:3]) and book.find(2)[:2] == (2, DETS[:2])
    stamp, dets, why = book.find(1)                        # let go (keep=2)
    assert stamp is None and 'no detections for stamp' in why
