"""Worker for the two-process DDP test (run by torch.distributed.run, gloo on CPU)."""

import os
import pathlib

from distill_helpers import tiny_distill_trainer
import torch
import torch.distributed as dist


def main():
    out = pathlib.Path(os.environ['OUT_DIR'])
    trainer, student = tiny_distill_trainer(os.environ['SYN_ROOT'], out / 'run', epochs=1,
                                            samples=16, data_seed=int(os.environ['RANK']),
                                            lr=1e-2)
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
