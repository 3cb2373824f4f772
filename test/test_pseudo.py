"""Pairs beyond the annotations: proposals, forward-backward tracking, the consistency filter.

The teacher is NanoTrack v3 written here, on the shipped weights: no ../shared/data needed.
"""

import cv2
import numpy as np
import pytest

from track_core.boxes import iou_xywh
from track_core.data.sampler import PairDataset, SamplingConfig
from track_core.data.synthetic import moving_object_sequence
from track_core.foreign.teacher import CnnTeacher, CnnTeacherConfig
from track_core.net import variant_config
from track_core.train.pseudo import (build_pseudo_source, label_clip, PseudoConfig,
                                     saliency_boxes)


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    """Write an unannotated folder of frames (one moving textured object); return the truth."""
    folder = tmp_path_factory.mktemp('clip')
    frames, boxes = moving_object_sequence(25, size=(240, 320), box_size=(48, 40), speed=3.0,
                                           seed=4)
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f'{i:05d}.jpg'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder, frames, boxes


@pytest.fixture(scope='module')
def teacher():
    return CnnTeacher(CnnTeacherConfig('nanotrack_v3'), grid=16, folder=None)  # white box


def test_saliency_proposes_the_object(clip):
    _, frames, boxes = clip
    proposals = saliency_boxes(frames[0], 6)
    assert proposals
    best = max(float(iou_xywh(np.array(p), boxes[0])[0]) for p in proposals)
    assert best > 0.3, proposals


def test_tracks_that_come_back_are_kept_and_follow_the_object(clip, teacher):
    folder, _, truth = clip
    cfg = PseudoConfig(every=12, span=12, starts=4, min_fb_iou=0.6)
    tracks, counts = label_clip(folder, teacher.tracker, cfg)
    assert counts['proposed'] >= 2 and counts['frames'] == 25
    assert counts['kept'] == len(tracks) >= 1
    assert all(t['fb_iou'] >= 0.6 for t in tracks)
    on_object = [t for t in tracks if float(iou_xywh(np.array(t['boxes'][0]),
                                                     truth[t['start']])[0]) > 0.3]
    assert on_object, tracks
    t = on_object[0]
    ious = iou_xywh(np.array(t['boxes']), truth[t['start']:t['start'] + len(t['boxes'])])
    assert np.mean(ious) > 0.5, ious
    # the filter is what decides: asking for the impossible keeps nothing
    none, counts = label_clip(folder, teacher.tracker, PseudoConfig(every=12, span=12,
                                                                    starts=4, min_fb_iou=1.01))
    assert none == [] and counts['kept'] == 0 and counts['proposed'] >= 2


def test_pseudo_pairs_are_cached_counted_and_marked_unannotated(clip, teacher, tmp_path):
    folder, _, _ = clip
    cfg = PseudoConfig(clips=(str(folder),), every=12, span=12, starts=4)
    lines = []
    source = build_pseudo_source(cfg, teacher.tracker, tmp_path, 'nt3', log=lines.append)
    assert source.pseudo and (tmp_path / 'pseudo_tracks.json').is_file()
    assert 'proposals' in lines[0] and 'kept' in lines[0]

    def must_not_track():
        raise AssertionError('labels should come from the cache')
    again = build_pseudo_source(cfg, must_not_track, tmp_path, 'nt3', log=lines.append)
    assert len(again.sequences) == len(source.sequences)
    ds = PairDataset([again], None, variant_config('tiny'), samples_per_epoch=3,
                     sampling=SamplingConfig(min_box_size=2.0))
    item = ds[0]
    assert float(item['has_box']) == 0.0
