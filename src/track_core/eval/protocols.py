"""Evaluation protocols as functions: one-pass runs, leave-and-return, report writing.

``track-eval`` (``eval/cli.py``) is their command line; scripts that sweep settings call them
directly.
"""

import dataclasses
import json
import pathlib
from typing import Any, Dict, Optional

import torch

from track_core.data.build import resolve
from track_core.data.sequences import (DataError, find_sequences, with_cut_away,
                                       with_distractor, with_jpeg, with_leave_and_return,
                                       with_look_alike, with_occluder, with_small_target)
from track_core.eval.longterm import longterm_metrics, markdown as longterm_markdown
from track_core.eval.ope import aggregate, confidence, median_after_warmup, run_sequence
from track_core.eval.report import write_report
from track_core.eval.speed import hardware_line
from track_core.eval.trackers import CoreTracker
from track_core.foreign.baselines import available_baselines
from track_core.runtime import model_runtime


def model_spec(spec: str):
    """'NAME=PATH' -> (NAME, PATH); a bare PATH is named after its file."""
    name, _, path = spec.partition('=')
    if not path:
        return pathlib.Path(spec).stem, spec
    return name, path


def evaluate(data, models, baselines=(), nanotrack_dir=None, out='reports/eval',
             backend='onnx', threads=None, sequences=None, progress=True,
             runtime: Optional[Dict[str, Any]] = None, baseline_dirs=None, cut_away: int = 0,
             small_target: float = 0.0, distractor: str = '', jpeg: int = 0,
             occluder: float = 0.0):
    """Run every tracker over every sequence; write the report; return (summaries, path).

    ``runtime``: run-time settings changed on top of each track_core model's own (baselines
    have theirs). ``cut_away``: follow each sequence with that many frames of the next one in
    the set (``with_cut_away``: the target absent), for the confidence figures.
    ``small_target``: replay each sequence with its target about that many pixels
    (``with_small_target``; 0: as recorded). ``jpeg``: then re-encode every frame as JPEG at
    that quality (``with_jpeg``; 0: not). ``distractor``: a file of {sequence: COCO label}
    (config/eval/dev_kinds.yaml); only those sequences run, each with another object of its
    kind beside the target (``with_distractor``), and the report counts switches to it.
    ``occluder``: replay each sequence with a static occluder over that fraction of its first
    box (``with_occluder``, ``occluded``; 0: not).
    """
    from tqdm import tqdm
    skipped_data = []
    seqs = find_sequences(resolve(str(data)), on_skip=skipped_data.append)
    if sequences:
        seqs = [s for s in seqs if s.name in set(sequences)]
    if not seqs:
        raise DataError(f'{data}: no sequences to evaluate')
    if small_target:
        seqs = [with_small_target(s, small_target) for s in seqs]
    if jpeg:
        seqs = [with_jpeg(s, jpeg) for s in seqs]
    if distractor:
        seqs = [with_distractor(seq, rgb, box)
                for seq, rgb, box in look_alikes(seqs, *read_kinds(distractor))]
        if not seqs:
            raise DataError(f'{data}: no sequence has a kind in {distractor} with a still')
    if occluder:
        seqs = list(occluded(seqs, occluder))
    if cut_away:
        if len(seqs) < 2:
            raise DataError(f'{data}: a cut-away needs at least two sequences')
        seqs = [with_cut_away(s, seqs[(i + 1) % len(seqs)], cut_away)
                for i, s in enumerate(seqs)]
    threads = threads or torch.get_num_threads()
    factories, settings = {}, {}
    for spec in models:
        name, path = model_spec(spec)
        settings[name] = model_runtime(path, runtime)
        factories[name] = (lambda n=name, p=path:
                           CoreTracker(n, p, backend=backend, threads=threads,
                                       config=settings[n]))
    ready, skipped = available_baselines(baselines, nanotrack_dir, baseline_dirs)
    factories.update(ready)
    runs, summaries = {}, {}
    total = len(factories) * len(seqs)
    bar = tqdm(total=total, desc='evaluating', unit='seq', disable=not progress)
    for name, make in factories.items():
        tracker = make()
        runs[name] = []
        for seq in seqs:
            bar.set_postfix(tracker=name, seq=seq.name)
            runs[name].append(run_sequence(tracker, seq))
            bar.update()
        summaries[name] = aggregate(runs[name])
        summaries[name]['confidence'] = confidence(runs[name])
        summaries[name]['model_ms'] = (median_after_warmup(tracker.model_ms)
                                       if tracker.model_ms else None)
    bar.close()
    ratios = speed_ratios(summaries)
    root = resolve(str(data))
    meta = {'dataset': '/'.join(root.resolve().parts[-2:]), 'sequences': [s.name for s in seqs],
            'hardware': hardware_line(threads), 'backend': backend,
            'runtime': {n: dataclasses.asdict(c) for n, c in settings.items()},
            'skipped': {**skipped, **{f'data {i}': m for i, m in enumerate(skipped_data)}},
            'ratios': ratios, 'cut_away': cut_away, 'small_target': small_target,
            'jpeg': jpeg, 'distractor': bool(distractor), 'occluder': occluder}
    return summaries, write_report(out, summaries, runs, meta)


