"""Which ONNX Runtime session options run a model's search graph fastest on this machine.

    python scripts/ort_options.py [--model models/default.safetensors] [--rounds 3] [--int8]

Exports the model's graphs (the runtime's own cache), then times the per-frame search graph
under each candidate option set, in alternating rounds (every set once per round), and prints
the median ms per call of each set over the rounds with its spread. The runtime's choice
(``runtime/backends.py``) is the fastest set found here; rerun this on a new machine.

``--int8`` adds ONNX Runtime's static int8 quantisation of the search graph (per-channel
weights; QDQ and QOperator formats), calibrated on the graph's own inputs recorded while the
model tracks the first 60 frames of 12 train sequences (``${data}/sot/train``; without them
it says so and stops), timed in the same rounds under the runtime's options, with the largest
difference of each output from the float graph on the calibration inputs.
"""

import argparse
import pathlib
import statistics
import sys
import tempfile
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


def calibration_inputs(tracker, data: str, sequences: int = 12, frames: int = 60):
    """Record the search graph's inputs (every 5th frame) while ``tracker`` tracks."""
    from track_core.data.build import data_root
    from track_core.data.sequences import find_sequences
    root = pathlib.Path(data.replace('${data}', str(data_root())))
    seqs = find_sequences(root, on_skip=lambda msg: None)
    recorded = []
    run = tracker.backend.run

    def recording(z_tokens, x):
        recorded.append({'z_tokens': np.array(z_tokens), 'search': np.array(x)})
        return run(z_tokens, x)

    tracker.backend.run = recording
    try:
        for index in np.random.default_rng(0).permutation(len(seqs))[:sequences]:
            seq = seqs[index]
            tracker.initialize(seq.frame(0), tuple(float(v) for v in seq.boxes[0]))
            for i in range(1, min(len(seq), frames)):
                tracker.track(seq.frame(i))
    finally:
        tracker.backend.run = run
    return recorded[::5]


def quantised(search_path, feeds, out_dir: pathlib.Path):
    """{label: path} of the static int8 search graphs calibrated on ``feeds``."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(feeds)

        def get_next(self):
            return next(self.feeds, None)

    prepared = out_dir / 'search_prepared.onnx'
    quant_pre_process(str(search_path), str(prepared))
    graphs = {}
    for label, fmt, activations in (('int8 QDQ', QuantFormat.QDQ, QuantType.QInt8),
                                    ('int8 QOperator', QuantFormat.QOperator, QuantType.QUInt8)):
        path = out_dir / f'search_{label.split()[1].lower()}.onnx'
        quantize_static(str(prepared), str(path), Reader(), quant_format=fmt, per_channel=True,
                        activation_type=activations, weight_type=QuantType.QInt8)
        graphs[label] = path
    return graphs


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
    parser.add_argument('--int8', action='store_true',
                        help='also time static int8 search graphs (needs ${data}/sot/train)')
    parser.add_argument('--data', default='${data}/sot/train', help='calibration sequences')
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
    sets = {name: (search_path, opts) for name, opts in option_sets(ort).items()}
    differences = {}
    if args.int8:
        from track_core.data.sequences import DataError
        try:
            feeds = calibration_inputs(tracker, args.data)
        except DataError as exc:
            print(f'--int8: no calibration data ({exc})', file=sys.stderr)
            return 2
        work = pathlib.Path(tempfile.mkdtemp(prefix='int8-'))
        runtime_opts = option_sets(ort)['all, library default threads (the runtime)']
        reference = session(ort, search_path, runtime_opts)
        for label, path in quantised(search_path, feeds, work).items():
            sets[label] = (path, runtime_opts)
            sess = session(ort, path, runtime_opts)
            names = [o.name for o in sess.get_outputs()]
            worst = dict.fromkeys(names, 0.0)
            for f in feeds:
                for name, a, b in zip(names, reference.run(None, f), sess.run(None, f)):
                    worst[name] = max(worst[name], float(np.abs(a - b).max()))
            differences[label] = worst
        print(f'int8: calibrated on {len(feeds)} search crops from {args.data}; graphs in {work}')
        feed = feeds[0]
    times = {name: [] for name in sets}
    for _ in range(args.rounds):
        for name, (path, opts) in sets.items():
            times[name].append(median_ms(session(ort, path, opts), feed))
    print(f'Machine: {hardware_line(2)}; onnxruntime {ort.__version__}; {args.model} search '
          f'graph, batch 1, {args.rounds} rounds in alternation\n')
    print('| options | median ms per call | spread |\n|---|---:|---|')
    for name, ms in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
        print(f'| {name} | {statistics.median(ms):.2f} | {min(ms):.2f} .. {max(ms):.2f} |')
    for label, worst in differences.items():
        print(f'\n{label}: largest difference from the float graph over the calibration crops: '
              + ', '.join(f'{k} {v:.3f}' for k, v in worst.items()))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
