r"""track-eval: one-pass evaluation of models and baselines on real sequences.

    track-eval run --data ../shared/data/sot/dev --model default=models/default.safetensors \
        --baselines csrt kcf nanotrack nanotrack_v3 lighttrack --out reports/dev

Each track_core model runs with the run-time settings it brings (stored in its metadata);
``--set KEY=VALUE`` changes one of them for every model (TrackerConfig, e.g.
``--set size_penalty=0``); the report records each model's settings. Writes report.md,
report.json, success.png and precision.png into --out. The data folder may
be any layout track_core.data reads (the shared uniform layout, GOT-10k, LaSOT, OTB/UAV).
``--cut-away N`` follows each sequence with N frames of another scene, so the confidence table
also tells how often a model still says TRACKING when its target is gone.
"""

import argparse
import dataclasses
import json
import pathlib
import sys
from typing import Any, Dict, Optional

import torch

from track_core.config import ConfigError, from_dict, parse_overrides
from track_core.data.build import resolve
from track_core.data.sequences import (DataError, find_sequences, with_cut_away,
                                       with_leave_and_return)
from track_core.errors import CheckpointError
from track_core.eval.longterm import longterm_metrics, markdown as longterm_markdown
from track_core.eval.ope import aggregate, confidence, median_after_warmup, run_sequence
from track_core.eval.report import write_report
from track_core.eval.scale import FACTORS, scale_response
from track_core.eval.scale import markdown_table as scale_table, plot as plot_scale
from track_core.eval.speed import hardware_line
from track_core.eval.trackers import CoreTracker
from track_core.foreign.baselines import available_baselines
from track_core.runtime import load_tracker, model_runtime, TrackerConfig


def model_spec(spec: str):
    """'NAME=PATH' -> (NAME, PATH); a bare PATH is named after its file."""
    name, _, path = spec.partition('=')
    if not path:
        return pathlib.Path(spec).stem, spec
    return name, path


def evaluate(data, models, baselines=(), nanotrack_dir=None, out='reports/eval',
             backend='onnx', threads=None, sequences=None, progress=True,
             runtime: Optional[Dict[str, Any]] = None, baseline_dirs=None, cut_away: int = 0):
    """Run every tracker over every sequence; write the report; return (summaries, path).

    ``runtime``: run-time settings changed on top of each track_core model's own (baselines
    have theirs). ``cut_away``: follow each sequence with that many frames of the next one in
    the set (``with_cut_away``: the target absent), for the confidence figures.
    """
    from tqdm import tqdm
    skipped_data = []
    seqs = find_sequences(resolve(str(data)), on_skip=skipped_data.append)
    if sequences:
        seqs = [s for s in seqs if s.name in set(sequences)]
    if not seqs:
        raise DataError(f'{data}: no sequences to evaluate')
    if cut_away:
        if len(seqs) < 2:
            raise DataError(f'{data}: a cut-away needs at least two sequences')
        seqs = [with_cut_away(s, seqs[(i + 1) % len(seqs)], cut_away)
                for i, s in enumerate(seqs)]
    threads = threads or torch.get_num_threads()
    factories, settings = {}, {}
    for spec in models:
        name, path = model_spec(spec)
        settings[name] = model_runtime(path, runtime)
        factories[name] = (lambda n=name, p=path:
                           CoreTracker(n, p, backend=backend, threads=threads,
                                       config=settings[n]))
    ready, skipped = available_baselines(baselines, nanotrack_dir, baseline_dirs)
    factories.update(ready)
    runs, summaries = {}, {}
    total = len(factories) * len(seqs)
    bar = tqdm(total=total, desc='evaluating', unit='seq', disable=not progress)
    for name, make in factories.items():
        tracker = make()
        runs[name] = []
        for seq in seqs:
            bar.set_postfix(tracker=name, seq=seq.name)
            runs[name].append(run_sequence(tracker, seq))
            bar.update()
        summaries[name] = aggregate(runs[name])
        summaries[name]['confidence'] = confidence(runs[name])
        summaries[name]['model_ms'] = (median_after_warmup(tracker.model_ms)
                                       if tracker.model_ms else None)
    bar.close()
    ratios = speed_ratios(summaries)
    root = resolve(str(data))
    meta = {'dataset': '/'.join(root.resolve().parts[-2:]), 'sequences': [s.name for s in seqs],
            'hardware': hardware_line(threads), 'backend': backend,
            'runtime': {n: dataclasses.asdict(c) for n, c in settings.items()},
            'skipped': {**skipped, **{f'data {i}': m for i, m in enumerate(skipped_data)}},
            'ratios': ratios, 'cut_away': cut_away}
    return summaries, write_report(out, summaries, runs, meta)


