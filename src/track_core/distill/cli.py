"""track-train: train a teacher on ground truth, or compress one into a student.

    track-train teacher CONFIG [key=value ...]
    track-train distill CONFIG [key=value ...]

CONFIG is a YAML recipe (config/train/*.yaml) holding deltas of TrainConfig; key=value pairs
override it (dotted keys, YAML values), unknown keys are errors. The resolved config is saved
as config.yaml in the run folder, next to train_state.pt (resume), log.csv, tensorboard/ and
model.safetensors (loadable with track_core.runtime.load_tracker). A rerun of the same
command resumes where it stopped.
"""

import argparse
import dataclasses
import pathlib
import subprocess
import sys

import torch
import yaml

from track_core.checkpoint import load_model, save_checkpoint
from track_core.config import ConfigError, load_config, to_dict
from track_core.data.build import build_sources
from track_core.data.sampler import PairDataset
from track_core.data.sequences import DataError
from track_core.distill.config import TrainConfig
from track_core.distill.stages import init_student_from_teacher, stage_ranges
from track_core.distill.task import DepthPruneTask, DistillTask, GroundTruthTask
from track_core.distill.trainer import NonFiniteLoss, seed_everything, Trainer
from track_core.errors import CheckpointError
from track_core.net import create_model, variant_config


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                              text=True, check=True,
                              cwd=pathlib.Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def _device(name: str) -> str:
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    return name


def build_task(kind: str, cfg: TrainConfig, log=print):
    """(task, model config, preprocess) for a run of ``kind`` ('teacher' or 'distill')."""
    if kind == 'teacher':
        if cfg.init:
            model, pre = load_model(cfg.init)
        else:
            model = create_model(cfg.model, pretrained_stem=cfg.pretrained_stem and
                                 variant_config(cfg.model, **cfg.model_overrides).stem ==
                                 'mobilenetv2', **cfg.model_overrides)
            pre = cfg.preprocess
        return (GroundTruthTask(model, cfg.losses, cfg.freeze_stem, cfg.train_stem_projection),
                model.cfg, pre)
    d = cfg.distill
    if not d.teacher:
        raise ConfigError('distill.teacher: give the teacher checkpoint (distill.teacher=PATH)')
    teacher, pre = load_model(d.teacher)
    if d.method == 'prune':
        task = DepthPruneTask(teacher, d.remove, cfg.losses, d.fade_fraction)
        return task, task.pruned_model().cfg, pre
    if d.method != 'compresstracker':
        raise ConfigError(f"distill.method must be 'compresstracker' or 'prune', got "
                          f'{d.method!r}')
    split = list(d.split_sizes) if d.split_sizes else d.split
    ranges = stage_ranges(teacher.cfg.depth, d.stages, split)
    if d.student:
        student_cfg = variant_config(d.student, **d.student_overrides)
    else:
        student_cfg = dataclasses.replace(teacher.cfg, depth=d.stages,
                                          name=f'{teacher.cfg.name}_ct{d.stages}',
                                          **d.student_overrides)
    student = create_model(student_cfg)
    copied = init_student_from_teacher(student, teacher, ranges)
    log(f'[train] stages {ranges}; student initialised from the teacher: {len(copied)} parts')
    task = DistillTask(student, teacher, ranges, cfg.losses, d.schedule, d.constant_p,
                       seed=cfg.seed, freeze_stem=cfg.freeze_stem,
                       train_stem_projection=cfg.train_stem_projection)
    return task, student.cfg, pre


def run(kind: str, cfg: TrainConfig, resume: bool = True, progress: bool = True):
    seed_everything(cfg.seed)
    task, model_cfg, pre = build_task(kind, cfg)
    skips = []
    d = cfg.data
    sources = build_sources(list(d.sot), list(d.stills_csv), list(d.coco_json),
                            list(d.videos), d.sot_format, on_skip=skips.append)
    for message in skips:
        print(f'[train] skipped: {message}')
    dataset = PairDataset([s for _, s in sources], list(d.weights) or None, model_cfg, pre,
                          d.sampling, d.samples_per_epoch, cfg.seed)
    out_dir = pathlib.Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'config.yaml').write_text(yaml.safe_dump(
        {'command': kind, **to_dict(cfg)}, sort_keys=False))
    extra = {'command': kind, 'commit': git_commit(), 'config': to_dict(cfg)}

    def save_model(path):
        save_checkpoint(path, task.trained_model(), pre, {**extra, 'epoch': trainer.epoch})

    trainer = Trainer(task, dataset, cfg.optim, out_dir, _device(cfg.device), save_model,
                      progress, cfg.seed)
    print(f'[train] {kind}: {model_cfg.name}, {len(dataset)} pairs/epoch from '
          f'{len(sources)} source(s), {cfg.optim.epochs} epochs, device {trainer.device}, '
          f'world size {trainer.world}, run folder {out_dir}')
    last = trainer.fit(resume=resume)
    if trainer.rank == 0:
        print(f'[train] done: {out_dir / "model.safetensors"}')
    return last


def main(argv=None):
    parser = argparse.ArgumentParser(prog='track-train', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['teacher', 'distill'])
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
