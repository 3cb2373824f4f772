"""A model-agnostic trainer: it calls ``task(batch)`` and minimises ``out['loss']``.

AdamW with a step-drop (and optional warm-up) schedule, gradient clipping, AMP on CUDA, a
guard against non-finite losses, checkpoint and exact resume, a progress bar, CSV and
TensorBoard logs. Under ``torchrun`` (WORLD_SIZE > 1) the task is wrapped in
DistributedDataParallel (gloo on CPU, NCCL on GPUs); each rank reads its own share of the
sample indices.
"""

import csv
from dataclasses import dataclass
import math
import os
import pathlib
import time
from typing import Callable, Dict, Optional

import numpy as np
import torch
from torch import nn
import torch.distributed as dist

from track_core.train.base import TrainingTask


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 4e-5
    head_lr_scale: float = 1.0
    stem_lr_scale: float = 1.0
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    epochs: int = 10
    batch_size: int = 16
    lr_drop_at: float = 0.8
    lr_drop: float = 0.1
    warmup_steps: int = 0
    amp: bool = True
    num_workers: int = 2
    max_bad_steps: int = 20
    checkpoint_every: int = 1


class NonFiniteLoss(RuntimeError):
    """Too many non-finite losses in a row: training is diverging."""


def distributed_context():
    """(rank, world size, local rank); initialises the process group under torchrun."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world > 1 and not dist.is_initialized():
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    local = int(os.environ.get('LOCAL_RANK', '0'))
    return rank, world, local


class ShardSampler(torch.utils.data.Sampler):
    """Indices rank, rank + world, ... of a fixed-length epoch (the dataset draws the data)."""

    def __init__(self, length: int, rank: int, world: int):
        self.indices = list(range(rank, length, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class Trainer:

    def __init__(self, task: TrainingTask, dataset, cfg: OptimConfig, out_dir,
                 device: str = 'cpu', save_model: Optional[Callable[[pathlib.Path], None]] = None,
                 progress: bool = True, seed: int = 0):
        self.rank, self.world, local = distributed_context()
        if device == 'cuda' and self.world > 1:
            device = f'cuda:{local}'
        self.device = torch.device(device)
        self.task = task.to(self.device)
        self.dataset = dataset
        self.cfg = cfg
        self.out_dir = pathlib.Path(out_dir)
        self.save_model = save_model
        self.progress = progress and self.rank == 0
        self.seed = seed
        named = [(n, p) for n, p in task.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError('the task has no trainable parameters')
        self.params = [p for _, p in named]
        for key in ('head_lr_scale', 'stem_lr_scale'):
            if not getattr(cfg, key) > 0:
                raise ValueError(f'optim.{key} must be > 0, got {getattr(cfg, key)} '
                                 '(freeze a part instead: freeze_stem)')
        # a pretrained head or stem can learn slower than the blocks between them, a new head
        # faster (MixFormerV2's prediction tokens belong to their head)
        part = {'.box_head.': cfg.head_lr_scale, '.pred_tokens': cfg.head_lr_scale,
                '.stem.': cfg.stem_lr_scale}
        scales = [next((v for k, v in part.items() if k in f'.{n}'), 1.0) for n, _ in named]
        groups = [{'params': [p for (_, p), s in zip(named, scales) if s == scale],
                   'lr_scale': scale} for scale in dict.fromkeys([1.0] + scales)]
        groups = [g for g in groups if g['params']]
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.use_amp = cfg.amp and self.device.type == 'cuda'
        self.amp_dtype = torch.bfloat16 if (self.use_amp and torch.cuda.is_bf16_supported()) \
            else torch.float16
        self.scaler = torch.amp.GradScaler('cuda', enabled=self.use_amp and
                                           self.amp_dtype == torch.float16)
        self.module = task
        if self.world > 1:
            self.module = nn.parallel.DistributedDataParallel(
                task, device_ids=[self.device.index] if self.device.type == 'cuda' else None,
                find_unused_parameters=True)
        self.epoch = 0
        self.step = 0
        self.bad_steps = 0
        self.skipped_steps = 0
        self.steps_per_epoch = math.ceil(len(dataset) / self.world / cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.history = []
        self._writer = None

    # ----------------------------------------------------------------- schedule
    def lr_at(self, step: int) -> float:
        lr = self.cfg.lr
        if self.cfg.warmup_steps and step < self.cfg.warmup_steps:
            lr *= (step + 1) / self.cfg.warmup_steps
        if step >= self.cfg.lr_drop_at * self.total_steps:
            lr *= self.cfg.lr_drop
        return lr

    # ----------------------------------------------------------------- state
    @property
    def state_path(self) -> pathlib.Path:
        return self.out_dir / 'train_state.pt'

    def state_dict(self) -> Dict:
        state = {'task': self.task.state_dict(), 'optimizer': self.optimizer.state_dict(),
                 'scaler': self.scaler.state_dict(), 'epoch': self.epoch, 'step': self.step,
                 'torch_rng': torch.get_rng_state(),
                 'skipped_steps': self.skipped_steps}
        gen = self.task.generator
        if gen is not None:
            state['task_rng'] = gen.get_state()
        return state

    def save_state(self) -> None:
        if self.rank != 0:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix('.tmp')
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, self.state_path)
        if self.save_model is not None:
            self.save_model(self.out_dir / 'model.safetensors')

    def load_state(self, path=None) -> bool:
        """Resume from ``path`` (default: this run's state); False when there is none."""
        path = pathlib.Path(path) if path else self.state_path
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.task.load_state_dict(state['task'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.scaler.load_state_dict(state['scaler'])
        self.epoch, self.step = state['epoch'], state['step']
        self.skipped_steps = state.get('skipped_steps', 0)
        torch.set_rng_state(state['torch_rng'])
        gen = self.task.generator
        if gen is not None and 'task_rng' in state:
            gen.set_state(state['task_rng'])
        return True

    # ----------------------------------------------------------------- logging
    def _log(self, row: Dict[str, float]) -> None:
        self.history.append(row)
        if self.rank != 0:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / 'log.csv'
        new = not path.exists()
        with path.open('a', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._writer = SummaryWriter(str(self.out_dir / 'tensorboard'))
            except ImportError:
                self._writer = False
        if self._writer:
            for key, value in row.items():
                if key not in ('epoch', 'step'):
                    self._writer.add_scalar(key, value, row['step'])

    # ----------------------------------------------------------------- training
    def _loader(self):
        sampler = ShardSampler(len(self.dataset), self.rank, self.world)
        return torch.utils.data.DataLoader(
            self.dataset, batch_size=self.cfg.batch_size, sampler=sampler,
            num_workers=self.cfg.num_workers, drop_last=False,
            persistent_workers=False, pin_memory=self.device.type == 'cuda')

    def train_step(self, batch) -> Optional[Dict[str, float]]:
        """One optimisation step; None when the loss was not finite (step skipped)."""
        self.task.set_progress(min(self.step / max(self.total_steps, 1), 1.0))
        for group in self.optimizer.param_groups:
            group['lr'] = self.lr_at(self.step) * group.get('lr_scale', 1.0)
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        # BatchNorm statistics move during the forward pass; keep a copy so that a
        # non-finite step leaves no trace at all.
        saved = [b.detach().clone() for b in self.task.buffers()]
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            out = self.module(batch)
        loss = out['loss']
        finite = torch.isfinite(loss.detach())
        if self.world > 1:
            flag = finite.float().to(self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = flag > 0
        self.optimizer.zero_grad(set_to_none=True)
        if not bool(finite):
            with torch.no_grad():
                for buf, old in zip(self.task.buffers(), saved):
                    buf.copy_(old)
            self.bad_steps += 1
            self.skipped_steps += 1
            if self.bad_steps > self.cfg.max_bad_steps:
                raise NonFiniteLoss(f'{self.bad_steps} non-finite losses in a row at step '
                                    f'{self.step}; lower the learning rate or check the data')
            self.step += 1
            return None
        self.bad_steps = 0
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return {k: float(v.detach()) for k, v in out.items()}

    def fit(self, resume: bool = True, stop_after: Optional[int] = None) -> Dict[str, float]:
        """Train to ``cfg.epochs`` (or stop once ``stop_after`` epochs are done)."""
        from tqdm import tqdm
        if resume and self.load_state():
            if self.progress:
                print(f'[train] resumed from {self.state_path} at epoch {self.epoch}, '
                      f'step {self.step}')
        last: Dict[str, float] = {}
        end = self.cfg.epochs if stop_after is None else min(stop_after, self.cfg.epochs)
        while self.epoch < end:
            self.task.train()
            self.task.set_epoch(self.epoch)
            if hasattr(self.dataset, 'set_epoch'):
                self.dataset.set_epoch(self.epoch)
            sums: Dict[str, float] = {}
            count = 0
            start = time.time()
            bar = tqdm(self._loader(), total=self.steps_per_epoch, disable=not self.progress,
                       desc=f'epoch {self.epoch + 1}/{self.cfg.epochs}', unit='step')
            for batch in bar:
                values = self.train_step(batch)
                if values is None:
                    continue
                count += 1
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f'{values["loss"]:.3f}',
                                iou=f'{values.get("metric/iou", float("nan")):.2f}')
            last = {k: v / max(count, 1) for k, v in sums.items()}
            self.epoch += 1
            row = {'epoch': self.epoch, 'step': self.step, 'lr': self.lr_at(self.step - 1),
                   'seconds': round(time.time() - start, 1),
                   'skipped_steps': self.skipped_steps, **last}
            self._log(row)
            if self.progress:
                print(f'[train] epoch {self.epoch}: ' + ', '.join(
                    f'{k} {v:.4f}' for k, v in last.items() if k.startswith(('loss', 'metric'))))
            if self.epoch % self.cfg.checkpoint_every == 0 or self.epoch == self.cfg.epochs:
                self.save_state()
        if self._writer:
            self._writer.close()
        skipped = getattr(self.dataset, 'skipped', None)
        if skipped and self.progress:
            print(f'[train] skipped {sum(skipped.values())} unreadable samples: '
                  + '; '.join(f'{k} x{v}' for k, v in list(skipped.items())[:5]))
        return last


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
