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

from track_core.config import ConfigError, from_dict, parse_overrides
from track_core.data.build import resolve
from track_core.data.sequences import (DataError, find_sequences, with_jpeg,
                                       with_small_target)
from track_core.errors import CheckpointError
from track_core.eval.longterm import markdown as longterm_markdown
from track_core.eval.protocols import (evaluate, evaluate_longterm, model_spec,
                                       NO_SIZE_CONTROL)
from track_core.eval.scale import FACTORS, scale_response
from track_core.eval.scale import markdown_table as scale_table, plot as plot_scale
from track_core.foreign.baselines import available_baselines
from track_core.runtime import load_tracker, model_runtime, TrackerConfig


def _baseline_dirs(wanted, given):
    """{key: folder} of the wanted baselines that take one; None where it is missing.

    A baseline without its folder is skipped by ``available_baselines``, with the reason.
    """
    dirs = {}
    for key, folder in given.items():
        if key in wanted:
            try:
                dirs[key] = resolve(folder)
            except DataError:
                dirs[key] = None
    return dirs


# Baselines whose box the scale response can move (their own runtime, written here).
RAW_SIAMESE = ('nanotrack_v3', 'lighttrack')


def _raw_siamese(args):
    """{name: tracker} of --baselines for the scale response: the size taken as found."""
    unknown = [b for b in args.baselines if b.lower() not in RAW_SIAMESE]
    if unknown:
        raise ValueError(f'the scale response takes the baselines {", ".join(RAW_SIAMESE)} '
                         f'(their box can be moved), not {", ".join(unknown)}')
    wanted = [b.lower() for b in args.baselines]
    ready, skipped = available_baselines(wanted, dirs=_baseline_dirs(
        wanted, {'nanotrack_v3': args.nanotrack_v3_dir, 'lighttrack': args.lighttrack_dir}))
    for name, why in skipped.items():
        print(f'skipped {name}: {why}', file=sys.stderr)
    trackers = {}
    for name, make in ready.items():
        tracker = make()
        tracker.s = dataclasses.replace(tracker.s, penalty_k=0.0, lr=1.0, size_by_score=False)
        trackers[name] = tracker
    return trackers


def _scale(args, runtime) -> int:
    if any(f <= 0 for f in args.factors):
        print('error: --factors must be positive', file=sys.stderr)
        return 2
    try:
        seqs = find_sequences(resolve(args.data))
        if args.small_target:
            seqs = [with_small_target(s, args.small_target) for s in seqs]
        if args.jpeg:
            seqs = [with_jpeg(s, args.jpeg) for s in seqs]
        responses = {}
        for spec in args.model:
            name, path = model_spec(spec)
            tracker = load_tracker(path, device='cpu', backend='onnx',
                                   config=model_runtime(path, runtime))
            responses[name] = scale_response(tracker, seqs, args.factors, args.frames)
        for name, tracker in _raw_siamese(args).items():
            responses[name] = scale_response(tracker, seqs, args.factors, args.frames)
    except (DataError, CheckpointError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'scale.json').write_text(json.dumps(
        {'data': args.data, 'runtime': runtime, 'small_target': args.small_target,
         'jpeg': args.jpeg,
         'responses': {n: {str(f): v for f, v in r.items()} for n, r in responses.items()}},
        indent=1))
    replay = ', '.join(x for x in (
        f'{args.small_target:g}-px targets' if args.small_target else '',
        f'JPEG {args.jpeg}' if args.jpeg else '') if x)
    plot_scale(responses, out / 'scale.png', replay)
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
    run.add_argument('--small-target', type=float, default=0.0, metavar='PX',
                     help='replay each sequence with its target about PX pixels (frames '
                     'downscaled and centred on a canvas of their size, boxes scaled alike)')
    run.add_argument('--jpeg', type=int, default=0, metavar='Q',
                     help='then re-encode every frame as JPEG at quality Q (1-100), as a '
                     "camera's encoder would at that scale (0: not)")
    run.add_argument('--distractor', default='', metavar='KINDS.yaml',
                     help='replay the sequences with a kind in KINDS.yaml with another object '
                     'of that kind beside the target all along (pasted from the stills of '
                     '${data}/det/coco_lightly256); the report counts switches to it')
    run.add_argument('--occluder', type=float, default=0.0, metavar='AREA',
                     help='replay each sequence with a static occluder (an object of the '
                     'stills of ${data}/det/coco_lightly256) over AREA (0-1) of its first box, '
                     'left where it is while the target moves on: a target selected partly '
                     'behind something (0: not)')
    run.add_argument('--leave-return', type=int, default=0, metavar='N',
                     help='instead, the long-term protocol: each sequence is cut 40 %% of the '
                     'way through by N frames of the next one (the target away) and goes on, '
                     'with the target back where it left and, second, where it has moved to '
                     '(a fifth of the sequence dropped); writes longterm.md / .json')
    run.add_argument('--look-alike', default='', metavar='KINDS.yaml',
                     help='with --leave-return: while away, show another object of the '
                     "target's kind (KINDS.yaml: sequence -> COCO label, e.g. "
                     'config/eval/dev_kinds.yaml; stills from ${data}/det/coco_lightly256)')
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
    scale.add_argument('--baselines', nargs='*', default=[],
                       help='nanotrack_v3 lighttrack: their networks, with the size taken as '
                       'found (penalty 0, no smoothing; their own 10-px least size stays)')
    scale.add_argument('--nanotrack-v3-dir', default='${data}/baselines/nanotrack_v3')
    scale.add_argument('--lighttrack-dir', default='${data}/baselines/lighttrack_mobile')
    scale.add_argument('--small-target', type=float, default=0.0, metavar='PX',
                       help='measure on the small-target replay (as track-eval run '
                       '--small-target): where boxes inflate')
    scale.add_argument('--jpeg', type=int, default=0, metavar='Q',
                       help='then re-encode every frame as JPEG at quality Q (0: not)')
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
    dirs = _baseline_dirs([b.lower() for b in args.baselines], {
        'nanotrack': args.nanotrack_dir, 'nanotrack_v3': args.nanotrack_v3_dir,
        'lighttrack': args.lighttrack_dir, 'vittrack': args.vittrack_dir})
    if args.occluder and args.leave_return:
        parser.error('--occluder replays the one-pass runs, not --leave-return')
    if args.jpeg and args.leave_return:
        parser.error('--jpeg re-encodes the one-pass runs (with --small-target), not '
                     '--leave-return')
    if args.leave_return:
        try:
            figures, path = evaluate_longterm(args.data, args.model, args.baselines, args.out,
                                              args.backend, args.threads, args.sequences,
                                              runtime, dirs, args.leave_return,
                                              look_alike=args.look_alike)
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
                                   cut_away=args.cut_away, small_target=args.small_target,
                                   distractor=args.distractor, jpeg=args.jpeg,
                                   occluder=args.occluder)
    except (DataError, CheckpointError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(path.read_text())
    print(f'report: {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
