"""Speed of the shipped model and the trackers users would otherwise pick, on a busy machine.

Each tracker runs alone in its own process (several runtimes' thread pools in one process skew
each other), in alternation over rounds (A B C, A B C, ...), so a change in the machine's load
moves every tracker alike. Per round and tracker: the median end-to-end time per frame
(``initialize`` once, then ``track`` on every frame: crop, normalise, infer, decode, update)
after a warm-up. Reported: per tracker the median over rounds and its spread (lowest and
highest round), and its time relative to the first tracker measured *within each round* (the
median of those ratios), which holds even when the machine's load moves between rounds.
``profile`` times each stage of a track_core model's frame on its own.

Frames: a real sequence when one is found (``../shared/data/sot/dev`` or ``--data``), else a
generated 640x480 scene with a textured target moving across it.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

DEFAULT_MODEL = pathlib.Path(__file__).resolve().parents[3] / 'models' / 'default.safetensors'
BASELINE_KEYS = ('nanotrack_v3', 'nanotrack', 'lighttrack', 'vittrack', 'csrt', 'kcf')


# ----------------------------------------------------------------- frames
def generated_frames(count: int = 120, size=(480, 640)) -> Tuple[List[np.ndarray], tuple]:
    """Draw a textured 64 x 80 target moving over a smooth background: (frames, first box)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([xx * 0.3 + 40, yy * 0.4 + 60, np.full_like(xx, 120.0)],
                          -1).astype(np.uint8)
    patch = np.random.default_rng(0).integers(0, 256, (80, 64, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        frame = background.copy()
        x, y = 100 + 3 * i % (w - 200), 150 + (i % 40)
        frame[y:y + 80, x:x + 64] = patch
        frames.append(frame)
    return frames, (100.0, 150.0, 64.0, 80.0)


def sequence_frames(folder, name: str, count: int) -> Tuple[List[np.ndarray], tuple]:
    from track_core.data.sequences import find_sequences
    seqs = {s.name: s for s in find_sequences(folder)}
    if name not in seqs:
        raise ValueError(f'no sequence {name!r} in {folder} (have: {", ".join(sorted(seqs))})')
    seq = seqs[name]
    n = min(count, len(seq))
    return [seq.frame(i) for i in range(n)], tuple(float(v) for v in seq.boxes[0])


# ----------------------------------------------------------------- one tracker, one process
def make_tracker(name: str, model: str, data_root: Optional[pathlib.Path], threads: int,
                 also: Optional[Dict[str, str]] = None):
    """Return an evaluation-interface tracker for ``name``.

    ``name``: 'default' (``model``), a key of ``also`` (more track_core models) or a baseline.
    """
    if name == 'default' or name in (also or {}):
        from track_core.eval.trackers import CoreTracker
        path = model if name == 'default' else also[name]
        return CoreTracker(name, path, backend='onnx', threads=threads)
    from track_core.foreign.baselines import available_baselines
    folders = {'nanotrack': 'nanotrack_v2', 'nanotrack_v3': 'nanotrack_v3',
               'lighttrack': 'lighttrack_mobile', 'vittrack': 'vittrack'}
    dirs = {k: data_root / 'baselines' / v for k, v in folders.items()} if data_root else {}
    ready, skipped = available_baselines([name], dirs=dirs)
    if not ready:
        raise RuntimeError(skipped.get(name, 'unavailable'))
    return next(iter(ready.values()))()


def time_tracker(tracker, frames, box, warmup: int) -> List[float]:
    """Milliseconds per frame, end to end, after ``warmup`` untimed frames."""
    tracker.initialize(frames[0], box)
    times = []
    for i, frame in enumerate(frames[1:]):
        start = time.perf_counter()
        tracker.track(frame)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    return times


def profile_stages(model: str, frames, box, threads: int, repeats: int = 50) -> Dict[str, float]:
    """Median milliseconds of each stage of one frame of a track_core model (ONNX Runtime)."""
    from track_core.eval.speed import median_ms
    from track_core.runtime import load_tracker
    from track_core.runtime.decode import decode_output
    from track_core.runtime.preprocess import crop_side, crop_square
    tracker = load_tracker(model, device='cpu', backend='onnx', threads=threads)
    tracker.initialize(frames[0], box)
    for frame in frames[1:6]:
        tracker.track(frame)
    t = tracker._targets[tracker.target_ids[0]]
    pre, cfg = tracker.preprocess, tracker.model_cfg
    frame = frames[min(6, len(frames) - 1)]
    side = crop_side(t.size[0], t.size[1], pre.search_factor, pre.context)
    z_side = crop_side(t.size[0], t.size[1], pre.template_factor, pre.context)
    crop = crop_square(frame, t.center[0], t.center[1], side, cfg.search_size)
    z_crop = crop_square(frame, t.center[0], t.center[1], z_side, cfg.template_size)
    x = tracker.normalize([crop])
    z = t.z_tokens
    out = tracker.backend.run(z, x)
    window, prior = tracker.window, t.size / side
    c = tracker.config
    calls = {
        'crop': lambda: crop_square(frame, t.center[0], t.center[1], side, cfg.search_size),
        'normalise': lambda: tracker.normalize([crop]),
        'template network': lambda: tracker.backend.embed_template(tracker.normalize([z_crop])),
        'search network': lambda: tracker.backend.run(z, x),
        'decode': lambda: decode_output(out, 0, window, prior, c.size_penalty, c.window_blend),
        'whole frame (track)': lambda: tracker.track(frame),
    }
    return {stage: median_ms(call, repeats, 5) for stage, call in calls.items()}


def child(argv) -> int:
    """Run one measurement in this process and print it as one JSON line."""
    args = _parser().parse_args(argv)
    import torch
    threads = args.threads or torch.get_num_threads()
    name = args.child
    try:
        frames, box = load_frames(args)
        if name == 'profile':
            print(json.dumps({'profile': profile_stages(args.model, frames, box, threads)}))
            return 0
        tracker = make_tracker(name, args.model, _data_root(args), threads, _also(args))
    except (RuntimeError, ValueError, OSError) as exc:
        print(json.dumps({'skipped': str(exc)}))
        return 0
    times = time_tracker(tracker, frames, box, args.warmup)
    print(json.dumps({'ms': statistics.median(times), 'frames': len(times)}))
    return 0


# ----------------------------------------------------------------- the rounds
def run_child(name: str, argv: Sequence[str]) -> dict:
    cmd = [sys.executable, '-m', 'track_core.eval.bench', '--child', name, *argv]
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith('{')]
    if out.returncode != 0 or not lines:
        return {'skipped': f'exit {out.returncode}: {out.stderr.strip()[-400:]}'}
    return json.loads(lines[-1])


def rounds(names: Sequence[str], count: int, argv: Sequence[str], progress=True
           ) -> Tuple[Dict[str, List[float]], Dict[str, str]]:
    """Per tracker, its median ms per frame in each round; and the trackers that could not run."""
    times: Dict[str, List[float]] = {n: [] for n in names}
    skipped: Dict[str, str] = {}
    for r in range(count):
        for name in names:
            if name in skipped:
                continue
            got = run_child(name, argv)
            if 'skipped' in got:
                skipped[name] = got['skipped']
                continue
            times[name].append(got['ms'])
            if progress:
                print(f'[bench] round {r + 1}/{count}: {name} {got["ms"]:.2f} ms/frame',
                      file=sys.stderr)
    return {n: t for n, t in times.items() if n not in skipped}, skipped


def summary(times: Dict[str, List[float]], reference: str) -> List[dict]:
    """Rows: median and spread over rounds, and the median within-round ratio to ``reference``."""
    ref = times.get(reference)
    rows = []
    for name, ms in times.items():
        ratios = [m / r for m, r in zip(ms, ref)] if ref else []
        rows.append({'tracker': name, 'rounds': len(ms), 'median_ms': statistics.median(ms),
                     'min_ms': min(ms), 'max_ms': max(ms),
                     'fps': 1000.0 / statistics.median(ms),
                     'time_vs_reference': statistics.median(ratios) if ratios else None,
                     'faster_rounds': sum(r > 1.0 for r in ratios) if ratios else None})
    return rows


def display_name(key: str) -> str:
    from track_core.foreign.baselines import BASELINES
    return BASELINES.get(key, key)


def _also(args) -> Dict[str, str]:
    """``--also NAME=PATH`` as {name: path}; names clash neither with baselines nor each other."""
    out: Dict[str, str] = {}
    for item in args.also:
        name, sep, path = item.partition('=')
        name = name.strip()
        if not sep or not name or not path:
            raise SystemExit(f'track-bench: --also takes NAME=PATH, got {item!r}')
        if name in out or name in BASELINE_KEYS or name in ('default', 'profile'):
            raise SystemExit(f'track-bench: --also name {name!r} is taken (baselines, '
                             '"default", "profile" or another --also)')
        out[name] = path
    return out


def markdown(rows: List[dict], reference: str, label: str = '') -> str:
    label = label or reference
    lines = [f'| tracker | median ms/frame (rounds) | spread | fps | time / {label}, '
             f'within a round | rounds {label} was faster |',
             '|---|---:|---|---:|---:|---:|']
    for r in rows:
        ratio = f'{r["time_vs_reference"]:.2f}x' if r['time_vs_reference'] else 'n/a'
        faster = '-' if r['tracker'] == reference else f'{r["faster_rounds"]} of {r["rounds"]}'
        name = label if r['tracker'] == reference else display_name(r['tracker'])
        lines.append(f'| {name} | {r["median_ms"]:.2f} ({r["rounds"]}) | '
                     f'{r["min_ms"]:.2f} .. {r["max_ms"]:.2f} | {r["fps"]:.1f} | {ratio} | '
                     f'{faster} |')
    return '\n'.join(lines) + '\n'


def _data_root(args) -> Optional[pathlib.Path]:
    from track_core.data.build import data_root
    root = pathlib.Path(args.data_root) if args.data_root else data_root()
    return root if root.is_dir() else None


def load_frames(args):
    from track_core.data.sequences import fit_frame
    root = _data_root(args)
    if not args.generated and root is not None and (root / 'sot' / 'dev').is_dir():
        frames, box = sequence_frames(root / 'sot' / 'dev', args.sequence, args.frames)
        if args.absent_sequence:
            others, _ = sequence_frames(root / 'sot' / 'dev', args.absent_sequence,
                                        args.frames - 1)
            frames = frames[:1] + [fit_frame(f, frames[0].shape) for f in others]
        return frames, box
    if args.absent_sequence:
        raise ValueError('--absent-sequence needs the dev sequences (../shared/data)')
    return generated_frames(args.frames)


def _parser():
    p = argparse.ArgumentParser(prog='track-bench', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default=str(DEFAULT_MODEL),
                   help='the track_core model (the reference of the ratios)')
    p.add_argument('--label', default='default', help="the model's name in the table")
    p.add_argument('--also', action='append', default=[], metavar='NAME=PATH',
                   help='one more track_core model in the rounds (repeatable)')
    p.add_argument('--baselines', nargs='*', default=list(BASELINE_KEYS),
                   help=f'baselines beside it (default: {" ".join(BASELINE_KEYS)}; whatever '
                        'cannot run here is listed with the reason)')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--frames', type=int, default=100, help='frames per measurement')
    p.add_argument('--warmup', type=int, default=10, help='untimed frames first')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--sequence', default='Crossing', help='dev sequence to play')
    p.add_argument('--generated', action='store_true', help='generated frames, not a sequence')
    p.add_argument('--absent-sequence', default='', metavar='NAME',
                   help="after --sequence's first frame, play this dev sequence instead: the "
                   'target is gone, so the frames timed after the warm-up are SEARCHING '
                   'frames (the cost of the search for a lost target)')
    p.add_argument('--data-root', default='', help='default: TRACK_DATA_ROOT or ../shared/data')
    p.add_argument('--no-profile', action='store_true', help='skip the per-stage profile')
    p.add_argument('--json', type=pathlib.Path, help='also write the figures here')
    p.add_argument('--variants', action='store_true',
                   help='instead: the long list of model variants x backends (track-bench '
                        'variants, random weights, one process; see --help there)')
    p.add_argument('--child', default='', help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == 'variants':
        from track_core.eval.speed_cli import main as variants_main
        return variants_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.child:
        return child(argv)
    if args.variants:
        from track_core.eval.speed_cli import main as variants_main
        return variants_main([])
    if args.rounds < 1 or args.frames <= args.warmup + 1:
        raise SystemExit('track-bench: --rounds must be >= 1 and --frames > --warmup + 1')
    import torch
    from track_core.eval.speed import hardware_line
    threads = args.threads or torch.get_num_threads()
    passed = [a for a in argv if a not in ('--no-profile',)]
    names = ['default'] + list(_also(args)) + [b for b in args.baselines if b != 'default']
    frames_note = ('generated 640x480 frames' if args.generated or _data_root(args) is None
                   else f'dev sequence {args.sequence}')
    if args.absent_sequence:
        frames_note += (f"'s first frame, then {args.absent_sequence} (the target gone: "
                        'SEARCHING frames)')
    times, skipped = rounds(names, args.rounds, passed)
    if 'default' not in times:
        print(f'track-bench: the model could not run: {skipped.get("default")}',
              file=sys.stderr)
        return 1
    rows = summary(times, 'default')
    print(f'\nHardware: {hardware_line(threads)}')
    print(f'Each tracker alone in its own process, {args.rounds} rounds in alternation, '
          f'{args.frames - 1 - args.warmup} timed frames each after {args.warmup} warm-up '
          f'frames, end to end, {frames_note}; {args.label} = {args.model} (ONNX Runtime).\n')
    print(markdown(rows, 'default', args.label))
    for name, why in skipped.items():
        print(f'- skipped {name}: {why}')
    profile = None
    if not args.no_profile:
        got = run_child('profile', passed)
        profile = got.get('profile')
        if profile:
            print(f'\nWhere a frame of {args.label} goes (each stage timed alone, median '
                  'ms):\n')
            print('| stage | ms |\n|---|---:|')
            for stage, ms in profile.items():
                print(f'| {stage} | {ms:.3f} |')
        else:
            print(f'\nprofile skipped: {got.get("skipped")}')
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({'hardware': hardware_line(threads), 'rows': rows,
                                         'reference': args.label,
                                         'rounds': times, 'skipped': skipped,
                                         'profile': profile, 'frames': frames_note},
                                        indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
