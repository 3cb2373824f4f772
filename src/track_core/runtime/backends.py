"""Inference backends behind one small interface (numpy in, numpy out).

``embed_template(z)``: (B, 3, Ht, Wt) float32 -> (B, Nz, C * k) float32, the template state
(``OneStreamTracker.template_state``: its tokens, and with asymmetric attention every block's
template keys and values, so each frame runs the search side alone).
``run(z_tokens, x)``: template state + (B, 3, Hs, Ws) search crops -> dict of arrays, either
``score_map``/``size_map``/``offset_map`` (center head) or ``box``/``score`` (token head), and
``confidence`` where the model has a score head.
"""

import os
import pathlib
from typing import Dict, List, Optional

import numpy as np
import torch

from track_core.net.onnx_graphs import output_names


def resolve_device(device: Optional[str]) -> torch.device:
    """Map 'auto' (or None) to cuda when available, else cpu; explain a missing GPU."""
    if device in (None, '', 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dev = torch.device(device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'device {device!r} requested but CUDA is not available '
                           f'(torch {torch.__version__}); use device="cpu"')
    return dev


class TorchBackend:
    """PyTorch eager on CPU or CUDA (fp16 on CUDA by default)."""

    name = 'torch'

    def __init__(self, model: torch.nn.Module, device='auto', fp16: Optional[bool] = None,
                 threads: Optional[int] = None):
        self.device = resolve_device(device)
        self.fp16 = (self.device.type == 'cuda') if fp16 is None else bool(fp16)
        if self.fp16 and self.device.type != 'cuda':
            raise ValueError('fp16 inference is only supported on CUDA devices')
        if threads:
            torch.set_num_threads(int(threads))
        self.dtype = torch.float16 if self.fp16 else torch.float32
        self.model = model.to(self.device, self.dtype).eval()
        self.outputs = output_names(model.cfg.head, model.cfg.score_head)

    def _in(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device, self.dtype)

    @torch.inference_mode()
    def embed_template(self, z: np.ndarray) -> np.ndarray:
        return self.model.template_state(self._in(z)).float().cpu().numpy()

    @torch.inference_mode()
    def run(self, z_tokens: np.ndarray, x: np.ndarray) -> Dict[str, np.ndarray]:
        out = self.model.track_from_state(self._in(z_tokens), self._in(x))
        return {k: out[k].float().cpu().numpy() for k in self.outputs}


def onnx_providers(device: str) -> List[str]:
    """List execution providers for ``device`` (cpu, cuda, tensorrt, auto), best first."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    wanted = {
        'cpu': ['CPUExecutionProvider'],
        'cuda': ['CUDAExecutionProvider', 'CPUExecutionProvider'],
        'tensorrt': ['TensorrtExecutionProvider', 'CUDAExecutionProvider',
                     'CPUExecutionProvider'],
        'auto': ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider'],
    }.get(device or 'auto')
    if wanted is None:
        raise ValueError(f'onnx device must be cpu, cuda, tensorrt or auto, got {device!r}')
    if device in ('cuda', 'tensorrt') and wanted[0] not in available:
        raise RuntimeError(f'{wanted[0]} requested but onnxruntime offers only {available}')
    return [p for p in wanted if p in available]


class OnnxBackend:
    """ONNX Runtime over the two exported graphs (template embedding, per-frame search).

    The graphs have a static batch (``batch``); larger batches run in chunks, smaller ones are
    padded, so any number of targets works.
    """

    name = 'onnx'

    def __init__(self, template_path, search_path, head: str, device='cpu',
                 threads: Optional[int] = None):
        import onnxruntime as ort
        # All graph optimisations, intra-op spinning and the memory pattern on: the fastest of
        # the sets scripts/ort_options.py compares (docs/evaluation.md has its table).
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
        # The template graph runs now and then (a new target, an appearance check): its
        # threads must not spin after a call, taking the cores from the next frame's search
        # (measured: 4.7 -> 8.4 ms a frame with a check every 10 frames, spinning on).
        quiet = ort.SessionOptions()
        quiet.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            quiet.intra_op_num_threads = int(threads)
        quiet.add_session_config_entry('session.intra_op.allow_spinning', '0')
        providers = onnx_providers(device)
        self.providers = providers
        self.template_path, self.search_path = str(template_path), str(search_path)
        self.template = ort.InferenceSession(str(template_path), quiet, providers=providers)
        self.search = ort.InferenceSession(str(search_path), opts, providers=providers)
        self.batch = self.search.get_inputs()[1].shape[0]
        self.outputs = tuple(o.name for o in self.search.get_outputs())
        expected = set(output_names(head)) | {'confidence'}
        if not set(self.outputs) >= set(output_names(head)) or \
                not set(self.outputs) <= expected:
            raise ValueError(f'{search_path}: outputs {list(self.outputs)} are not those of a '
                             f'{head!r} head ({", ".join(output_names(head))}[, confidence])')

    @staticmethod
    def _chunks(arrays, batch):
        n = arrays[0].shape[0]
        for start in range(0, n, batch):
            parts = [a[start:start + batch] for a in arrays]
            pad = batch - parts[0].shape[0]
            if pad:
                parts = [np.concatenate([p, np.repeat(p[-1:], pad, axis=0)]) for p in parts]
            yield parts, batch - pad

    def embed_template(self, z: np.ndarray) -> np.ndarray:
        outs = [self.template.run(None, {'template': p[0]})[0][:k]
                for p, k in self._chunks([np.asarray(z, np.float32)], self.batch)]
        return np.concatenate(outs)

    def run(self, z_tokens: np.ndarray, x: np.ndarray) -> Dict[str, np.ndarray]:
        results = {k: [] for k in self.outputs}
        # asarray: no copy per frame when the inputs are already float32 (they normally are)
        arrays = [np.asarray(z_tokens, np.float32), np.asarray(x, np.float32)]
        for (zp, xp), k in self._chunks(arrays, self.batch):
            out = self.search.run(list(self.outputs), {'z_tokens': zp, 'search': xp})
            for name, value in zip(self.outputs, out):
                results[name].append(value[:k])
        return {k: np.concatenate(v) for k, v in results.items()}


def onnx_cache_dir() -> pathlib.Path:
    root = os.environ.get('TRACK_CORE_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'track_core')
    return pathlib.Path(root) / 'onnx'
