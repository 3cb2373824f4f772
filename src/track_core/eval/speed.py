"""Speed of model variants and backends, measured side by side in one process.

For each (variant, backend): model-only time (the backend's per-frame call on prepared
inputs, template cached) and end-to-end time (``Tracker.track`` on a 640x480 frame: crop,
normalise, infer, decode, state update). Each figure is the median of ``runs`` timed calls
after ``warmup`` untimed ones. Weights are random: speed does not depend on their values.
"""

from dataclasses import asdict, dataclass
import os
import platform
import statistics
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from track_core.net import create_model, PreprocessConfig
from track_core.runtime.backends import OnnxBackend, TorchBackend
from track_core.runtime.tracker import Tracker

REFERENCE = 'ostrack_vitb_256'
DEFAULT_VARIANTS = ('ostrack_vitb_256', 'ct4_vitb_256', 'ct2_vitb_256', 'mfv2_s_224',
                    'vit_s4_256', 'mnv2_t8_256', 'mnv2_s4_256', 'mnv2_s2_256')


@dataclass
class SpeedRow:
    variant: str
    backend: str
    params_m: float
    model_ms: float
    e2e_ms: float
    fps: float
    speedup_e2e: Optional[float] = None


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_line(threads: int) -> str:
    return (f'{cpu_name()}, {os.cpu_count()} logical CPUs, {threads} threads, '
            f'torch {torch.__version__}, {platform.system()} {platform.release()}')


def median_ms(fn, runs: int, warmup: int) -> float:
    """Return the median milliseconds of ``runs`` calls of ``fn`` after ``warmup`` untimed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _engine(model, backend: str, threads: int, workdir: str):
    if backend == 'torch':
        return TorchBackend(model, device='cpu', threads=threads)
    from track_core.export.onnx import export_onnx
    paths = export_onnx(model, os.path.join(workdir, model.cfg.name))
    return OnnxBackend(*paths, head=model.cfg.head, device='cpu', threads=threads)


def measure(variant: str, backend: str, runs: int = 30, warmup: int = 5,
            threads: Optional[int] = None, seed: int = 0) -> SpeedRow:
    threads = threads or torch.get_num_threads()
    torch.manual_seed(seed)
    model = create_model(variant).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    with tempfile.TemporaryDirectory() as workdir:
        engine = _engine(model, backend, threads, workdir)
        tracker = Tracker(engine, model.cfg, PreprocessConfig())
        rng = np.random.default_rng(seed)
        frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        tracker.initialize(frame, (300, 200, 60, 80))
        cfg = model.cfg
        z_tokens = engine.embed_template(
            rng.standard_normal((1, 3, cfg.template_size, cfg.template_size), np.float32))
        x = rng.standard_normal((1, 3, cfg.search_size, cfg.search_size), np.float32)
        model_ms = median_ms(lambda: engine.run(z_tokens, x), runs, warmup)
        e2e_ms = median_ms(lambda: tracker.track(frame), runs, warmup)
    return SpeedRow(variant, backend, round(params, 2), model_ms, e2e_ms, 1000.0 / e2e_ms)


def benchmark(variants: Sequence[str] = DEFAULT_VARIANTS, backends: Sequence[str] = ('torch',
              'onnx'), runs: int = 30, warmup: int = 5, threads: Optional[int] = None,
              progress: bool = True) -> List[SpeedRow]:
    """Measure every (variant, backend); speed-ups are against REFERENCE on the same backend."""
    from tqdm import tqdm
    jobs = [(v, b) for v in variants for b in backends]
    rows = []
    for variant, backend in tqdm(jobs, desc='benchmark', disable=not progress, unit='model'):
        rows.append(measure(variant, backend, runs, warmup, threads))
    return add_speedups(rows)


def add_speedups(rows: List[SpeedRow]) -> List[SpeedRow]:
    """Fill ``speedup_e2e``: REFERENCE's end-to-end time over each row's, per backend."""
    ref: Dict[str, float] = {r.backend: r.e2e_ms for r in rows if r.variant == REFERENCE}
    for r in rows:
        r.speedup_e2e = ref[r.backend] / r.e2e_ms if r.backend in ref else None
    return rows


def markdown_table(rows: Sequence[SpeedRow]) -> str:
    lines = ['| variant | backend | params (M) | model ms | end-to-end ms | fps | '
             f'speed-up vs {REFERENCE} |',
             '|---|---|---:|---:|---:|---:|---:|']
    for r in rows:
        speed = f'{r.speedup_e2e:.2f}x' if r.speedup_e2e else 'n/a'
        lines.append(f'| {r.variant} | {r.backend} | {r.params_m:.1f} | {r.model_ms:.1f} | '
                     f'{r.e2e_ms:.1f} | {r.fps:.1f} | {speed} |')
    return '\n'.join(lines)


def onnx_verdict(rows: Sequence[SpeedRow]) -> List[str]:
    """Say, per variant, whether ONNX Runtime beat PyTorch eager end to end."""
    by = {(r.variant, r.backend): r for r in rows}
    lines = []
    for variant in dict.fromkeys(r.variant for r in rows):
        t, o = by.get((variant, 'torch')), by.get((variant, 'onnx'))
        if t and o:
            ratio = t.e2e_ms / o.e2e_ms
            word = 'faster' if ratio > 1 else 'slower'
            lines.append(f'{variant}: ONNX Runtime is {ratio:.2f}x {word} than PyTorch eager '
                         f'end to end ({o.e2e_ms:.1f} vs {t.e2e_ms:.1f} ms)')
    return lines


def rows_as_dicts(rows):
    return [asdict(r) for r in rows]
