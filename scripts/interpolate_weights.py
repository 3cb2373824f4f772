r"""Mix two checkpoints of one network: (1 - alpha) x A + alpha x B, weight by weight.

    python scripts/interpolate_weights.py A B --alpha 0.5 --out MIXED [--score-head a|b|mix]

Robust fine-tuning's weight-space ensemble (Wortsman et al., "Robust fine-tuning of zero-shot
models", WiSE-FT, 2022): B fine-tuned from A, the mix keeps part of what each end is good at.
A and B must be the same network (model config); every floating-point tensor is mixed (the
BatchNorm statistics too), integer ones (counters) are A's. ``--score-head``: the confidence
head is trained on a frozen tracker, so a mixed tracker may be given A's or B's head as it is
(``a`` / ``b``) instead of the mix of both (``mix``, the default); train its own with ``track-
train score ... init=MIXED``. The preprocessing and the run-time settings are A's.
"""

import argparse
import sys

from track_core.checkpoint import load_model, read_extra, save_checkpoint
from track_core.errors import CheckpointError


def interpolate(a_path, b_path, alpha: float, out, score_head: str = 'mix'):
    """Write the mix of ``a_path`` and ``b_path`` to ``out``; return the mixed model."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    if score_head not in ('a', 'b', 'mix'):
        raise ValueError(f"score_head must be 'a', 'b' or 'mix', got {score_head!r}")
    model, preprocess = load_model(a_path)
    other, _ = load_model(b_path)
    if model.cfg != other.cfg:
        raise ValueError(f'{a_path} and {b_path} are different networks ({model.cfg.name} '
                         f'and {other.cfg.name}, or the same with other settings)')
    state, theirs = model.state_dict(), other.state_dict()
    mixed = {}
    for key, mine in state.items():
        weight = alpha
        if key.startswith('score_head.') and score_head != 'mix':
            weight = 0.0 if score_head == 'a' else 1.0
        mixed[key] = (1.0 - weight) * mine + weight * theirs[key] \
            if mine.is_floating_point() else mine
    model.load_state_dict(mixed)
    save_checkpoint(out, model, preprocess, read_extra(a_path))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('a')
    parser.add_argument('b')
    parser.add_argument('--alpha', type=float, default=0.5)
    parser.add_argument('--out', required=True)
    parser.add_argument('--score-head', choices=('a', 'b', 'mix'), default='mix')
    args = parser.parse_args(argv)
    try:
        interpolate(args.a, args.b, args.alpha, args.out, args.score_head)
    except (CheckpointError, OSError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}: {1 - args.alpha:g} x {args.a} + {args.alpha:g} x {args.b}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
