"""CompressTracker stage division, student initialisation and the replaced forward path."""

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from track_core.net.network import OneStreamTracker

Ranges = List[Tuple[int, int]]


def stage_ranges(depth: int, num_stages: int, split: Union[str, Sequence[int]] = 'even'
                 ) -> Ranges:
    """Split ``depth`` teacher layers into ``num_stages`` consecutive [start, end) ranges.

    split: 'even' (equal sizes; the remainder goes to the first stages), 'uneven' (stage
    sizes grow with depth: earlier stages get fewer layers), or explicit sizes that sum to
    ``depth``.
    """
    if not 1 <= num_stages <= depth:
        raise ValueError(f'num_stages must be in 1..{depth}, got {num_stages}')
    if isinstance(split, str):
        if split == 'even':
            base, extra = divmod(depth, num_stages)
            sizes = [base + (1 if i < extra else 0) for i in range(num_stages)]
        elif split == 'uneven':
            weights = [i + 1 for i in range(num_stages)]
            raw = [depth * w / sum(weights) for w in weights]
            sizes = [max(1, math.floor(r)) for r in raw]
            i = num_stages - 1
            while sum(sizes) < depth:
                sizes[i] += 1
                i = (i - 1) % num_stages
            while sum(sizes) > depth:
                j = max(range(num_stages), key=lambda k: sizes[k])
                sizes[j] -= 1
        else:
            raise ValueError(f"split must be 'even', 'uneven' or a list of sizes, got {split!r}")
    else:
        sizes = [int(s) for s in split]
        if len(sizes) != num_stages or sum(sizes) != depth or min(sizes) < 1:
            raise ValueError(f'explicit split {sizes} must have {num_stages} positive sizes '
                             f'summing to {depth}')
    ranges, start = [], 0
    for size in sizes:
        ranges.append((start, start + size))
        start += size
    return ranges


class Projection(nn.Module):
    """A linear map between widths that fits in a block list (training only)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = nn.Linear(cin, cout)

    def forward(self, x, attn_mask=None):
        return self.linear(x)


class StageAdapters(nn.Module):
    """Projections for a student narrower than its teacher.

    per stage, up (student -> teacher width, before a teacher stage or for feature mimicking) and
    down (teacher -> student width, before a student stage). Empty when the widths match.
    """

    def __init__(self, student_dim: int, teacher_dim: int, num_stages: int):
        super().__init__()
        self.active = student_dim != teacher_dim
        if self.active:
            self.up = nn.ModuleList(Projection(student_dim, teacher_dim)
                                    for _ in range(num_stages))
            self.down = nn.ModuleList(Projection(teacher_dim, student_dim)
                                      for _ in range(num_stages + 1))


def student_blocks_per_stage(student: OneStreamTracker, num_stages: int) -> int:
    per, rest = divmod(student.cfg.depth, num_stages)
    if rest or per < 1:
        raise ValueError(f'student depth {student.cfg.depth} must be a multiple of the '
                         f'{num_stages} stages')
    return per


def init_student_from_teacher(student: OneStreamTracker, teacher: OneStreamTracker,
                              ranges: Ranges) -> List[str]:
    """Initialise a student as CompressTracker does; return what was copied.

    Student stage i (its k blocks) <- the last k teacher layers of stage i. Stem, positional
    embeddings, final norm and head are copied from the teacher where shapes match.
    """
    k = student_blocks_per_stage(student, len(ranges))
    copied = []
    for i, (start, end) in enumerate(ranges):
        for j in range(k):
            src = max(start, end - k + j)
            if _copy(student.blocks[i * k + j], teacher.blocks[src]):
                copied.append(f'blocks.{i * k + j} <- teacher blocks.{src}')
    for name in ('stem', 'norm', 'box_head'):
        if _copy(getattr(student, name), getattr(teacher, name)):
            copied.append(name)
    for name in ('pos_embed_z', 'pos_embed_x', 'pred_tokens'):
        s, t = getattr(student, name, None), getattr(teacher, name, None)
        if s is not None and t is not None and s.shape == t.shape:
            with torch.no_grad():
                s.copy_(t)
            copied.append(name)
    return copied


def _copy(dst: nn.Module, src: nn.Module) -> bool:
    d, s = dst.state_dict(), src.state_dict()
    if d.keys() != s.keys() or any(d[k].shape != s[k].shape for k in d):
        return False
    dst.load_state_dict(s)
    return True


def replaced_block_list(student: OneStreamTracker, teacher: OneStreamTracker, ranges: Ranges,
                        mask: Sequence[bool], adapters: Optional[StageAdapters] = None
                        ) -> Tuple[List[nn.Module], List[int], bool]:
    """Blocks for one replacement-training step.

    Stage i runs the student's blocks when ``mask[i]`` is true, else the frozen teacher's
    layers of that stage. Returns (block list, position of each stage's last block in the list,
    whether the stream ends at teacher width and needs ``adapters.down[-1]``).
    """
    k = student_blocks_per_stage(student, len(ranges))
    blocks: List[nn.Module] = []
    ends: List[int] = []
    wide = False                      # stream at teacher width?
    narrow_student = adapters is not None and adapters.active
    for i, ((start, end), use_student) in enumerate(zip(ranges, mask)):
        if use_student:
            if wide:
                blocks.append(adapters.down[i])
                wide = False
            blocks.extend(student.blocks[i * k:(i + 1) * k])
        else:
            if narrow_student and not wide:
                blocks.append(adapters.up[i])
                wide = True
            blocks.extend(teacher.blocks[start:end])
        ends.append(len(blocks) - 1)
    if wide:
        blocks.append(adapters.down[-1])
    return blocks, ends, wide


def teacher_stage_ends(ranges: Ranges) -> List[int]:
    return [end - 1 for _, end in ranges]