NO_SIZE_CONTROL = ('size_penalty=0', 'size_smoothing=0', 'size_by_confidence=false')
LEAVE_AT = 0.4          # of the sequence, where the target leaves
# The two leave-and-return variants: the target back where it left, or where it has moved to
# meanwhile (1 / value of the sequence dropped before the return; 0: none).
LONGTERM_VARIANTS = {'where it left': 0, 'where it has moved to': 5}


def leave_return_splices(seqs, absent: int, fifth: int):
    """Return (spliced sequences, index of each one's return frame) for one variant.

    Each sequence leaves at LEAVE_AT for ``absent`` frames of the next one in ``seqs``, then
    goes on after dropping ``len // fifth`` frames (none for 0); sequences too short for that
    are left out.
    """
    spliced, returns = [], []
    for i, s in enumerate(seqs):
        skip = len(s) // fifth if fifth else 0
        leave = max(1, int(len(s) * LEAVE_AT))
        if leave >= len(s) - skip - 1:
            continue
        spliced.append(with_leave_and_return(s, seqs[(i + 1) % len(seqs)], leave, absent, skip))
        returns.append(leave + absent)
    return spliced, returns


def look_alikes(seqs, kinds: Dict[str, str], stills):
    """Yield (sequence, still RGB, instance box) for each sequence with a kind in ``kinds``.

    ``kinds``: {sequence: COCO label} (config/eval/dev_kinds.yaml); ``stills``: StillBoxes
    (det/coco_lightly256). The k-th such sequence gets the k-th instance of its label at
    least 32 px a side, so runs repeat.
    """
    import cv2
    by_label: Dict[str, list] = {}
    for s in stills:
        if min(s.box[2], s.box[3]) >= 32:
            by_label.setdefault(s.label, []).append(s)
    for k, seq in enumerate(s for s in seqs if kinds.get(s.name) in by_label):
        choices = by_label[kinds[seq.name]]
        still = choices[k % len(choices)]
        yield seq, cv2.cvtColor(cv2.imread(str(still.image)), cv2.COLOR_BGR2RGB), still.box


def occluded(seqs, area: float, stills=None):
    """Yield each sequence with a static occluder over ``area`` of its first box.

    The k-th sequence's occluder is the (7 k)-th box of at least 32 px a side of ``stills``
    (default: ${data}/det/coco_lightly256), centred within 0.3 of the box's sides from its
    centre at an offset drawn from seed k, so runs repeat (``with_occluder``).
    """
    import numpy as np
    from track_core.data.stills import load_image, read_boxes_csv
    if stills is None:
        stills = read_boxes_csv(resolve('${data}/det/coco_lightly256'))
    usable = [s for s in stills if min(s.box[2], s.box[3]) >= 32]
    if not usable:
        raise DataError('no still box of 32 px a side or more to cut occluders from')
    for k, seq in enumerate(seqs):
        still = usable[(7 * k) % len(usable)]
        x, y, w, h = (int(round(float(v))) for v in still.box)
        patch = load_image(still.image)[max(y, 0):y + h, max(x, 0):x + w]
        offset = np.random.default_rng(k).uniform(-0.3, 0.3, 2)
        yield with_occluder(seq, patch, area, tuple(offset))


def read_kinds(path):
    """Return ({sequence: COCO label} from ``path``, the stills of ${data}/det/coco_lightly256)."""
    import yaml
    from track_core.data.stills import read_boxes_csv
    kinds = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    return kinds, read_boxes_csv(resolve('${data}/det/coco_lightly256'))


