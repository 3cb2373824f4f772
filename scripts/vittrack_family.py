"""VitTrack and its compressed students, from the published file to the model card's table.

Usage:
  python scripts/vittrack_family.py train   # import VitTrack, then train what is missing
  python scripts/vittrack_family.py eval    # the evaluation runs and the speed table

``train`` writes ``models/vittrack.safetensors`` (``track-import vittrack``) unless it is there,
then runs each recipe in ``RECIPES`` whose model is missing (``track-train distill``, resumable:
rerun after a stop). ``eval`` runs, on all dev sequences, one ``track-eval run`` of every model
side by side with OpenCV's TrackerVit (reports/vittrack), the same with ``--leave-return 30``
(reports/vittrack_lt), ``track-bench`` of them all end to end, each alone in its own process
in 5 alternating rounds (reports/vittrack/speed.json), and ``track-bench variants`` of their
layouts at 1 and 2 threads for the model-only time (reports/vittrack/bench_t1.json,
bench_t2.json); ``python scripts/model_card.py --vittrack-only`` (or ``make card`` with
``make eval``'s reports) puts them in the model card.
Needs ../shared/data (or TRACK_DATA_ROOT); ``make train-vittrack`` / ``make eval-vittrack``.
"""

import argparse
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
VITTRACK = ROOT / 'models' / 'vittrack.safetensors'
# name in the reports -> (recipe in config/train or None, model file, layout for the speed table)
RECIPES = {
    'VitTrack': (None, VITTRACK, 'vittrack'),
    'VitTrack trained on (control)': ('vittrack_control', None, 'vittrack'),
    'pruned 3 -> 2': ('vittrack_prune_to_2', None, 'vittrack_s2'),
    'CompressTracker-2': ('vittrack_ct2', None, 'vittrack_s2'),
    'shipped default': (None, ROOT / 'models' / 'default.safetensors', 'nt3_ban2'),
}


def model_path(name: str) -> pathlib.Path:
    recipe, path, _ = RECIPES[name]
    return path if path is not None else ROOT / 'runs' / recipe / 'model.safetensors'


def _run(cmd):
    print('[vittrack]', ' '.join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def train() -> int:
    from track_core.data.build import data_root
    if not VITTRACK.is_file():
        _run(['track-import', 'vittrack',
              data_root() / 'baselines' / 'vittrack' / 'vitTracker.onnx', VITTRACK])
    for name, (recipe, _, _) in RECIPES.items():
        if recipe and not model_path(name).is_file():
            _run(['track-train', 'distill', f'config/train/{recipe}.yaml'])
    return 0


def evaluate() -> int:
    missing = [f'{name}: {model_path(name).relative_to(ROOT)}' for name in RECIPES
               if not model_path(name).is_file()]
    if missing:
        print('[vittrack] missing (make train-vittrack makes them): ' + '; '.join(missing),
              file=sys.stderr)
        return 2
    models = [a for name in RECIPES for a in ('--model', f'{name}={model_path(name)}')]
    common = ['track-eval', 'run', '--data', '${data}/sot/dev', *models, '--baselines',
              'vittrack']
    _run([*common, '--out', 'reports/vittrack'])
    _run([*common, '--leave-return', '30', '--out', 'reports/vittrack_lt'])
    # end to end: each model alone in its own process, in alternating rounds (the fps of one
    # track-eval process moves with the order the models run in)
    also = [a for name in list(RECIPES)[1:] for a in ('--also', f'{name}={model_path(name)}')]
    _run(['track-bench', '--model', VITTRACK, '--label', 'VitTrack', *also, '--baselines',
          'vittrack', '--rounds', 5, '--no-profile', '--json', 'reports/vittrack/speed.json'])
    layouts = list(dict.fromkeys(layout for _, _, layout in RECIPES.values()))
    layouts.insert(-1, 'vittrack_t2')         # the token-head layout's speed (not learnt here)
    for threads in (1, 2):
        _run(['track-bench', 'variants', '--variants', *layouts, '--backends', 'onnx',
              '--threads', threads, '--runs', 100,
              '--json', f'reports/vittrack/bench_t{threads}.json'])
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('step', choices=['train', 'eval'])
    args = parser.parse_args(argv)
    return train() if args.step == 'train' else evaluate()


if __name__ == '__main__':
    raise SystemExit(main())
