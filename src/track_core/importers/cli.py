"""track-import: bring a tracker trained elsewhere into this project's formats.

    track-import nanotrack-v3 PATH/nanotrackv3.pth [OUT.safetensors]

reads NanoTrack v3's published checkpoint without executing pickled code and writes its
weights as safetensors (default: models/nanotrack_v3.safetensors), which the 'nanotrack_v3'
stem (``pretrained_stem=true``) and the NanoTrack v3 teacher load.
"""

import argparse
import pathlib
import sys

from track_core.errors import CheckpointError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='track-import', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('kind', choices=['nanotrack-v3'])
    parser.add_argument('source', type=pathlib.Path)
    parser.add_argument('out', type=pathlib.Path, nargs='?',
                        default=pathlib.Path('models/nanotrack_v3.safetensors'))
    args = parser.parse_args(argv)
    from track_core.importers.nanotrack import import_nanotrack_v3, save_nanotrack_v3
    try:
        model, info = import_nanotrack_v3(args.source)
    except CheckpointError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    out = save_nanotrack_v3(model, args.out)
    count = sum(p.numel() for p in model.parameters())
    print(f'wrote {out}: NanoTrack v3, {count:,} parameters (skipped, unused by the published '
          f'graph: {", ".join(info["skipped"]) or "nothing"})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
