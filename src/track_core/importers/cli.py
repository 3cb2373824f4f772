"""track-import: bring a tracker trained elsewhere into this project's formats.

    track-import nanotrack-v3 PATH/nanotrackv3.pth [OUT.safetensors]
    track-import vittrack PATH/vitTracker.onnx [OUT.safetensors]

nanotrack-v3 reads NanoTrack v3's published checkpoint without executing pickled code and
writes its weights as safetensors (default: models/nanotrack_v3.safetensors), which the
'nanotrack_v3' stem (``pretrained_stem=true``) and the NanoTrack v3 teacher load.

vittrack reads VitTrack's published ONNX graph (the model of OpenCV's TrackerVit) into this
project's network and writes a tracker checkpoint (default: models/vittrack.safetensors) that
``load_tracker`` and track-eval run (the node loads models through ``load_tracker``).
"""

import argparse
import pathlib
import sys

from track_core.errors import CheckpointError

DEFAULT_OUT = {'nanotrack-v3': 'models/nanotrack_v3.safetensors',
               'vittrack': 'models/vittrack.safetensors'}


def _nanotrack_v3(source, out):
    from track_core.importers.nanotrack import import_nanotrack_v3, save_nanotrack_v3
    model, info = import_nanotrack_v3(source)
    out = save_nanotrack_v3(model, out)
    count = sum(p.numel() for p in model.parameters())
    return (f'wrote {out}: NanoTrack v3, {count:,} parameters (skipped, unused by the '
            f'published graph: {", ".join(info["skipped"]) or "nothing"})')


def _vittrack(source, out):
    from track_core.importers.vittrack import import_vittrack, save_vittrack
    model, pre, info = import_vittrack(source)
    out = save_vittrack(model, pre, info, out)
    count = sum(p.numel() for p in model.parameters())
    shapes = ', '.join(f'{k} {v}' for k, v in info['shapes'].items())
    return f'wrote {out}: VitTrack, {count:,} parameters ({shapes})'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='track-import', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('kind', choices=sorted(DEFAULT_OUT))
    parser.add_argument('source', type=pathlib.Path)
    parser.add_argument('out', type=pathlib.Path, nargs='?',
                        help='where to write (default: ' + ', '.join(
                            f'{k}: {v}' for k, v in DEFAULT_OUT.items()) + ')')
    args = parser.parse_args(argv)
    out = args.out or pathlib.Path(DEFAULT_OUT[args.kind])
    run = {'nanotrack-v3': _nanotrack_v3, 'vittrack': _vittrack}[args.kind]
    try:
        print(run(args.source, out))
    except CheckpointError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
