#!/usr/bin/env python3
"""Two targets of one kind tracked at once: whether one takes the other's box.

    python scripts/two_targets.py MODEL [--try rivals=0 ...] [--kinds config/eval/dev_kinds.yaml]

The distractor variant of ``track-eval run --distractor`` (another instance of the target's
kind pasted beside it on every frame, from touching it to 1.5 widths away and back), with the
look-alike tracked as a second target from its first frame, as a robot tracking two people
would. For the model's own settings and each ``--try`` (comma-separated KEY=VALUE on top of
them), over the dev sequences with a kind, on the frames with both in view: the share on which
the first target is reported with its box on the second (IoU >= 0.5, more than with its own
object), the same for the second on the first, and the first target's mean IoU (0 where it is
not reported). That a lost target never takes another followed target's box
(``Tracker._taken``) holds in every run; ``rivals`` is the setting to try.
"""

import argparse
import sys

import numpy as np
from tqdm import tqdm

from track_core.boxes import iou_xywh
from track_core.config import ConfigError, parse_overrides
from track_core.data.build import resolve
from track_core.data.sequences import find_sequences, with_distractor
from track_core.eval.protocols import look_alikes, read_kinds
from track_core.runtime import load_tracker, model_runtime


def _iou(box, other) -> float:
    return float(iou_xywh(np.asarray(box, np.float64), np.asarray(other, np.float64))[0])


def _on(box, this, that) -> bool:
    """Say whether ``box`` is on ``this`` (IoU >= 0.5, more than with ``that``)."""
    return _iou(box, this) >= 0.5 and _iou(box, this) > _iou(box, that)


def run_one(model, settings, scenes, threads: int):
    """Play every scene with both targets; return the figures and the sequences that swap."""
    first_on_second = second_on_first = frames = 0
    ious, swapped = [], []
    for seq in tqdm(scenes, desc='two targets', unit='seq', leave=False):
        tracker = load_tracker(model, backend='onnx', threads=threads,
                               config=model_runtime(model, settings))
        first = tracker.add_target(seq.frame(0), seq.boxes[0])
        second, counts = None, [0, 0]
        for i in range(1, len(seq)):
            image, own, other = seq.frame(i), seq.boxes[i], seq.distractors[i]
            if second is None:          # the look-alike's first frame: select it
                if np.isfinite(other).all():
                    second = tracker.add_target(image, other)
                else:
                    tracker.track_all(image)
                continue
            results = tracker.track_all(image)
            if not (np.isfinite(own).all() and np.isfinite(other).all()):
                continue
            frames += 1
            a, b = results[first], results[second]
            ious.append(_iou(a.box, own) if a.present else 0.0)
            counts[0] += a.present and _on(a.box, other, own)
            counts[1] += b.present and _on(b.box, own, other)
        first_on_second += counts[0]
        second_on_first += counts[1]
        if any(counts):
            swapped.append(f'{seq.name} ({counts[0]} / {counts[1]})')
    share = (lambda n: 100.0 * n / frames) if frames else (lambda n: float('nan'))
    return {'first_on_second': share(first_on_second), 'second_on_first': share(second_on_first),
            'mean_iou': float(np.mean(ious)) if ious else float('nan'), 'frames': frames,
            'swapped': swapped}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model')
    parser.add_argument('--data', default='${data}/sot/dev')
    parser.add_argument('--kinds', default='config/eval/dev_kinds.yaml')
    parser.add_argument('--try', dest='tries', nargs='*', default=[], metavar='K=V,K=V')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    try:
        labelled = [('model', {})] + [(t, parse_overrides(t.split(','))) for t in args.tries]
        for _, change in labelled:
            model_runtime(args.model, change)
    except (ConfigError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    data = resolve(args.data)
    if not data.is_dir():
        print(f'error: no dev sequences at {data} (set TRACK_DATA_ROOT)', file=sys.stderr)
        return 2
    seqs = find_sequences(data)
    scenes = [with_distractor(seq, rgb, box)
              for seq, rgb, box in look_alikes(seqs, *read_kinds(args.kinds))]
    print(f'{len(scenes)} sequences with a kind ({args.kinds}), the look-alike tracked as a '
          'second target')
    print('| settings | first target on the second | second on the first | first target: '
          'mean IoU | frames | sequences (first on second / second on first) |')
    print('|---|---:|---:|---:|---:|---|')
    for label, change in labelled:
        f = run_one(args.model, change, scenes, args.threads)
        print(f'| {label} | {f["first_on_second"]:.1f} % | {f["second_on_first"]:.1f} % | '
              f'{f["mean_iou"]:.3f} | {f["frames"]} | {", ".join(f["swapped"]) or "none"} |',
              flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
