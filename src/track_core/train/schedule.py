"""Replacement probability schedules and the per-stage mask (CompressTracker)."""

from typing import List

import torch


def replacement_probability(progress: float, schedule: str = 'progressive',
                            constant: float = 0.5, start: float = 0.5) -> float:
    """Probability that a stage uses the student block, at ``progress`` in [0, 1] of training.

    'progressive': ``start`` for the first 10%, rising linearly to 1.0 at 90%, then 1.0.
    'constant': ``constant`` throughout (0.5..0.7 was the best constant published).
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f'progress must be in [0, 1], got {progress}')
    if schedule == 'constant':
        return constant
    if schedule != 'progressive':
        raise ValueError(f"schedule must be 'progressive' or 'constant', got {schedule!r}")
    if progress < 0.1:
        return start
    if progress >= 0.9:
        return 1.0
    return start + (1.0 - start) * (progress - 0.1) / 0.8


def draw_stage_mask(num_stages: int, probability: float, generator: torch.Generator
                    ) -> List[bool]:
    """Bernoulli(probability) per stage (True = student).

    if none is replaced, one random stage is forced to the student.
    """
    draws = torch.rand(num_stages, generator=generator) < probability
    if not bool(draws.any()):
        draws[int(torch.randint(num_stages, (1,), generator=generator))] = True
    return [bool(v) for v in draws]
