"""Typed training configuration (YAML recipes under config/train hold deltas of these)."""

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from track_core.data.sampler import SamplingConfig
from track_core.foreign.teacher import CnnTeacherConfig
from track_core.net.config import PreprocessConfig
from track_core.train.pseudo import PseudoConfig
from track_core.train.task import LossWeights
from track_core.train.trainer import OptimConfig


@dataclass(frozen=True)
class DataConfig:
    """Where pairs come from.

    Paths may use ${data} for the data root (TRACK_DATA_ROOT or ../shared/data). ``weights``: one
    sampling weight per source, in the order sot, stills_csv, coco_json, videos (empty: equal);
    ``pseudo``: pairs from unannotated clips labelled by the CNN teacher (its own weight).
    """

    sot: Tuple[str, ...] = ('${data}/sot/train',)
    sot_format: str = 'auto'
    stills_csv: Tuple[str, ...] = ('${data}/det/coco_lightly256',)
    coco_json: Tuple[str, ...] = ()
    videos: Tuple[str, ...] = ()
    weights: Tuple[float, ...] = ()
    samples_per_epoch: int = 2000
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)


@dataclass(frozen=True)
class DistillConfig:
    """Student side.

    method: 'compresstracker' (stages + replacement) or 'prune' (MixFormerV2 deep-to-shallow: fade
    out the layers in ``remove``). ``attention`` (prune only): '' keeps the teacher's, or the
    student's ('joint' / 'asymmetric'); a joint teacher distilled into an asymmetric student
    gives a model whose template side runs once per target (``ModelConfig.attention``).
    """

    method: str = 'compresstracker'
    teacher: str = ''
    student: str = ''
    student_overrides: Dict[str, Any] = field(default_factory=dict)
    stages: int = 4
    split: str = 'even'
    split_sizes: Tuple[int, ...] = ()
    schedule: str = 'progressive'
    constant_p: float = 0.5
    remove: Tuple[int, ...] = ()
    fade_fraction: float = 0.3
    attention: str = ''


@dataclass(frozen=True)
class TrainConfig:
    """A training run.

    ``freeze_stem`` freezes the whole stem - for a MobileNetV2 stem both the pretrained network and
    its 1x1 projection to the token width - and keeps its BatchNorm statistics;
    ``train_stem_projection`` (with ``freeze_stem``) lets that projection learn, since it starts
    at random values. ``cnn_teacher`` (LightTrack-Mobile or NanoTrack v3) labels every pair on
    the fly with dense maps and a box; the ``losses.cnn_*`` weights say how much they count.
    """

    model: str = 'mnv2_t8_256'
    model_overrides: Dict[str, Any] = field(default_factory=dict)
    pretrained_stem: bool = True
    freeze_stem: bool = False
    train_stem_projection: bool = False
    init: str = ''
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    distill: DistillConfig = field(default_factory=DistillConfig)
    cnn_teacher: CnnTeacherConfig = field(default_factory=CnnTeacherConfig)
    out_dir: str = 'runs/train'
    device: str = 'auto'
    seed: int = 0
