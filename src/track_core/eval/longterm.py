"""Long-term figures: does a tracker say when its target is gone, and find it again.

Runs on *leave-and-return* sequences (``data.sequences.with_leave_and_return``): the target
leaves the view for N frames of another scene and comes back. A tracker's present/absent
decision per frame is its own: track_core models report absent while LOST, OpenCV's trackers
when they report a failure, others never. Figures, over all sequences:

- ``absent_reported``: of the frames without the target, the share reported present;
- ``reacquired``: of the returns, the share where the tracker reports the target at IoU >= 0.5
  within ``window`` frames of its return; ``frames_to_reacquire``: the median delay of those;
- the VOT long-term precision, recall and F-score (Lukezic et al., "Now you see me", 2020) of
  the tracker's own decision: precision = mean IoU over the frames it reports the target (0
  where the target is absent), recall = mean IoU over the frames with the target (0 where it
  reports nothing), F = 2 P R / (P + R); each per sequence, then averaged;
- ``f_best``: for trackers with a score, F at the best score threshold of a sweep (the
  frames reported present are those at or above it), and that threshold;
- ``sequences``: each sequence's precision, recall and F, whether the target came back in
  it, the frames its return took to be re-acquired (None: not within ``window``) and how far
  the target travelled while away: which sequences hold the averages down.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np

from track_core.boxes import iou_xywh

WINDOW = 30
# How far the target moved while away, in target sizes (sqrt(w h) when it left): the bins of
# the re-acquisition breakdown.
TRAVEL_BINS = ((0.0, 1.0, '< 1'), (1.0, 3.0, '1-3'), (3.0, float('inf'), '>= 3'))


def travelled(gt: np.ndarray, back: int) -> Optional[float]:
    """Return how far the target moved while away, in its sizes (None when unknown).

    From the centre of the last box before the absence to the centre at the return
    (``back``), divided by the side sqrt(w h) of the box it left with.
    """
    if back >= len(gt) or not np.isfinite(gt[back]).all():
        return None
    before = np.flatnonzero(np.isfinite(gt[:back]).all(axis=1))
    if not len(before):
        return None
    x, y, w, h = gt[before[-1]]
    bx, by, bw, bh = gt[back]
    side = float(np.sqrt(max(w * h, 1e-9)))
    return float(np.hypot(bx + bw / 2 - x - w / 2, by + bh / 2 - y - h / 2)) / side


def _iou_per_frame(run, gt: np.ndarray) -> np.ndarray:
    """Return the IoU of every frame after the first (0 where either box is missing)."""
    pred = run.boxes[run.start + 1:]
    truth = gt[run.start + 1:]
    ok = np.isfinite(pred).all(axis=1) & np.isfinite(truth).all(axis=1)
    out = np.zeros(len(pred))
    if ok.any():
        out[ok] = iou_xywh(pred[ok], truth[ok])
    return out


def _prf(iou, present, reported):
    precision = float(iou[reported].mean()) if reported.any() else float('nan')
    recall = float((iou * reported)[present].mean()) if present.any() else float('nan')
    f = 2 * precision * recall / (precision + recall) \
        if np.isfinite(precision) and np.isfinite(recall) and precision + recall > 0 else 0.0
    return precision, recall, f


def longterm_metrics(runs: List, truths: Sequence[np.ndarray], returns: Sequence[int],
                     window: int = WINDOW, distractors: Optional[Sequence[np.ndarray]] = None
                     ) -> Dict[str, Optional[float]]:
    """Compute the figures of one tracker's ``runs`` on leave-and-return sequences.

    ``truths``: each sequence's boxes (NaN while the target is away); ``returns``: the index
    of the frame where the target comes back in each. ``distractors``: each sequence's
    look-alike boxes (NaN where there is none): ``switches`` is then the share of the absent
    frames reported present on the look-alike (IoU >= 0.5), the robot following another one.
    ``sequences`` lists each run's own figures (see the module's docstring).
    """
    absent_reported, absent_total = 0, 0
    delays, returned = [], 0
    by_travel = {label: [0, 0] for _, _, label in TRAVEL_BINS}     # [re-acquired, returns]
    switched = 0
    per_seq, rows = [], []
    pooled = []                           # (iou, present, reported, score) per sequence
    others = distractors if distractors is not None else [None] * len(runs)
    for run, gt, back, other in zip(runs, truths, returns, others):
        iou = _iou_per_frame(run, gt)
        truth = gt[run.start + 1:]
        present = np.isfinite(truth).all(axis=1)
        reported = run.reported
        absent_reported += int((reported & ~present).sum())
        absent_total += int((~present).sum())
        if other is not None:
            on_other = _iou_per_frame(run, np.asarray(other, float)) >= 0.5
            switched += int((on_other & reported & ~present).sum())
        i0 = back - run.start - 1
        delay = moved = None
        came_back = bool(0 <= i0 < len(iou) and present[i0])
        if came_back:
            returned += 1
            hit = np.flatnonzero((iou[i0:i0 + window] >= 0.5) & reported[i0:i0 + window])
            if len(hit):
                delay = int(hit[0])
                delays.append(delay)
            moved = travelled(gt, back)
            for low, high, label in TRAVEL_BINS:
                if moved is not None and low <= moved < high:
                    by_travel[label][0] += int(len(hit) > 0)
                    by_travel[label][1] += 1
        per_seq.append(_prf(iou, present, reported))
        p, r, f = per_seq[-1]
        rows.append({'sequence': run.sequence, 'precision': p if np.isfinite(p) else None,
                     'recall': r if np.isfinite(r) else None, 'f': f,
                     'returned': came_back, 'reacquired_after': delay, 'travelled': moved})
        if run.scores is not None:
            pooled.append((iou, present, run.scores, ~run.lost))
    precision = float(np.nanmean([p for p, _, _ in per_seq])) if per_seq else float('nan')
    recall = float(np.nanmean([r for _, r, _ in per_seq])) if per_seq else float('nan')
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    out = {'absent_reported': absent_reported / absent_total if absent_total else None,
           'reacquired': len(delays) / returned if returned else None,
           'frames_to_reacquire': float(np.median(delays)) if delays else None,
           'precision': precision, 'recall': recall, 'f': f,
           'f_best': None, 'f_best_threshold': None, 'reacquired_by_travel': by_travel,
           'switches': (switched / absent_total if absent_total else None)
           if distractors is not None else None, 'sequences': rows}
    if pooled:
        best = (-1.0, None)
        for tau in np.linspace(0.0, 1.0, 101):
            fs = [_prf(iou, present, scores >= tau)[2] for iou, present, scores, _ in pooled]
            value = float(np.mean(fs))
            if value > best[0]:
                best = (value, float(tau))
        out['f_best'], out['f_best_threshold'] = best
    return out


def missed_returns(m: Dict) -> str:
    """Return the sequences whose return ``m`` did not re-acquire, with how far it moved.

    'n/a' for figures without ``sequences`` (reports written before they were kept).
    """
    if 'sequences' not in m:
        return 'n/a'
    missed = [row for row in m['sequences']
              if row.get('returned', True) and row['reacquired_after'] is None]
    return ', '.join(row['sequence'] + ('' if row['travelled'] is None else
                                        f' ({row["travelled"]:.1f})') for row in missed) \
        or 'none'


def markdown(figures: Dict[str, Dict[str, Dict]], absent: int) -> str:
    """Return a table per variant, one row per tracker, and the returns each one missed."""
    def cell(v, pct=False):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return 'n/a'
        return f'{100 * v:.0f} %' if pct else f'{v:.3f}'
    lines = []
    for variant, rows in figures.items():
        lines += [f'### The target returns {variant} ({absent} frames away)', '',
                  '| tracker | absent frames reported present | returns re-acquired '
                  f'(IoU >= 0.5 within {WINDOW}) | by distance travelled away (< 1 / 1-3 / '
                  '>= 3 target sizes) | median frames to re-acquire | LT precision '
                  '| LT recall | LT F | best F over the score (threshold) |',
                  '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
        for name, m in rows.items():
            best = 'n/a' if m['f_best'] is None else \
                f'{m["f_best"]:.3f} ({m["f_best_threshold"]:.2f})'
            delay = 'n/a' if m['frames_to_reacquire'] is None else \
                f'{m["frames_to_reacquire"]:.0f}'
            travel = ' / '.join(f'{a}/{b}' for a, b in
                                (m.get('reacquired_by_travel') or {}).values()) or 'n/a'
            switches = '' if m.get('switches') is None else \
                f' ({cell(m["switches"], True)} on the look-alike)'
            lines.append(f'| {name} | {cell(m["absent_reported"], True)}{switches} | '
                         f'{cell(m["reacquired"], True)} | {travel} | {delay} | '
                         f'{cell(m["precision"])} | '
                         f'{cell(m["recall"])} | {cell(m["f"])} | {best} |')
        if all('sequences' in m for m in rows.values()):     # (older reports lack them)
            lines += ['', f'Returns not re-acquired within {WINDOW} frames (in brackets, how '
                      'far the target travelled while away, in its sizes):', '']
            lines += [f'- {name}: {missed_returns(m)}' for name, m in rows.items()]
        lines.append('')
    return '\n'.join(lines)