def look_alike_splices(seqs, absent: int, fifth: int, kinds: Dict[str, str], stills):
    """Return (spliced sequences, return frames) where the absence shows a look-alike.

    Each sequence of ``look_alikes`` gets its instance, scaled to the target's size where it
    left and drifting from there (``with_look_alike``).
    """
    spliced, returns = [], []
    for seq, rgb, box in look_alikes(seqs, kinds, stills):
        skip = len(seq) // fifth if fifth else 0
        leave = max(1, int(len(seq) * LEAVE_AT))
        if leave >= len(seq) - skip - 1:
            continue
        spliced.append(with_look_alike(seq, rgb, box, leave, absent, skip))
        returns.append(leave + absent)
    return spliced, returns


def evaluate_longterm(data, models, baselines=(), out='reports/longterm', backend='onnx',
                      threads=None, sequences=None, runtime=None, baseline_dirs=None,
                      absent: int = 30, progress=True, look_alike: str = ''):
    """Run every tracker on both leave-and-return variants; write longterm.md / .json.

    ``look_alike``: a file of {sequence: COCO label} (config/eval/dev_kinds.yaml); the absence
    then shows another object of the target's kind, from the still images
    (``${data}/det/coco_lightly256``), instead of the next sequence. Returns ({variant:
    {tracker: figures}}, the report path).
    """
    from tqdm import tqdm
    seqs = find_sequences(resolve(str(data)))
    if sequences:
        seqs = [s for s in seqs if s.name in set(sequences)]
    if len(seqs) < 2:
        raise DataError(f'{data}: the long-term protocol needs at least two sequences')
    kinds, stills = read_kinds(look_alike) if look_alike else ({}, [])
    threads = threads or torch.get_num_threads()
    factories = {}
    for spec in models:
        name, path = model_spec(spec)
        config = model_runtime(path, runtime)
        factories[name] = (lambda n=name, p=path, c=config:
                           CoreTracker(n, p, backend=backend, threads=threads, config=c))
    ready, skipped = available_baselines(baselines, None, baseline_dirs)
    factories.update(ready)
    figures = {}
    splices = {variant: look_alike_splices(seqs, absent, fifth, kinds, stills) if look_alike
               else leave_return_splices(seqs, absent, fifth)
               for variant, fifth in LONGTERM_VARIANTS.items()}
    bar = tqdm(total=sum(len(s) for s, _ in splices.values()) * len(factories),
               desc='long-term', unit='seq', disable=not progress)
    for variant, (spliced, returns) in splices.items():
        figures[variant] = {}
        for name, make in factories.items():
            tracker = make()
            runs = []
            for seq in spliced:
                bar.set_postfix(variant=variant[:10], tracker=name, seq=seq.name)
                runs.append(run_sequence(tracker, seq))
                bar.update()
            figures[variant][name] = longterm_metrics(
                runs, [q.boxes for q in spliced], returns,
                distractors=[q.distractors for q in spliced] if look_alike else None)
    bar.close()
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {'dataset': '/'.join(resolve(str(data)).resolve().parts[-2:]),
            'sequences': [s.name for s in seqs], 'absent_frames': absent,
            'leave_at': LEAVE_AT, 'hardware': hardware_line(threads), 'skipped': skipped,
            'look_alike': {k: v for k, v in kinds.items() if k in {s.name for s in seqs}}}
    (folder / 'longterm.json').write_text(json.dumps({'meta': meta, 'figures': figures},
                                                     indent=1))
    away = (f'{absent} frames showing another object of its kind (a still with one, scaled '
            'to the target and drifting from where it left)' if look_alike else
            f'{absent} frames of the next sequence')
    used = len(meta['look_alike']) if look_alike else len(seqs)
    text = ['# Long-term: leave and return' + (', a look-alike while away' if look_alike
                                               else ''), '',
            f'Dataset {meta["dataset"]}, {used} sequences; each cut at '
            f'{LEAVE_AT:.0%} by {away} (the target away), then '
            'the rest: the target back where it left, or (second table) where it has moved '
            'to, a fifth of the sequence dropped. Machine: ' + meta['hardware'], '',
            longterm_markdown(figures, absent)]
    text += [f'- skipped {k}: {v}' for k, v in skipped.items()]
    (folder / 'longterm.md').write_text('\n'.join(text) + '\n')
    return figures, folder / 'longterm.md'


def speed_ratios(summaries):
    names = list(summaries)
    lines = []
    if len(names) > 1:
        base = names[0]
        for other in names[1:]:
            a, b = summaries[base], summaries[other]
            lines.append(f'{base} vs {other}: {a["fps"] / b["fps"]:.2f}x the frame rate '
                         f'({a["fps"]:.1f} vs {b["fps"]:.1f} fps), AUC ratio '
                         f'{a["auc"] / max(b["auc"], 1e-9):.2f}')
    return lines
