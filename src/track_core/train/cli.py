"""track-train: train a teacher on ground truth, or compress one into a student.

    track-train teacher CONFIG [key=value ...]
    track-train distill CONFIG [key=value ...]
    track-train score CONFIG [key=value ...]    (a score head for the tracker in init=)

CONFIG is a YAML recipe (config/train/*.yaml) holding deltas of TrainConfig; key=value pairs
override it (dotted keys, YAML values), unknown keys are errors. The resolved config is saved
as config.yaml in the run folder, next to train_state.pt (resume), log.csv, tensorboard/ and
model.safetensors (loadable with track_core.runtime.load_tracker). A rerun of the same
command resumes where it stopped.
"""

import argparse
import pathlib
import sys

from track_core.config import ConfigError, load_config
from track_core.data.sequences import DataError
from track_core.errors import CheckpointError
from track_core.train.config import TrainConfig
from track_core.train.run import KINDS, run
from track_core.train.trainer import NonFiniteLoss


def main(argv=None):
    parser = argparse.ArgumentParser(prog='track-train', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=KINDS)
    parser.add_argument('config', type=pathlib.Path, help='YAML recipe')
    parser.add_argument('overrides', nargs='*', help='dotted key=value overrides')
    parser.add_argument('--fresh', action='store_true',
                        help='ignore an existing train_state.pt in the run folder')
    args = parser.parse_args(argv)
    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        run(args.command, cfg, resume=not args.fresh)
    except (ConfigError, DataError, CheckpointError, NonFiniteLoss) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
