"""Build a training run from a TrainConfig and execute it (``track-train`` parses, this runs).

``build_task`` turns the config into a task (teacher on ground truth, CompressTracker
distillation, depth pruning, or a score head for a trained tracker); ``run`` adds the data,
the trainer and the run folder.
"""

import dataclasses
import pathlib
import subprocess
from typing import Any, Dict, Optional, Tuple

import torch
import yaml

from track_core.checkpoint import load_model, read_extra, save_checkpoint
from track_core.config import ConfigError, from_dict, to_dict
from track_core.data.build import build_sources, resolve
from track_core.data.sampler import PairDataset
from track_core.data.sequences import DataError
from track_core.foreign.teacher import CnnTeacher
from track_core.net import create_model, ModelConfig, variant_config
from track_core.net.config import PreprocessConfig, stem_preprocess
from track_core.train.base import TrainingTask
from track_core.train.config import TrainConfig
from track_core.train.inputs import Renormalize
from track_core.train.pseudo import build_pseudo_source
from track_core.train.stages import init_student_from_teacher, stage_ranges
from track_core.train.task import DepthPruneTask, DistillTask, GroundTruthTask, ScoreTask
from track_core.train.trainer import seed_everything, Trainer

KINDS = ('teacher', 'distill', 'score')


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


def model_config_with(base: ModelConfig, overrides: Dict[str, Any], where: str) -> ModelConfig:
    """Return ``base`` with ``overrides`` applied by the strict config loader.

    An unknown key or a value of the wrong type raises ConfigError naming ``where.key``.
    """
    return from_dict(ModelConfig, {**to_dict(base), **dict(overrides)}, where)


def _variant(name: str, overrides: Dict[str, Any], where: str) -> ModelConfig:
    try:
        base = variant_config(name)
    except KeyError as exc:
        raise ConfigError(str(exc).strip('"')) from None
    return model_config_with(base, overrides, where)


def build_task(kind: str, cfg: TrainConfig, log=print
               ) -> Tuple[TrainingTask, ModelConfig, PreprocessConfig]:
    """(task, model config, preprocess) for a run of ``kind`` (one of KINDS)."""
    if kind == 'score':
        if not cfg.init:
            raise ConfigError('score: give the trained tracker to score (init=PATH)')
        model, pre = load_model(cfg.init)
        task = ScoreTask(model)
        return task, task.trained_model().cfg, pre
    if kind == 'teacher':
        if cfg.init:
            model, pre = load_model(cfg.init)
        else:
            model_cfg = _variant(cfg.model, cfg.model_overrides, 'model_overrides')
            model = create_model(model_cfg, pretrained_stem=cfg.pretrained_stem and
                                 model_cfg.stem_kind.pretrained)
            pre = stem_preprocess(model_cfg, cfg.preprocess)
        return (GroundTruthTask(model, cfg.losses, cfg.freeze_stem, cfg.train_stem_projection),
                model.cfg, pre)
    d = cfg.distill
    if not d.teacher:
        raise ConfigError('distill.teacher: give the teacher checkpoint (distill.teacher=PATH)')
    if d.attention not in ('', 'joint', 'asymmetric'):
        raise ConfigError(f"distill.attention must be '', 'joint' or 'asymmetric', got "
                          f'{d.attention!r}')
    if d.attention and d.method != 'prune':
        raise ConfigError("distill.attention: only the prune method sets the student's attention")
    teacher, pre = load_model(d.teacher)
    if d.method == 'prune':
        task = DepthPruneTask(teacher, d.remove, cfg.losses, d.fade_fraction, cfg.freeze_stem,
                              attention=d.attention)
        return task, task.pruned_model().cfg, pre
    if d.method != 'compresstracker':
        raise ConfigError(f"distill.method must be 'compresstracker' or 'prune', got "
                          f'{d.method!r}')
    split = list(d.split_sizes) if d.split_sizes else d.split
    ranges = stage_ranges(teacher.cfg.depth, d.stages, split)
    if d.student:
        student_cfg = _variant(d.student, d.student_overrides, 'distill.student_overrides')
    else:
        student_cfg = model_config_with(
            dataclasses.replace(teacher.cfg, depth=d.stages,
                                name=f'{teacher.cfg.name}_ct{d.stages}'),
            d.student_overrides, 'distill.student_overrides')
    student = create_model(student_cfg)
    copied = init_student_from_teacher(student, teacher, ranges)
    log(f'[train] stages {ranges}; student initialised from the teacher: {len(copied)} parts')
    if student_cfg.stem != teacher.cfg.stem and cfg.pretrained_stem and \
            student_cfg.stem_kind.pretrained:
        student.stem.load_pretrained()
        log(f'[train] student stem: pretrained {student_cfg.stem} (the teacher has '
            f'{teacher.cfg.stem})')
    student_pre = stem_preprocess(student_cfg, pre)
    teacher_input = Renormalize(student_pre, pre)
    task = DistillTask(student, teacher, ranges, cfg.losses, d.schedule, d.constant_p,
                       seed=cfg.seed, freeze_stem=cfg.freeze_stem,
                       train_stem_projection=cfg.train_stem_projection,
                       teacher_input=None if teacher_input.identity else teacher_input)
    return task, student.cfg, student_pre


