"""A tiny teacher -> student distillation trainer on synthetic data.

Shared by the trainer tests and the DDP worker process.
"""

import torch

from track_core.data.sampler import PairDataset, SequenceSource
from track_core.data.sequences import find_sequences
from track_core.net import create_model
from track_core.train.stages import init_student_from_teacher, stage_ranges
from track_core.train.task import DistillTask
from track_core.train.trainer import OptimConfig, Trainer


def tiny_distill_trainer(root, out_dir, epochs, samples=8, data_seed=3, lr=1e-3):
    """Return (trainer, student): fresh models with fixed seeds, so two calls match exactly."""
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    student = create_model('tiny', depth=2)
    ranges = stage_ranges(4, 2)
    init_student_from_teacher(student, teacher, ranges)
    task = DistillTask(student, teacher, ranges, seed=7)
    ds = PairDataset([SequenceSource(find_sequences(root))], None, student.cfg,
                     samples_per_epoch=samples, seed=data_seed)
    trainer = Trainer(task, ds, OptimConfig(epochs=epochs, batch_size=4, num_workers=0, lr=lr),
                      out_dir, progress=False)
    return trainer, student
