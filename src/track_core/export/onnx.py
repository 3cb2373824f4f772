"""ONNX export for deployment, and its parity check against PyTorch.

The graphs themselves are written by ``track_core.net.onnx_graphs.export_onnx`` (the runtime
exports on first use through it too); this module adds what a release needs on top.
"""

import copy
from typing import Dict

import numpy as np

from track_core.net.onnx_graphs import DEFAULT_OPSET, example_inputs, export_onnx
from track_core.runtime.backends import OnnxBackend, TorchBackend

__all__ = ['DEFAULT_OPSET', 'export_onnx', 'parity']


def parity(model, template_path, search_path, batch: int = 1, seed: int = 1
           ) -> Dict[str, float]:
    """Largest absolute difference per output between ONNX Runtime (CPU) and PyTorch."""
    torch_backend = TorchBackend(copy.deepcopy(model).float(), device='cpu')
    onnx_backend = OnnxBackend(template_path, search_path, model.cfg.head, device='cpu')
    template, search = (t.numpy() for t in example_inputs(model.cfg, batch, seed))
    z_t = torch_backend.embed_template(template)
    z_o = onnx_backend.embed_template(template)
    diffs = {'z_tokens': float(np.abs(z_t - z_o).max())}
    out_t = torch_backend.run(z_t, search)
    out_o = onnx_backend.run(z_t, search)
    for key in out_t:
        diffs[key] = float(np.abs(out_t[key] - out_o[key]).max())
    return diffs
