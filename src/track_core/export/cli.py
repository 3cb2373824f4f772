"""track-export: write a checkpoint's ONNX graphs (template + search) and check parity."""

import argparse
import pathlib
import sys

from track_core.checkpoint import load_model
from track_core.errors import CheckpointError
from track_core.export.onnx import DEFAULT_OPSET, export_onnx, parity

PARITY_TOLERANCE = 1e-3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('checkpoint', type=pathlib.Path, help='a track_core .safetensors file')
    parser.add_argument('--out', type=pathlib.Path, required=True, help='output folder')
    parser.add_argument('--batch', type=int, default=1, help='static batch size (targets)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--check', action='store_true',
                        help=f'compare with PyTorch; fail above {PARITY_TOLERANCE}')
    args = parser.parse_args(argv)
    try:
        model, _ = load_model(args.checkpoint)
    except CheckpointError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    paths = export_onnx(model, args.out, batch=args.batch, opset=args.opset)
    for path in paths:
        print(f'wrote {path} ({path.stat().st_size / 1e6:.1f} MB)')
    if args.check:
        diffs = parity(model, *paths, batch=args.batch)
        worst = max(diffs.values())
        print('parity (max |onnx - torch|): ' + ', '.join(f'{k} {v:.2e}'
                                                          for k, v in diffs.items()))
        if worst > PARITY_TOLERANCE:
            print(f'error: parity {worst:.2e} above {PARITY_TOLERANCE}', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
