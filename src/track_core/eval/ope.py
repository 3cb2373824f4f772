"""One-pass evaluation: initialise on frame 1 with the ground truth, never re-initialise."""

from dataclasses import dataclass, field
import statistics
import time
from typing import Dict, List, Optional

import numpy as np

from track_core.boxes import iou_xywh
from track_core.data.sequences import Sequence
from track_core.eval.metrics import concat, frame_errors, FrameErrors, summary

WARMUP_FRAMES = 5


@dataclass
class SequenceRun:
    tracker: str
    sequence: str
    boxes: np.ndarray
    frame_ms: List[float]
    errors: FrameErrors
    metrics: Dict[str, float] = field(default_factory=dict)
    # per frame after the first, for trackers that report them (track_core models): the
    # score, whether the tracker said LOST, and whether the target is in the ground truth
    scores: Optional[np.ndarray] = None
    lost: Optional[np.ndarray] = None
    present: Optional[np.ndarray] = None
    # per frame with both boxes: sqrt(predicted area / true area)
    size_ratio: Optional[np.ndarray] = None
    # per frame after the first, every tracker: did it report the target (not LOST, or a
    # finite box for trackers without states), and the first frame's index
    reported: Optional[np.ndarray] = None
    start: int = 0
    # per frame after the first, on sequences with a look-alike beside the target
    # (``with_distractor``): is one in view, and is the box reported on it (a switch)
    look_alike: Optional[np.ndarray] = None
    switched: Optional[np.ndarray] = None


def first_valid(seq: Sequence) -> int:
    idx = np.flatnonzero(seq.visible)
    if not len(idx):
        raise ValueError(f'{seq.name}: the target is never visible')
    return int(idx[0])


def run_sequence(tracker, seq: Sequence) -> SequenceRun:
    """Track ``seq`` from its first frame with a visible target to its end."""
    start = first_valid(seq)
    boxes = np.full((len(seq), 4), np.nan)
    frame = seq.frame(start)
    tracker.initialize(frame, seq.boxes[start])
    boxes[start] = seq.boxes[start]
    times, scores, lost = [], [], []
    reports_state = hasattr(tracker, 'last_result')
    for i in range(start + 1, len(seq)):
        frame = seq.frame(i)
        t0 = time.perf_counter()
        boxes[i] = tracker.track(frame)
        times.append((time.perf_counter() - t0) * 1000.0)
        if reports_state:
            scores.append(tracker.last_result.score)
            lost.append(not tracker.last_result.state.present)
    # The initial frame is given, not predicted: evaluate from the next one.
    errors = frame_errors(boxes[start + 1:], seq.boxes[start + 1:])
    run = SequenceRun(tracker.name, seq.name, boxes, times, errors, summary(errors))
    run.size_ratio = size_ratios(boxes[start + 1:], seq.boxes[start + 1:])
    run.start = start
    run.reported = np.isfinite(boxes[start + 1:]).all(axis=1)
    if reports_state:
        run.scores, run.lost = np.asarray(scores), np.asarray(lost, bool)
        run.reported &= ~run.lost
        gt = np.asarray(seq.boxes[start + 1:], np.float64)      # frame_errors' validity
        run.present = np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    others = getattr(seq, 'distractors', None)
    if others is not None:
        run.look_alike, run.switched = switches(boxes[start + 1:], seq.boxes[start + 1:],
                                                others[start + 1:], run.reported)
    return run


# A reported box at this IoU with a look-alike, and nearer it than the target, is on it.
SWITCH_IOU = 0.5


def switches(pred, truth, others, reported):
    """Per frame: (a look-alike is in view, the reported box is on it rather than the target)."""
    pred, truth, others = (np.asarray(a, np.float64) for a in (pred, truth, others))
    in_view = np.isfinite(others).all(axis=1)
    with np.errstate(invalid='ignore'):
        on_other = np.nan_to_num(iou_xywh(pred, others))
        on_target = np.nan_to_num(iou_xywh(pred, truth))
    return in_view, in_view & reported & (on_other >= SWITCH_IOU) & (on_other > on_target)


def confidence(runs: List[SequenceRun]) -> Optional[Dict[str, float]]:
    """Measure whether the confidence means something (None for trackers without states).

    Over all frames after the first: the correlation of score and IoU (target present);
    ``lost_on_target``: of the frames declared LOST while the target is present, the share whose
    box still overlaps it (IoU > 0: a false alarm); ``tracking_off_target``: of the TRACKING
    frames with the target present, the share with no overlap (a miss nobody was told of);
    ``tracking_on_absent``: of the frames without the target, the share still TRACKING.
    """
    runs = [r for r in runs if r.lost is not None]
    if not runs:
        return None
    scores = np.concatenate([r.scores for r in runs])
    lost = np.concatenate([r.lost for r in runs])
    present = np.concatenate([r.present for r in runs])
    iou = np.zeros(len(lost))
    iou[present] = np.concatenate([r.errors.iou for r in runs])
    on, tracking = present & lost, present & ~lost

    def share(mask, of):
        return float(mask.sum() / of.sum()) if of.sum() else float('nan')
    corr = float(np.corrcoef(scores[present], iou[present])[0, 1]) \
        if present.sum() > 2 and scores[present].std() > 0 and iou[present].std() > 0 \
        else float('nan')
    return {'score_iou_corr': corr, 'lost_share': share(on, present),
            'lost_on_target': share(on & (iou > 0), on),
            'tracking_off_target': share(tracking & (iou == 0), tracking),
            'tracking_on_absent': share(~present & ~lost, ~present),
            'absent_frames': int((~present).sum())}


def median_after_warmup(times: List[float]) -> float:
    kept = times[WARMUP_FRAMES:] if len(times) > 2 * WARMUP_FRAMES else times
    return statistics.median(kept) if kept else float('nan')


def aggregate(runs: List[SequenceRun]) -> Dict[str, float]:
    """Compute metrics over all frames of all sequences.

    Also the mean of per-sequence AUCs and the median per-frame time (after the warm-up
    frames of each sequence).
    """
    out = summary(concat([r.errors for r in runs]))
    out['mean_sequence_auc'] = float(np.mean([r.metrics['auc'] for r in runs]))
    times = [t for r in runs for t in r.frame_ms[WARMUP_FRAMES:]]
    out['e2e_ms'] = statistics.median(times) if times else float('nan')
    out['fps'] = 1000.0 / out['e2e_ms'] if times else float('nan')
    ratios = np.concatenate([r.size_ratio for r in runs if r.size_ratio is not None] or
                            [np.zeros(0)])
    out['size_ratio'] = float(np.median(ratios)) if len(ratios) else float('nan')
    out['size_inflated'] = float((ratios > INFLATED).mean()) if len(ratios) else float('nan')
    beside = [r for r in runs if r.look_alike is not None]
    if beside:
        frames = sum(int(r.look_alike.sum()) for r in beside)
        out['switches'] = sum(int(r.switched.sum()) for r in beside) / max(frames, 1)
        out['switched_sequences'] = sum(bool(r.switched.any()) for r in beside)
    return out


# A box whose side sqrt(w h) is this many times the true one counts as inflated.
INFLATED = 1.5


def size_ratios(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Return sqrt(area predicted / area true) for the frames where both boxes exist."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(pred).all(axis=1) & np.isfinite(truth).all(axis=1) & \
        (truth[:, 2] > 0) & (truth[:, 3] > 0) & (pred[:, 2] > 0) & (pred[:, 3] > 0)
    return np.sqrt(pred[ok, 2] * pred[ok, 3] / (truth[ok, 2] * truth[ok, 3]))
