"""A tracker as two static-shape ONNX graphs (written here; checked in track_core.export).

``template.onnx``: template (B, 3, Ht, Wt) -> z_tokens (B, Nz, C * k), the template state
(``OneStreamTracker.template_state``: the template tokens, k = 1, or with asymmetric attention
also every block's template keys and values, k = 1 + 2 * depth), run once per target (and on
template updates). ``search.onnx``: z_tokens + search (B, 3, Hs, Ws) -> the head outputs
(score_map, size_map, offset_map for the center and ban heads; box, score for the token head;
then confidence where the model has a score head).
Splitting them caches the template side (with asymmetric attention, all of it: each frame
computes the search tokens alone). Shapes are static and there is no
data-dependent control flow, which keeps the graphs TensorRT-friendly.
"""

import copy
import os
import pathlib
import tempfile
from typing import Tuple
import warnings

import torch
from torch import nn

from track_core.net.config import HEAD_KINDS


DEFAULT_OPSET = 17
# Raised whenever the graphs written for the same checkpoint change (inputs, outputs, ops), so
# graphs cached by an older track_core are exported again rather than run.
GRAPH_VERSION = 4
CENTER_OUTPUTS = ('score_map', 'size_map', 'offset_map')
TOKEN_OUTPUTS = ('box', 'score')


def output_names(head: str, score_head: str = ''):
    """Return the search graph's outputs for the head named ``head``, in order.

    A model with a score head (``ModelConfig.score_head``) adds ``confidence``.
    """
    names = CENTER_OUTPUTS if HEAD_KINDS[head].score_map else TOKEN_OUTPUTS
    return names + (('confidence',) if score_head else ())


class TemplateGraph(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, template):
        return self.model.template_state(template)


class SearchGraph(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.names = output_names(model.cfg.head, model.cfg.score_head)

    def forward(self, z_tokens, search):
        out = self.model.track_from_state(z_tokens, search)
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
        z_tokens = model.template_state(template)
    template_path = out_dir / 'template.onnx'
    search_path = out_dir / 'search.onnx'
    # Written under names of this call's own, then moved in place: two processes exporting
    # the same model into one cache (two nodes started together) each finish with whole files.
    tmp_t, tmp_s = _temporary(out_dir, 'template'), _temporary(out_dir, 'search')
    try:
        _export(TemplateGraph(model), (template,), tmp_t, ['template'], ['z_tokens'], opset)
        _export(SearchGraph(model), (z_tokens, search), tmp_s, ['z_tokens', 'search'],
                output_names(model.cfg.head, model.cfg.score_head), opset)
        os.replace(tmp_t, template_path)
        os.replace(tmp_s, search_path)
    finally:
        for tmp in (tmp_t, tmp_s):
            tmp.unlink(missing_ok=True)
    return template_path, search_path


def _temporary(out_dir: pathlib.Path, name: str) -> pathlib.Path:
    """Return a new, empty file in ``out_dir`` for ``name``.onnx being written."""
    fd, path = tempfile.mkstemp(prefix=f'{name}.', suffix='.onnx.tmp', dir=out_dir)
    os.close(fd)
    return pathlib.Path(path)
