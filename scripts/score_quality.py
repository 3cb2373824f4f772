r"""Does a model's confidence mean something? Per-frame confidence against IoU on dev.

    python scripts/score_quality.py MODEL [MODEL ...] [--data ${data}/sot/dev] [--absent 30]

Each model runs with its LOST rule off (lost_threshold 0: the boxes are those it finds while
it keeps following) on every dev sequence and on its leave-and-return splice (the target
away for --absent frames of the next sequence, then back where it has moved to). Over the
frames with the target: the score-IoU correlation and the medians on hits (IoU >= 0.5) and
misses (IoU < 0.1); over the frames without it, the median; then the separation of hits from
frames without the target (the area under the ROC curve: the chance that a random hit
scores above a random absent frame) and of hits from misses, and for a few thresholds the
share of absent frames, hits and misses at or above it.
"""

import argparse
import sys

import numpy as np

from track_core.data.build import resolve
from track_core.data.sequences import find_sequences
from track_core.eval.ope import run_sequence
from track_core.eval.protocols import leave_return_splices, LONGTERM_VARIANTS
from track_core.eval.trackers import CoreTracker
from track_core.runtime import model_runtime

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def auc(pos, neg) -> float:
    """Probability that a random ``pos`` score exceeds a random ``neg`` one (ties count half)."""
    if not len(pos) or not len(neg):
        return float('nan')
    order = np.concatenate([pos, neg])
    ranks = order.argsort().argsort().astype(float) + 1
    # average ranks of ties
    values, inverse = np.unique(order, return_inverse=True)
    sums = np.bincount(inverse, ranks)
    counts = np.bincount(inverse)
    ranks = (sums / counts)[inverse]
    r_pos = ranks[:len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def frames(path, seqs, absent):
    """(score, iou, present) over all frames after the first of plain and spliced runs."""
    config = model_runtime(path, {'lost_threshold': 0.0, 'recover_threshold': 0.0})
    tracker = CoreTracker('model', path, config=config)
    spliced, _ = leave_return_splices(seqs, absent, LONGTERM_VARIANTS['where it has moved to'])
    out = []
    for seq in list(seqs) + spliced:
        run = run_sequence(tracker, seq)
        iou = np.zeros(len(run.present))
        iou[run.present] = run.errors.iou
        out.append(np.stack([run.scores, iou, run.present.astype(float)], 1))
    return np.concatenate(out)


def report(name, data) -> str:
    score, iou, present = data[:, 0], data[:, 1], data[:, 2] > 0
    hit, miss, gone = present & (iou >= 0.5), present & (iou < 0.1), ~present
    corr = float(np.corrcoef(score[present], iou[present])[0, 1])
    lines = [f'## {name}', '',
             f'frames: {len(score)} ({hit.sum()} hits, {miss.sum()} misses, {gone.sum()} '
             f'without the target)',
             f'score-IoU correlation (target present): {corr:.2f}',
             f'median score: hits {np.median(score[hit]):.3f}, misses '
             f'{np.median(score[miss]):.3f}, target absent {np.median(score[gone]):.3f}',
             f'separation (ROC area): hits vs absent {auc(score[hit], score[gone]):.3f}, '
             f'hits vs misses {auc(score[hit], score[miss]):.3f}', '',
             '| threshold | absent frames at or above | hits at or above | misses at or above |',
             '|---:|---:|---:|---:|']
    for t in THRESHOLDS:
        lines.append(f'| {t:.2f} | {np.mean(score[gone] >= t):.0%} | '
                     f'{np.mean(score[hit] >= t):.0%} | {np.mean(score[miss] >= t):.0%} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('models', nargs='+', help='checkpoints (NAME=PATH or PATH)')
    parser.add_argument('--data', default='${data}/sot/dev')
    parser.add_argument('--absent', type=int, default=30)
    args = parser.parse_args(argv)
    seqs = find_sequences(resolve(args.data))
    if len(seqs) < 2:
        print(f'error: {args.data}: need at least two sequences', file=sys.stderr)
        return 2
    for spec in args.models:
        name, _, path = spec.rpartition('=')
        print(report(name or path, frames(path, seqs, args.absent)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
