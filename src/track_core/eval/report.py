"""Evaluation reports: per-sequence table, success and precision plots, JSON and Markdown."""

import json
import pathlib
from typing import Dict, List

import numpy as np

from track_core.eval.metrics import (concat, curves, PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS)
from track_core.eval.ope import SequenceRun


def plot_curves(runs_by_tracker: Dict[str, List[SequenceRun]], out_dir: pathlib.Path,
                title: str = '') -> List[pathlib.Path]:
    """success.png and precision.png, one curve per tracker, the score in the legend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    all_curves = {name: curves(concat([r.errors for r in runs]))
                  for name, runs in runs_by_tracker.items()}
    paths = []
    for kind, xs, xlabel, label in (
            ('success', SUCCESS_THRESHOLDS, 'overlap threshold (IoU)', 'AUC'),
            ('precision', PRECISION_THRESHOLDS, 'location error threshold (px)', 'P@20')):
        fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=120)

        def score(name, kind=kind):
            ys = all_curves[name][kind]
            return ys.mean() if kind == 'success' else ys[20]
        order = sorted(all_curves, key=lambda n: -score(n))
        for name in order:
            ax.plot(xs, all_curves[name][kind], linewidth=2,
                    label=f'{name} [{label} {score(name):.3f}]')
        ax.set_xlabel(xlabel)
        ax.set_ylabel('success rate' if kind == 'success' else 'precision')
        ax.set_ylim(0, 1.0)
        ax.set_xlim(xs[0], xs[-1])
        ax.grid(alpha=0.3)
        ax.set_title(f'{kind.capitalize()} plot of OPE' + (f' - {title}' if title else ''))
        ax.legend(loc='lower left' if kind == 'success' else 'lower right', fontsize=8)
        fig.tight_layout()
        path = out_dir / f'{kind}.png'
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def paired_comparison(per_sequence: Dict[str, Dict[str, Dict[str, float]]], reference: str,
                      other: str, draws: int = 2000, seed: int = 0) -> Dict[str, float]:
    """Compare two trackers sequence by sequence on success AUC.

    ``per_sequence``: {tracker: {sequence: metrics}} (report.json's ``sequences``). Returns
    the number of shared sequences, on how many ``reference`` is higher, the mean per-sequence
    AUC difference (reference - other) and a 90 % bootstrap interval of that mean (sequences
    resampled with replacement, seeded): how much of a difference the set of sequences
    supports, not only its mean.
    """
    shared = [q for q in per_sequence[reference] if q in per_sequence[other]]
    diff = np.array([per_sequence[reference][q]['auc'] - per_sequence[other][q]['auc']
                     for q in shared])
    if not len(diff):
        return {'sequences': 0, 'better': 0, 'mean': float('nan'), 'low': float('nan'),
                'high': float('nan')}
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (draws, len(diff)))].mean(1)
    return {'sequences': len(diff), 'better': int((diff > 0).sum()), 'mean': float(diff.mean()),
            'low': float(np.quantile(means, 0.05)), 'high': float(np.quantile(means, 0.95))}


def markdown(summaries: Dict[str, Dict[str, float]], runs_by_tracker, meta: Dict) -> str:
    names = list(summaries)
    lines = [f'# One-pass evaluation: {meta.get("dataset", "")}', '',
             f'Machine: {meta.get("hardware", "")}', '']
    if meta.get('cut_away'):
        lines += [f'Each sequence was followed by {meta["cut_away"]} frames of the next one '
                  '(another scene, resized to its frame size: the target absent). Accuracy '
                  'figures skip those frames; frame rates include them.', '']
    if meta.get('small_target'):
        lines += [f'Each sequence was replayed with its target about {meta["small_target"]:g} '
                  'px (sqrt(w h) on the first frame): every frame downscaled by that factor and '
                  "centred on a canvas of its own size in the frame's mean colour, the boxes "
                  'scaled and shifted alike (data.sequences.with_small_target).', '']
    if meta.get('jpeg'):
        lines += [f'Every frame was then encoded as JPEG at quality {meta["jpeg"]} and decoded '
                  "again, as a camera's encoder would at that scale "
                  '(data.sequences.with_jpeg).', '']
    if meta.get('occluder'):
        lines += [f'Each sequence was replayed with a static occluder over '
                  f'{meta["occluder"]:.0%} of its first box (an object cut from a still, left '
                  'where it is while the target moves on: a target selected partly behind '
                  'something; data.sequences.with_occluder). The boxes are unchanged.', '']
    beside = meta.get('distractor')
    if beside:
        lines += ['Each sequence whose target has a kind was replayed with another object of '
                  "that kind beside the target on every frame (a still's instance scaled to "
                  'the target, level with it, from touching it to 1.5 widths away and back; '
                  'data.sequences.with_distractor). Switches: of the frames with the look-alike '
                  'in view, the share reported with the box on it (IoU >= 0.5, more than with '
                  'the target).', '']
    lines += ['| tracker | AUC | precision@20px | norm. precision@0.2 | mean IoU | box side / '
              'true (median) | box inflated > 1.5x | ' + ('switches (sequences) | ' if beside
                                                          else '') +
              'fps (end-to-end) | model ms |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|' + ('---:|' if beside else '')]
    for name in names:
        s = summaries[name]
        model = f'{s["model_ms"]:.1f}' if s.get('model_ms') is not None else 'n/a'
        switched = (f'{100 * s["switches"]:.1f} % ({s["switched_sequences"]}) | '
                    if beside else '')
        lines.append(f'| {name} | {s["auc"]:.3f} | {s["precision"]:.3f} | '
                     f'{s["norm_precision"]:.3f} | {s["mean_iou"]:.3f} | '
                     f'{s.get("size_ratio", float("nan")):.2f} | '
                     f'{100 * s.get("size_inflated", float("nan")):.0f} % | {switched}'
                     f'{s["fps"]:.1f} | {model} |')
    sequences = list(dict.fromkeys(r.sequence for runs in runs_by_tracker.values()
                                   for r in runs))
    lines += ['', '## Success AUC per sequence', '',
              '| sequence | frames | ' + ' | '.join(names) + ' |',
              '|---|---:|' + '---:|' * len(names)]
    for seq in sequences:
        row, frames = [], 0
        for name in names:
            run = next((r for r in runs_by_tracker[name] if r.sequence == seq), None)
            row.append(f'{run.metrics["auc"]:.3f}' if run else '-')
            frames = run.metrics['frames'] if run else frames
        lines.append(f'| {seq} | {frames} | ' + ' | '.join(row) + ' |')
    conf = {n: summaries[n]['confidence'] for n in names if summaries[n].get('confidence')}
    if conf:
        lines += ['', '## Confidence and LOST (track_core models)', '',
                  'Score-IoU correlation over frames with the target; of the frames declared LOST '
                  'with the target present, the share still overlapping it (false alarms); of '
                  'the TRACKING frames, the share without overlap (silent misses); of the '
                  'frames without the target, the share still TRACKING.', '',
                  '| tracker | score-IoU corr. | LOST frames | LOST while overlapping | '
                  'TRACKING without overlap | TRACKING, target absent |',
                  '|---|---:|---:|---:|---:|---:|']
        for name, c in conf.items():
            absent = (f'{c["tracking_on_absent"]:.2f} of {c["absent_frames"]}'
                      if c['absent_frames'] else 'no such frames')
            lines.append(f'| {name} | {c["score_iou_corr"]:.2f} | {c["lost_share"]:.2f} | '
                         f'{c["lost_on_target"]:.2f} | {c["tracking_off_target"]:.2f} | '
                         f'{absent} |')
    for name, settings in (meta.get('runtime') or {}).items():
        lines += ['', f'Run-time settings of {name} (TrackerConfig): ' +
                  ', '.join(f'{k}={v}' for k, v in settings.items()) + '.']
    if meta.get('ratios'):
        lines += ['', '## Measured side by side', '']
        lines += [f'- {line}' for line in meta['ratios']]
    per_sequence = {name: {r.sequence: r.metrics for r in runs}
                    for name, runs in runs_by_tracker.items()}
    if len(names) > 1:
        ref = names[0]
        lines += ['', f'## {ref} against each tracker, sequence by sequence', '',
                  f"Per-sequence success AUC of {ref} minus the other's: on how many sequences "
                  f'{ref} is higher, the mean difference, and a 90 % bootstrap interval of that '
                  'mean over the sequences (an interval that holds 0 is no evidence either '
                  'way).', '', '| against | higher on | mean AUC difference | 90 % interval |',
                  '|---|---:|---:|---|']
        for other in names[1:]:
            c = paired_comparison(per_sequence, ref, other)
            lines.append(f'| {other} | {c["better"]} of {c["sequences"]} | {c["mean"]:+.3f} | '
                         f'{c["low"]:+.3f} .. {c["high"]:+.3f} |')
    if meta.get('skipped'):
        lines += ['', '## Skipped', '']
        lines += [f'- {k}: {v}' for k, v in meta['skipped'].items()]
    lines += ['', '![success](success.png) ![precision](precision.png)', '']
    return '\n'.join(lines)


def write_report(out_dir, summaries, runs_by_tracker, meta) -> pathlib.Path:
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_curves(runs_by_tracker, out_dir, meta.get('dataset', ''))
    data = {'meta': meta, 'summary': summaries,
            'sequences': {name: {r.sequence: r.metrics for r in runs}
                          for name, runs in runs_by_tracker.items()},
            'boxes': {name: {r.sequence: np.where(np.isfinite(r.boxes), r.boxes, None)
                             .tolist() for r in runs}
                      for name, runs in runs_by_tracker.items()}}
    (out_dir / 'report.json').write_text(json.dumps(data, indent=1))
    path = out_dir / 'report.md'
    path.write_text(markdown(summaries, runs_by_tracker, meta))
    return path
