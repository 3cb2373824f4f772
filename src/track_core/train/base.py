"""The contract between a training task and the trainer.

A task is an ``nn.Module`` whose registered submodules are exactly what trains (a student and
any training-only projections), so that DDP can wrap it and its ``state_dict`` is what resume
needs. Frozen models (teachers, a reference model) are held with ``hold_frozen``: they are not
registered submodules (DDP never sees them, checkpoints do not repeat them), but ``.to()``,
``.half()``, ``.double()`` and ``.cuda()`` move them with the task, and ``train()`` keeps them
in eval mode.

The trainer calls, in this order each step: ``set_progress(fraction of training done)``, then
``forward(batch) -> {'loss': total, 'loss/...': term, 'metric/...': value}``; ``set_epoch`` at
the start of each epoch; it saves and restores ``generator`` (the task's own seeded random
source, or None) with the run's state; ``trained_model()`` is what gets saved and shipped.
"""

from typing import Dict, Iterator, Optional, Tuple

import torch
from torch import nn


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode without gradients (in place) and return it."""
    model.eval()
    model.requires_grad_(False)
    return model


class TrainingTask(nn.Module):
    """Base of every training task (see the module docstring for the contract)."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, '_frozen', {})
        self.progress = 0.0
        self.epoch = 0
        self.generator: Optional[torch.Generator] = None

    # ----------------------------------------------------------------- frozen models
    def hold_frozen(self, name: str, model: nn.Module) -> nn.Module:
        """Keep ``model`` frozen as ``self.<name>``, outside the module tree, moved with it."""
        freeze(model)
        self._frozen[name] = model
        object.__setattr__(self, name, model)
        return model

    def frozen_models(self) -> Iterator[Tuple[str, nn.Module]]:
        return iter(self._frozen.items())

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for model in self._frozen.values():
            model._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        for model in self._frozen.values():
            model.eval()
        return self

    # ----------------------------------------------------------------- trainer hooks
    def set_progress(self, fraction: float) -> None:
        """Fraction of all training steps done, 0..1 (schedules read ``self.progress``)."""
        self.progress = float(fraction)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    # ----------------------------------------------------------------- what subclasses give
    def forward(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def trained_model(self) -> nn.Module:
        raise NotImplementedError
