"""ONNX export: two static-shape graphs per tracker, and a parity check against PyTorch.

``template.onnx``: template (B, 3, Ht, Wt) -> z_tokens (B, Nz, C), run once per target (and
on template updates). ``search.onnx``: z_tokens + search (B, 3, Hs, Ws) -> the head outputs
(score_map, size_map, offset_map for the center head; box, score for the token head).
Splitting them caches the template embedding. Shapes are static and there is no
data-dependent control flow, which keeps the graphs TensorRT-friendly.
"""

import copy
import pathlib
from typing import Dict, Tuple
import warnings

import numpy as np
import torch
from torch import nn

from track_core.runtime.backends import output_names

DEFAULT_OPSET = 17


class TemplateGraph(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, template):
        return self.model.embed_template(template)


class SearchGraph(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.names = output_names(model.cfg.head)

    def forward(self, z_tokens, search):
        out = self.model.forward_search(z_tokens, search)
        return tuple(out[k] for k in self.names)


def example_inputs(cfg, batch: int = 1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    template = torch.randn(batch, 3, cfg.template_size, cfg.template_size, generator=gen)
    search = torch.randn(batch, 3, cfg.search_size, cfg.search_size, generator=gen)
    return template, search


def _export(module, args, path, input_names, output_names, opset):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(module, args, str(path), input_names=list(input_names),
                          output_names=list(output_names), opset_version=opset,
                          dynamo=False, do_constant_folding=True)


def export_onnx(model, out_dir, batch: int = 1, opset: int = DEFAULT_OPSET
                ) -> Tuple[pathlib.Path, pathlib.Path]:
    """Write template.onnx and search.onnx for ``model`` into ``out_dir``; return the paths."""
    if opset < 17:
        raise ValueError(f'opset must be >= 17 (LayerNormalization), got {opset}')
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float().cpu().eval()
    template, search = example_inputs(model.cfg, batch)
    with torch.no_grad():
        z_tokens = model.embed_template(template)
    template_path = out_dir / 'template.onnx'
    search_path = out_dir / 'search.onnx'
    tmp_t, tmp_s = out_dir / 'template.onnx.tmp', out_dir / 'search.onnx.tmp'
    _export(TemplateGraph(model), (template,), tmp_t, ['template'], ['z_tokens'], opset)
    _export(SearchGraph(model), (z_tokens, search), tmp_s, ['z_tokens', 'search'],
            output_names(model.cfg.head), opset)
    tmp_t.replace(template_path)
    tmp_s.replace(search_path)
    return template_path, search_path


def parity(model, template_path, search_path, batch: int = 1, seed: int = 1
           ) -> Dict[str, float]:
    """Largest absolute difference per output between ONNX Runtime (CPU) and PyTorch."""
    from track_core.runtime.backends import OnnxBackend, TorchBackend
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
