r"""Choose a model's presence settings on dev, on every protocol at once.

    python scripts/sweep_longterm.py MODEL --try "lost_threshold=0.5,lost_frames=2" ... \
        [--reference lost_threshold=0] [--absent 30] [--look-alike config/eval/dev_kinds.yaml]
        [--small-target 16] [--out reports/sweep_longterm]

Each ``--try`` is one set of run-time settings (comma-separated KEY=VALUE, on top of the
model's own). Every one runs, over all dev sequences: the plain one-pass evaluation, the
small-target replay (``--small-target`` px; 0 leaves it out), the leave-and-return protocol
and its look-alike variant (``--look-alike``; '' leaves it out), both variants of each. The
table gives the AUC and its paired per-sequence difference from ``--reference`` (default:
the LOST rule off, so the difference is what the rule costs), the frames reported TRACKING
with the box off the target (silent misses, plain sequences), the small-target AUC, and for
each leave-and-return protocol the share of absent frames reported present, the share of
returns re-acquired within 30 frames and the long-term F-score, for the target back where it
left / where it has moved to. ``--out``/sweep.json keeps every figure.
"""

import argparse
import json
import pathlib
import sys

from track_core.config import ConfigError, parse_overrides
from track_core.eval.longterm import missed_returns
from track_core.eval.protocols import evaluate, evaluate_longterm
from track_core.eval.report import paired_comparison
from track_core.runtime import model_runtime


def run_one(model, label, settings, data, out, absent, look_alike='', small_target=0.0):
    """Every protocol for one set of settings: a dict of their figures."""
    spec = [f'{label}={model}']
    summaries, path = evaluate(data, spec, out=out / label, runtime=settings, progress=False)
    seqs = json.loads(path.with_suffix('.json').read_text())['sequences'][label]
    result = {'auc': summaries[label]['auc'], 'sequences': seqs,
              'silent': (summaries[label]['confidence'] or {}).get('tracking_off_target')}
    if small_target:
        small, _ = evaluate(data, spec, out=out / label / 'small', runtime=settings,
                            progress=False, small_target=small_target)
        result['small_auc'] = small[label]['auc']
    figures, _ = evaluate_longterm(data, spec, out=out / label, runtime=settings,
                                   absent=absent, progress=False)
    result['longterm'] = {v: f[label] for v, f in figures.items()}
    if look_alike:
        figures, _ = evaluate_longterm(data, spec, out=out / label / 'lookalike',
                                       runtime=settings, absent=absent, progress=False,
                                       look_alike=look_alike)
        result['lookalike'] = {v: f[label] for v, f in figures.items()}
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model')
    parser.add_argument('--data', default='${data}/sot/dev')
    parser.add_argument('--try', dest='tries', nargs='*', default=[], metavar='K=V,K=V')
    parser.add_argument('--reference', default='lost_threshold=0')
    parser.add_argument('--absent', type=int, default=30)
    parser.add_argument('--look-alike', default='config/eval/dev_kinds.yaml')
    parser.add_argument('--small-target', type=float, default=16.0)
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
                                 args.absent, args.look_alike, args.small_target)
        print(f'{label}: AUC {results[label]["auc"]:.3f}', flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'sweep.json').write_text(json.dumps(results, indent=1, default=float))
    print(table(results, args.reference))
    return 0


def table(results, reference) -> str:
    """Return the markdown table of ``results`` ({label: run_one's figures})."""
    ref = results[reference]
    protocols = [k for k in ('longterm', 'lookalike') if k in ref]
    head = ['settings', 'AUC', 'vs reference (higher on, mean, 90 % interval)', 'silent misses']
    head += ['small AUC'] if 'small_auc' in ref else []
    for k in protocols:
        name = 'look-alike' if k == 'lookalike' else 'leave-return'
        head += [f'{name}: absent reported', f'{name}: re-acquired', f'{name}: LT F']
    lines = [f'reference: {reference} (AUC {ref["auc"]:.3f}); leave-and-return figures: where '
             'it left / where it has moved to', '', '| ' + ' | '.join(head) + ' |',
             '|---|' + '---:|' * (len(head) - 1)]
    for label, r in results.items():
        c = paired_comparison({'a': r['sequences'], 'b': ref['sequences']}, 'a', 'b')
        row = [label, f'{r["auc"]:.3f}', f'{c["better"]} of {c["sequences"]}, {c["mean"]:+.3f}, '
               f'{c["low"]:+.3f} .. {c["high"]:+.3f}',
               'n/a' if r['silent'] is None else f'{r["silent"]:.1%}']
        row += [f'{r["small_auc"]:.3f}'] if 'small_auc' in ref else []
        for k in protocols:
            left, moved = r[k]['where it left'], r[k]['where it has moved to']

            def both(key, pct):
                fmt = (lambda v: f'{v:.0%}') if pct else (lambda v: f'{v:.3f}')
                return ' / '.join('n/a' if f[key] is None else fmt(f[key])
                                  for f in (left, moved))
            row += [both('absent_reported', True), both('reacquired', True), both('f', False)]
        lines.append('| ' + ' | '.join(row) + ' |')
    for k in protocols:
        name = 'look-alike' if k == 'lookalike' else 'leave-return'
        lines += ['', f'{name}, returns not re-acquired (where it left ; where it has moved to; '
                  'in brackets, how far the target travelled while away, in its sizes):', '']
        lines += [f'- {label}: ' + ' ; '.join(missed_returns(r[k][v]) for v in
                                              ('where it left', 'where it has moved to'))
                  for label, r in results.items()]
    return '\n'.join(lines)


if __name__ == '__main__':
    raise SystemExit(main())
