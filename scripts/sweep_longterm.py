r"""Choose a model's LOST rule on dev: accuracy and the long-term figures for each setting.

    python scripts/sweep_longterm.py MODEL --try "lost_threshold=0.5,lost_frames=2" ... \
        [--reference lost_threshold=0] [--absent 30] [--out reports/sweep_longterm]

Each ``--try`` is one set of run-time settings (comma-separated KEY=VALUE, on top of the
model's own). Every one runs the plain one-pass evaluation of all dev sequences and the
leave-and-return protocol (both variants); the table gives the AUC and its paired
per-sequence difference from ``--reference`` (default: the LOST rule off, so the difference
is what the rule costs), the share of absent frames reported present, the share of returns
re-acquired within 30 frames and the long-term F-score, for the target back where it left /
where it has moved to.
"""

import argparse
import json
import pathlib
import sys

from track_core.config import ConfigError, parse_overrides
from track_core.eval.protocols import evaluate, evaluate_longterm
from track_core.eval.report import paired_comparison
from track_core.runtime import model_runtime


def run_one(model, label, settings, data, out, absent):
    summaries, path = evaluate(data, [f'{label}={model}'], out=out / label, runtime=settings,
                               progress=False)
    seqs = json.loads(path.with_suffix('.json').read_text())['sequences'][label]
    figures, _ = evaluate_longterm(data, [f'{label}={model}'], out=out / label,
                                   runtime=settings, absent=absent, progress=False)
    return summaries[label]['auc'], seqs, {v: f[label] for v, f in figures.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model')
    parser.add_argument('--data', default='${data}/sot/dev')
    parser.add_argument('--try', dest='tries', nargs='+', required=True, metavar='K=V,K=V')
    parser.add_argument('--reference', default='lost_threshold=0')
    parser.add_argument('--absent', type=int, default=30)
    parser.add_argument('--out', default='reports/sweep_longterm')
    args = parser.parse_args(argv)
    try:
        labelled = [(t, parse_overrides(t.split(','))) for t in [args.reference] + args.tries]
        for _, change in labelled:
            model_runtime(args.model, change)
    except (ConfigError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    results = {}
    for label, change in labelled:
        results[label] = run_one(args.model, label.replace('=', ':'), change, args.data, out,
                                 args.absent)
        print(f'{label}: AUC {results[label][0]:.3f}', flush=True)
    ref_auc, ref_seqs, _ = results[args.reference]
    print(f'\nreference: {args.reference} (AUC {ref_auc:.3f}); long-term figures: where it '
          'left / where it has moved to\n')
    print('| settings | AUC | vs reference (higher on, mean, 90 % interval) | absent reported '
          '| re-acquired | LT F |')
    print('|---|---:|---|---:|---:|---:|')
    for label, (auc, seqs, lt) in results.items():
        c = paired_comparison({'a': seqs, 'b': ref_seqs}, 'a', 'b')
        left, moved = lt['where it left'], lt['where it has moved to']

        def both(key, pct):
            fmt = (lambda v: f'{v:.0%}') if pct else (lambda v: f'{v:.3f}')
            return ' / '.join('n/a' if f[key] is None else fmt(f[key]) for f in (left, moved))
        print(f'| {label} | {auc:.3f} | {c["better"]} of {c["sequences"]}, {c["mean"]:+.3f}, '
              f'{c["low"]:+.3f} .. {c["high"]:+.3f} | {both("absent_reported", True)} | '
              f'{both("reacquired", True)} | {both("f", False)} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