NO_SIZE_CONTROL = ('size_penalty=0', 'size_smoothing=0', 'size_by_confidence=false')
LEAVE_AT = 0.4          # of the sequence, where the target leaves
# The two leave-and-return variants: the target back where it left, or where it has moved to
# meanwhile (1 / value of the sequence dropped before the return; 0: none).
LONGTERM_VARIANTS = {'where it left': 0, 'where it has moved to': 5}


def leave_return_splices(seqs, absent: int, fifth: int):
    """Return (spliced sequences, index of each one's return frame) for one variant.

    Each sequence leaves at LEAVE_AT for ``absent`` frames of the next one in ``seqs``, then
    goes on after dropping ``len // fifth`` frames (none for 0); sequences too short for that
    are left out.
    """
    spliced, returns = [], []
    for i, s in enumerate(seqs):
        skip = len(s) // fifth if fifth else 0
        leave = max(1, int(len(s) * LEAVE_AT))
        if leave >= len(s) - skip - 1:
            continue
        spliced.append(with_leave_and_return(s, seqs[(i + 1) % len(seqs)], leave, absent, skip))
        returns.append(leave + absent)
    return spliced, returns


def evaluate_longterm(data, models, baselines=(), out='reports/longterm', backend='onnx',
                      threads=None, sequences=None, runtime=None, baseline_dirs=None,
                      absent: int = 30, progress=True):
    """Run every tracker on both leave-and-return variants; write longterm.md / .json.

    Returns ({variant: {tracker: figures}}, the report path).
    """
    from tqdm import tqdm
    seqs = find_sequences(resolve(str(data)))
    if sequences:
        seqs = [s for s in seqs if s.name in set(sequences)]
    if len(seqs) < 2:
        raise DataError(f'{data}: the long-term protocol needs at least two sequences')
    threads = threads or torch.get_num_threads()
    factories = {}
    for spec in models:
        name, path = model_spec(spec)
        config = model_runtime(path, runtime)
        factories[name] = (lambda n=name, p=path, c=config:
                           CoreTracker(n, p, backend=backend, threads=threads, config=c))
    ready, skipped = available_baselines(baselines, None, baseline_dirs)
    factories.update(ready)
    figures = {}
    bar = tqdm(total=len(LONGTERM_VARIANTS) * len(factories) * len(seqs), desc='long-term',
               unit='seq', disable=not progress)
    for variant, fifth in LONGTERM_VARIANTS.items():
        spliced, returns = leave_return_splices(seqs, absent, fifth)
        figures[variant] = {}
        for name, make in factories.items():
            tracker = make()
            runs = []
            for seq in spliced:
                bar.set_postfix(variant=variant[:10], tracker=name, seq=seq.name)
                runs.append(run_sequence(tracker, seq))
                bar.update()
            figures[variant][name] = longterm_metrics(runs, [q.boxes for q in spliced],
                                                      returns)
    bar.close()
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {'dataset': '/'.join(resolve(str(data)).resolve().parts[-2:]),
            'sequences': [s.name for s in seqs], 'absent_frames': absent,
            'leave_at': LEAVE_AT, 'hardware': hardware_line(threads), 'skipped': skipped}
    (folder / 'longterm.json').write_text(json.dumps({'meta': meta, 'figures': figures},
                                                     indent=1))
    text = ['# Long-term: leave and return', '',
            f'Dataset {meta["dataset"]}, {len(seqs)} sequences; each cut at '
            f'{LEAVE_AT:.0%} by {absent} frames of the next sequence (the target away), then '
            'the rest: the target back where it left, or (second table) where it has moved '
            'to, a fifth of the sequence dropped. Machine: ' + meta['hardware'], '',
            longterm_markdown(figures, absent)]
    text += [f'- skipped {k}: {v}' for k, v in skipped.items()]
    (folder / 'longterm.md').write_text('\n'.join(text) + '\n')
    return figures, folder / 'longterm.md'


def speed_ratios(summaries):
    names = list(summaries)
    lines = []
    if len(names) > 1:
        base = names[0]
        for other in names[1:]:
            a, b = summaries[base], summaries[other]
            lines.append(f'{base} vs {other}: {a["fps"] / b["fps"]:.2f}x the frame rate '
                         f'({a["fps"]:.1f} vs {b["fps"]:.1f} fps), AUC ratio '
                         f'{a["auc"] / max(b["auc"], 1e-9):.2f}')
    return lines