def resolved_record(cfg: TrainConfig, model_cfg: ModelConfig, pre: PreprocessConfig
                    ) -> Dict[str, Any]:
    """Return the run's config as it was resolved: the model and preprocessing it trained.

    A run that starts from a checkpoint (``init``, a teacher) takes its network and input
    from that file, not from ``model`` / ``preprocess``: the record names what was trained.
    """
    record = to_dict(cfg)
    record.update(model=model_cfg.name, model_overrides={}, preprocess=to_dict(pre),
                  model_config=to_dict(model_cfg))
    return record


def cnn_teacher(cfg: TrainConfig, model_cfg: ModelConfig) -> Optional[CnnTeacher]:
    """Return the CNN teacher ``cfg.cnn_teacher`` asks for (None: none), checked up front."""
    t = cfg.cnn_teacher
    if not t.kind:
        return None
    default = {'lighttrack': '${data}/baselines/lighttrack_mobile',
               'nanotrack_v3': '${data}/baselines/nanotrack_v3'}.get(t.kind, '')
    try:
        folder = resolve(t.folder or default)
    except DataError:
        folder = None           # NanoTrack v3 then runs as the shipped white-box network
    try:
        teacher = CnnTeacher(t, model_cfg.score_feat, folder, model_cfg.score_positions())
        teacher.load()          # fail now, with the reason, rather than in a data worker
        teacher.reset()         # data workers build their own engines
    except (ValueError, OSError, ImportError, RuntimeError) as exc:
        raise ConfigError(f'cnn_teacher: {exc}') from None
    return teacher


def run(kind: str, cfg: TrainConfig, resume: bool = True, progress: bool = True
        ) -> Dict[str, float]:
    """Train ``kind`` (one of KINDS) as ``cfg`` says; return the last epoch's means."""
    if kind not in KINDS:
        raise ConfigError(f'kind must be one of {", ".join(KINDS)}, got {kind!r}')
    seed_everything(cfg.seed)
    task, model_cfg, pre = build_task(kind, cfg)
    skips = []
    d = cfg.data
    sources = build_sources(list(d.sot), list(d.stills_csv), list(d.coco_json),
                            list(d.videos), d.sot_format, on_skip=skips.append)
    for message in skips:
        print(f'[train] skipped: {message}')
    teacher = cnn_teacher(cfg, model_cfg)
    weights = list(d.weights) or None
    if d.pseudo.clips:
        if teacher is None:
            raise ConfigError('data.pseudo.clips: pseudo-labelled pairs need a cnn_teacher '
                              '(cnn_teacher.kind=lighttrack or nanotrack_v3)')
        pseudo = build_pseudo_source(d.pseudo, teacher.tracker, cfg.out_dir,
                                     f'{cfg.cnn_teacher.kind}:{teacher.folder}')
        teacher.reset()
        sources.append(('pseudo', pseudo))
        weights = (weights or [1.0] * (len(sources) - 1)) + [d.pseudo.weight]
    dataset = PairDataset([s for _, s in sources], weights, model_cfg, pre,
                          d.sampling, d.samples_per_epoch, cfg.seed, teacher=teacher)
    out_dir = pathlib.Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'config.yaml').write_text(yaml.safe_dump(
        {'command': kind, **to_dict(cfg)}, sort_keys=False))
    extra = {'command': kind, 'commit': git_commit(),
             'config': resolved_record(cfg, model_cfg, pre)}
    # A model trained on from another (init) or compressed from a teacher starts from the
    # run-time settings that one brings; re-choose them on dev before shipping.
    # (A score head keeps the tracker's settings, but its confidence needs its own thresholds.)
    source = cfg.distill.teacher if kind == 'distill' else cfg.init
    inherited = read_extra(source).get('runtime') if source else None
    if inherited:
        extra['runtime'] = inherited
    if kind == 'score':       # the tracker's own training record stays with it
        before = read_extra(cfg.init)
        extra['tracker_training'] = before.get('tracker_training') or {
            k: before[k] for k in ('command', 'commit', 'config', 'epoch') if k in before}

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
