r"""Choose a model's run-time settings on dev: one setting changed at a time, paired per sequence.

    python scripts/sweep_runtime.py MODEL [--base config/runtime/nt3_ban2.yaml] \\
        [--try window_blend=0.35,0.55 size_penalty=0.1,0.2 ...] [--out reports/sweep]

Every candidate runs over the same sequences as the base settings; the table gives each one's
AUC, on how many sequences it beats the base, the mean per-sequence difference and its 90 %
bootstrap interval. The rule printed at the end keeps the base unless a change wins on most
sequences with an interval above zero: a few hundredths of mean AUC on 16 sequences is noise,
and settings tuned to noise do not carry over to sequences nobody tuned on.
"""

import argparse
import dataclasses
import json
import pathlib
import sys

from track_core.config import ConfigError, load_config, parse_overrides
from track_core.eval.protocols import evaluate
from track_core.eval.report import paired_comparison
from track_core.runtime import TrackerConfig

DEFAULT_TRIES = ('window_blend=0.35,0.55', 'size_penalty=0.08,0.25', 'size_smoothing=0.55,0.75',
                 'lost_threshold=0.0,0.2,0.4')


def candidates(tries):
    """'key=a,b' strings -> [(label, {key: value})], one change each."""
    out = []
    for item in tries:
        key, _, values = item.partition('=')
        for raw in values.split(','):
            change = parse_overrides([f'{key}={raw}'])
            out.append((f'{key}:{raw}', change))     # no '=': the label names a model
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model')
    parser.add_argument('--data', default='${data}/sot/dev')
    parser.add_argument('--base', default=None, help='YAML of TrackerConfig fields (the '
                        'settings to beat); default: the library defaults')
    parser.add_argument('--try', nargs='*', dest='tries', default=list(DEFAULT_TRIES),
                        metavar='KEY=V1,V2')
    parser.add_argument('--out', default='reports/sweep')
    args = parser.parse_args(argv)
    try:
        base = load_config(TrackerConfig, args.base)
        tries = candidates(args.tries)
        for _, change in tries:
            load_config(TrackerConfig, args.base, [f'{k}={v}' for k, v in change.items()])
    except (ConfigError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    runs = {}
    for label, change in [('base', {})] + tries:
        settings = {**dataclasses.asdict(base), **change}
        summaries, path = evaluate(args.data, [f'{label}={args.model}'], out=out / label,
                                   runtime=settings, progress=False)
        report = json.loads(path.with_suffix('.json').read_text())
        runs[label] = (summaries[label], report['sequences'][label])
        print(f'{label}: AUC {summaries[label]["auc"]:.3f}', flush=True)
    print('\n| settings | AUC | higher than base on | mean difference | 90 % interval |')
    print('|---|---:|---:|---:|---|')
    chosen = []
    for label, (summary, seqs) in runs.items():
        if label == 'base':
            print(f'| base | {summary["auc"]:.3f} | - | - | - |')
            continue
        c = paired_comparison({label: seqs, 'base': runs['base'][1]}, label, 'base')
        print(f'| {label} | {summary["auc"]:.3f} | {c["better"]} of {c["sequences"]} | '
              f'{c["mean"]:+.3f} | {c["low"]:+.3f} .. {c["high"]:+.3f} |')
        if c['low'] > 0 and c['better'] > c['sequences'] / 2:
            chosen.append(label)
    print('\nrule: keep the base unless a change is higher on most sequences with its interval '
          'above 0; ' + (f'candidates: {", ".join(chosen)}' if chosen else 'keep the base'))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
