"""track-bench: speed of model variants and backends on this machine (CPU)."""

import argparse
import json
import pathlib

import torch

from track_core.eval.speed import (benchmark, DEFAULT_VARIANTS, hardware_line, markdown_table,
                                   onnx_verdict, rows_as_dicts)
from track_core.net import list_variants


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--variants', nargs='+', default=list(DEFAULT_VARIANTS),
                        choices=list_variants(), metavar='NAME',
                        help=f'variants to measure (default: {" ".join(DEFAULT_VARIANTS)})')
    parser.add_argument('--backends', nargs='+', default=['torch', 'onnx'],
                        choices=['torch', 'onnx'])
    parser.add_argument('--runs', type=int, default=30, help='timed runs (median reported)')
    parser.add_argument('--warmup', type=int, default=5, help='untimed warm-up runs')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads (default: torch default for this machine)')
    parser.add_argument('--json', type=pathlib.Path, help='also write the rows here')
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error('--runs must be >= 1 and --warmup >= 0')
    threads = args.threads or torch.get_num_threads()
    rows = benchmark(args.variants, args.backends, args.runs, args.warmup, threads)
    print(f'\nHardware: {hardware_line(threads)}')
    print(f'Median of {args.runs} runs after {args.warmup} warm-up runs, batch 1, '
          '640x480 frames; end-to-end = crop + normalise + infer + decode.\n')
    print(markdown_table(rows))
    verdict = onnx_verdict(rows)
    if verdict:
        print('\n' + '\n'.join(verdict))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({'hardware': hardware_line(threads),
                                         'rows': rows_as_dicts(rows)}, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
