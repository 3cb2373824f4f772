"""Copy the trained checkpoint into models/ as the default model (make ship).

Its teacher, LightTrack-Mobile, is a training-time teacher only and never ships.
Usage: python scripts/ship_models.py
"""

import argparse
import pathlib
import sys

from track_core.checkpoint import load_model, read_checkpoint, save_checkpoint

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIP = [
    # (trained checkpoint, shipped file, store as float16)
    ('runs/lighttrack_to_nt3_s2_long/model.safetensors', 'models/default.safetensors', False),
]
LIMIT_MB = 25.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    for src, dst, half in SHIP:
        src, dst = ROOT / src, ROOT / dst
        if not src.is_file():
            print(f'missing {src}: train it first (make train-student)',
                  file=sys.stderr)
            return 1
        model, pre = load_model(src)
        _, _, _, extra = read_checkpoint(src)
        save_checkpoint(dst, model, pre, {**extra, 'shipped_from': str(src.relative_to(ROOT)),
                                          'float16': half}, half=half)
        size = dst.stat().st_size / 1e6
        print(f'{dst.relative_to(ROOT)}: {model.cfg.name}, {size:.1f} MB')
        if size > LIMIT_MB:
            print(f'{dst} is over {LIMIT_MB} MB', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
