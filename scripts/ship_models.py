"""Copy the trained checkpoint into models/ as the default model (make ship).

The run-time settings chosen for it on dev (``config/runtime/<name>.yaml``: TrackerConfig
fields) go into its metadata, so ``load_tracker``, ``track-eval`` and the node use them unless
told otherwise. Its teacher, LightTrack-Mobile, is a training-time teacher only and never
ships.
Usage: python scripts/ship_models.py [--settings-only]

``--settings-only`` rewrites only the run-time settings of the shipped files from their
``config/runtime/<name>.yaml``, the weights read back from the shipped file itself and written
unchanged (a test holds them bit-identical): for a change of settings chosen on dev, without
the training runs.
"""

import argparse
import pathlib
import sys

from track_core.checkpoint import load_model, read_checkpoint, save_checkpoint
from track_core.config import ConfigError, load_config, to_dict
from track_core.runtime import TrackerConfig
from track_core.runtime.loader import with_runtime

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHIP = [
    # (trained checkpoint, shipped file, store as float16, its run-time settings)
    # (the score stage of make train-student: the trained tracker plus its score head)
    ('runs/score_nt3_ban2/model.safetensors', 'models/default.safetensors', False,
     'config/runtime/nt3_ban2.yaml'),
]
LIMIT_MB = 25.0


def resolve_records(extra, model_cfg, pre):
    """Return ``extra`` with its training records naming the network and input it holds.

    Runs that started from a checkpoint (a score head on a trained tracker) recorded their
    config's unused ``model`` / ``preprocess`` defaults; what the file holds is this model.
    """
    out = dict(extra)
    for key in ('config', 'tracker_training'):
        record = out.get(key)
        if not isinstance(record, dict):
            continue
        record = dict(record)
        if key == 'tracker_training' and isinstance(record.get('config'), dict):
            record['config'] = {**record['config'], 'model': model_cfg.name,
                                'model_overrides': {}, 'preprocess': to_dict(pre)}
        elif key == 'config':
            record.update(model=model_cfg.name, model_overrides={}, preprocess=to_dict(pre),
                          model_config=to_dict(model_cfg))
        out[key] = record
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--settings-only', action='store_true',
                        help='keep the shipped weights, rewrite their run-time settings')
    args = parser.parse_args(argv)
    for src, dst, half, settings in SHIP:
        src, dst = ROOT / src, ROOT / dst
        if args.settings_only:
            src = dst
        if not src.is_file():
            print(f'missing {src}: train it first (make train-student)',
                  file=sys.stderr)
            return 1
        try:
            runtime = load_config(TrackerConfig, ROOT / settings)
        except ConfigError as exc:
            print(f'{settings}: {exc}', file=sys.stderr)
            return 1
        model, pre = load_model(src)
        _, _, _, extra = read_checkpoint(src)
        shipped_from = extra.get('shipped_from', str(src.relative_to(ROOT))) \
            if args.settings_only else str(src.relative_to(ROOT))
        extra = with_runtime({**resolve_records(extra, model.cfg, pre),
                              'shipped_from': shipped_from, 'float16': half,
                              'runtime_from': settings}, runtime)
        save_checkpoint(dst, model, pre, extra, half=half)
        size = dst.stat().st_size / 1e6
        print(f'{dst.relative_to(ROOT)}: {model.cfg.name}, {size:.1f} MB')
        if size > LIMIT_MB:
            print(f'{dst} is over {LIMIT_MB} MB', file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
