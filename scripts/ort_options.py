"""Which ONNX Runtime session options run a model's search graph fastest on this machine.

    python scripts/ort_options.py [--model models/default.safetensors] [--rounds 3]

Exports the model's graphs (the runtime's own cache), then times the per-frame search graph
under each candidate option set, in alternating rounds (every set once per round), and prints
the median ms per call of each set over the rounds with its spread. The runtime's choice
(``runtime/backends.py``) is the fastest set found here; rerun this on a new machine.
"""

import argparse
import statistics
import time

import numpy as np


def option_sets(ort):
    level = ort.GraphOptimizationLevel
    return {
        'all optimisations, 2 threads': (level.ORT_ENABLE_ALL, 2, True, True),
        'all, library default threads (the runtime)': (level.ORT_ENABLE_ALL, 0, True, True),
        'all, 1 thread': (level.ORT_ENABLE_ALL, 1, True, True),
        'extended optimisations': (level.ORT_ENABLE_EXTENDED, 2, True, True),
        'basic optimisations': (level.ORT_ENABLE_BASIC, 2, True, True),
        'all, no memory pattern': (level.ORT_ENABLE_ALL, 2, False, True),
        'all, no thread spinning': (level.ORT_ENABLE_ALL, 2, True, False),
    }


def session(ort, path, opts_tuple):
    level, threads, mem, spin = opts_tuple
    opts = ort.SessionOptions()
    opts.graph_optimization_level = level
    if threads:
        opts.intra_op_num_threads = threads
    opts.enable_mem_pattern = mem
    if not spin:
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(str(path), opts, providers=['CPUExecutionProvider'])


def median_ms(sess, feed, calls=150, warmup=20):
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='models/default.safetensors')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args(argv)
    import onnxruntime as ort
    from track_core.eval.speed import hardware_line
    from track_core.runtime import load_tracker
    tracker = load_tracker(args.model, device='cpu', backend='onnx')    # exports the graphs
    backend = tracker.backend
    search_path = backend.search_path
    cfg = tracker.model_cfg
    rng = np.random.default_rng(0)
    z = backend.embed_template(rng.random((1, 3, cfg.template_size, cfg.template_size),
                                          np.float32))
    x = rng.random((1, 3, cfg.search_size, cfg.search_size), np.float32)
    feed = {'z_tokens': z, 'search': x}
    sets = option_sets(ort)
    times = {name: [] for name in sets}
    for _ in range(args.rounds):
        for name, opts in sets.items():
            times[name].append(median_ms(session(ort, search_path, opts), feed))
    print(f'Machine: {hardware_line(2)}; onnxruntime {ort.__version__}; {args.model} search '
          f'graph, batch 1, {args.rounds} rounds in alternation\n')
    print('| options | median ms per call | spread |\n|---|---:|---|')
    for name, ms in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
        print(f'| {name} | {statistics.median(ms):.2f} | {min(ms):.2f} .. {max(ms):.2f} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
