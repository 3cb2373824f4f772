"""Worker for the two-process DDP test (run by torch.distributed.run, gloo on CPU)."""

import os
import pathlib

import torch
import torch.distributed as dist

from track_core.data.sampler import PairDataset, SequenceSource
from track_core.data.sequences import find_sequences
from track_core.distill.stages import init_student_from_teacher, stage_ranges
from track_core.distill.task import DistillTask
from track_core.distill.trainer import OptimConfig, Trainer
from track_core.net import create_model


def main():
    out = pathlib.Path(os.environ['OUT_DIR'])
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    student = create_model('tiny', depth=2)
    ranges = stage_ranges(4, 2)
    init_student_from_teacher(student, teacher, ranges)
    task = DistillTask(student, teacher, ranges, seed=7)
    ds = PairDataset([SequenceSource(find_sequences(os.environ['SYN_ROOT']))], None,
                     student.cfg, samples_per_epoch=16, seed=int(os.environ['RANK']))
    trainer = Trainer(task, ds, OptimConfig(epochs=1, batch_size=4, num_workers=0, lr=1e-2),
                      out / 'run', progress=False)
    rank = trainer.rank
    assert trainer.world == 2
    torch.save({k: v.detach().clone() for k, v in student.named_parameters()},
               out / f'init{rank}.pt')
    trainer.fit(resume=False)
    # DDP keeps parameters identical; BatchNorm running statistics stay per rank (rank 0's
    # are the ones saved), so parameters are what is compared.
    torch.save({k: v.detach() for k, v in student.named_parameters()}, out / f'rank{rank}.pt')
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