def _scale(args, runtime) -> int:
    if any(f <= 0 for f in args.factors):
        print('error: --factors must be positive', file=sys.stderr)
        return 2
    try:
        seqs = find_sequences(resolve(args.data))
        responses = {}
        for spec in args.model:
            name, path = model_spec(spec)
            tracker = load_tracker(path, device='cpu', backend='onnx',
                                   config=model_runtime(path, runtime))
            responses[name] = scale_response(tracker, seqs, args.factors, args.frames)
    except (DataError, CheckpointError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'scale.json').write_text(json.dumps(
        {'data': args.data, 'runtime': runtime,
         'responses': {n: {str(f): v for f, v in r.items()} for n, r in responses.items()}},
        indent=1))
    plot_scale(responses, out / 'scale.png')
    print(scale_table(responses))
    print(f'report: {out / "scale.json"}, {out / "scale.png"}')
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='track-eval', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='one-pass evaluation -> report folder')
    run.add_argument('--data', default='${data}/sot/dev',
                     help='sequence folder (default: ${data}/sot/dev, data = TRACK_DATA_ROOT '
                     'or ../shared/data)')
    run.add_argument('--model', action='append', default=[], metavar='NAME=PATH',
                     help='a track_core checkpoint (repeatable); the first is the reference '
                     'of the speed and AUC ratios')
    run.add_argument('--baselines', nargs='*', default=[],
                     help='csrt kcf nanotrack (v2, OpenCV) nanotrack_v3 lighttrack vittrack')
    run.add_argument('--nanotrack-dir', default='${data}/baselines/nanotrack_v2')
    run.add_argument('--nanotrack-v3-dir', default='${data}/baselines/nanotrack_v3')
    run.add_argument('--vittrack-dir', default='${data}/baselines/vittrack')
    run.add_argument('--lighttrack-dir', default='${data}/baselines/lighttrack_mobile',
                     help='LightTrack-Mobile OpenVINO IR (needs the openvino package)')
    run.add_argument('--backend', default='onnx', choices=['onnx', 'torch'])
    run.add_argument('--threads', type=int, default=None)
    run.add_argument('--sequences', nargs='*', help='only these sequence names')
    run.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', dest='runtime',
                     help='change a run-time setting of every track_core model (TrackerConfig '
                     'field, e.g. size_penalty=0) from the one it brings; repeatable')
    run.add_argument('--cut-away', type=int, default=0, metavar='N',
                     help='follow each sequence with N frames of the next one (another scene, '
                     'the target absent) to measure whether a model says LOST when its target '
                     'is gone; accuracy figures skip those frames, frame rates include them')
    run.add_argument('--leave-return', type=int, default=0, metavar='N',
                     help='instead, the long-term protocol: each sequence is cut 40 %% of the '
                     'way through by N frames of the next one (the target away) and goes on, '
                     'with the target back where it left and, second, where it has moved to '
                     '(a fifth of the sequence dropped); writes longterm.md / .json')
    run.add_argument('--out', default='reports/eval')
    scale = sub.add_parser('scale', help='scale response: is a box of the wrong size corrected?')
    scale.add_argument('--data', default='${data}/sot/dev')
    scale.add_argument('--model', action='append', required=True, metavar='NAME=PATH')
    scale.add_argument('--factors', type=float, nargs='+', default=list(FACTORS))
    scale.add_argument('--frames', type=int, default=10, help='frames per sequence')
    scale.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                       dest='runtime', help='a run-time setting (TrackerConfig field); the '
                       'size control (size_penalty, size_smoothing, size_by_confidence) is '
                       'off unless set here')
    scale.add_argument('--out', default='reports/scale')
    speed = sub.add_parser('speed', help='speed of the shipped model and its baselines, each '
                           'in its own process, in alternation (same as track-bench)')
    speed.add_argument('rest', nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == 'speed':
        from track_core.eval.bench import main as bench_main
        return bench_main(args.rest)
    # The scale response is the network's: the run-time size control is off unless --set.
    base = list(NO_SIZE_CONTROL) if args.command == 'scale' else []
    try:
        runtime = parse_overrides(base + args.runtime)
        from_dict(TrackerConfig, runtime)        # names and values checked up front
    except (ConfigError, ValueError) as exc:
        parser.error(f'--set: {exc}')
    if args.command == 'scale':
        return _scale(args, runtime)
    if not args.model and not args.baselines:
        parser.error('give at least one --model or --baselines')
    dirs = {}
    for key, given in (('nanotrack', args.nanotrack_dir), ('nanotrack_v3', args.nanotrack_v3_dir),
                       ('lighttrack', args.lighttrack_dir), ('vittrack', args.vittrack_dir)):
        if key in [b.lower() for b in args.baselines]:
            try:
                dirs[key] = resolve(given)
            except DataError:
                dirs[key] = None
    if args.leave_return:
        try:
            figures, path = evaluate_longterm(args.data, args.model, args.baselines, args.out,
                                              args.backend, args.threads, args.sequences,
                                              runtime, dirs, args.leave_return)
        except (DataError, CheckpointError, ValueError) as exc:
            print(f'error: {exc}', file=sys.stderr)
            return 2
        print(longterm_markdown(figures, args.leave_return))
        print(f'report: {path}')
        return 0
    try:
        summaries, path = evaluate(args.data, args.model, args.baselines, None, args.out,
                                   args.backend, args.threads, args.sequences,
                                   runtime=runtime, baseline_dirs=dirs,
                                   cut_away=args.cut_away)
    except (DataError, CheckpointError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(path.read_text())
    print(f'report: {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
