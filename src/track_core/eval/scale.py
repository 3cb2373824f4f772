"""Scale response: whether a tracker corrects a box of the wrong size or keeps the error.

For sampled frames i of each sequence (template from the first frame), the target is placed at
frame i-1's ground-truth centre with its size multiplied by ``f`` and frame i is tracked once.
The mean log(predicted size / true size) (size = sqrt(w h)) against log(f) shows the tracker's
behaviour: 0 for every f means it reads the size off the image; log(f) means it keeps whatever
size it was given, so any error stays and accumulates. In one-pass tracking a slope near 1 with
a positive offset is a box that grows frame after frame.
"""

import math
from typing import Dict, Iterable, List

import numpy as np

from track_core.boxes import iou_xywh
from track_core.data.sequences import Sequence

FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)


def scale_response(tracker, sequences: Iterable[Sequence], factors=FACTORS,
                   frames_per_sequence: int = 10) -> Dict[float, Dict[str, float]]:
    """{f: {'log_error': mean log(pred/gt size), 'iou': mean IoU, 'samples': n}}.

    ``tracker`` is a ``track_core.runtime.Tracker``, or anything with ``initialize``,
    ``relocate`` and a ``track`` that returns a box (x, y, w, h) or a result with ``.box``
    (the Siamese baselines). Frames with an absent target (in i or i-1) are skipped.
    """
    sequences = list(sequences)
    out = {}
    for f in factors:
        errors: List[float] = []
        ious: List[float] = []
        for seq in sequences:
            visible = np.flatnonzero(seq.visible)
            if len(visible) < 2:
                continue
            first = int(visible[0])
            candidates = [int(i) for i in visible[1:] if seq.visible[i - 1]]
            step = max(1, len(candidates) // frames_per_sequence)
            tracker.initialize(seq.frame(first), seq.boxes[first])
            for i in candidates[::step][:frames_per_sequence]:
                x, y, w, h = seq.boxes[i - 1]
                image = seq.frame(i)
                tracker.relocate((x + w / 2 - w * f / 2, y + h / 2 - h * f / 2, w * f, h * f),
                                 image_size=(image.shape[1], image.shape[0]))
                found = tracker.track(image)
                pred = np.asarray(getattr(found, 'box', found), dtype=np.float64)
                gt = seq.boxes[i]
                errors.append(0.5 * math.log(pred[2] * pred[3] / (gt[2] * gt[3])))
                ious.append(float(iou_xywh(pred[None], gt[None])[0]))
        out[f] = {'log_error': float(np.mean(errors)) if errors else float('nan'),
                  'iou': float(np.mean(ious)) if ious else float('nan'),
                  'samples': len(errors)}
    return out


def markdown_table(responses: Dict[str, Dict[float, Dict[str, float]]]) -> str:
    names = list(responses)
    factors = sorted({f for r in responses.values() for f in r})
    header = ' | '.join(f'{n}: log error | {n}: IoU' for n in names)
    lines = [f'| size given (x true) | log | {header} |',
             '|---:|---:|' + '---:|---:|' * len(names)]
    for f in factors:
        cells = []
        for n in names:
            r = responses[n].get(f)
            cells += ([f'{r["log_error"]:+.2f}', f'{r["iou"]:.2f}'] if r else ['-', '-'])
        lines.append(f'| {f:g} | {math.log(f):+.2f} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(responses: Dict[str, Dict[float, Dict[str, float]]], path, title: str = ''):
    """Log error after one frame against the log error given, one line per tracker."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    lo = min(math.log(f) for r in responses.values() for f in r)
    hi = max(math.log(f) for r in responses.values() for f in r)
    ax.plot([lo, hi], [lo, hi], '--', color='grey', label='keeps the error')
    ax.axhline(0.0, color='black', linewidth=0.8, label='corrects it')
    for name, r in responses.items():
        fs = sorted(r)
        ax.plot([math.log(f) for f in fs], [r[f]['log_error'] for f in fs], 'o-',
                linewidth=2, label=name)
    ax.set_xlabel('log(size given / true size) before the frame')
    ax.set_ylabel('log(predicted size / true size)')
    ax.set_title('Scale response' + (f' - {title}' if title else ''))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
