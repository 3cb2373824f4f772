"""One-pass evaluation: initialise on frame 1 with the ground truth, never re-initialise."""

from dataclasses import dataclass, field
import statistics
import time
from typing import Dict, List

import numpy as np

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
    times = []
    for i in range(start + 1, len(seq)):
        frame = seq.frame(i)
        t0 = time.perf_counter()
        boxes[i] = tracker.track(frame)
        times.append((time.perf_counter() - t0) * 1000.0)
    # The initial frame is given, not predicted: evaluate from the next one.
    errors = frame_errors(boxes[start + 1:], seq.boxes[start + 1:])
    return SequenceRun(tracker.name, seq.name, boxes, times, errors, summary(errors))


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
    return out
