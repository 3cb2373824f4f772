"""Import VitTrack's published ONNX graph (``vitTracker.onnx``, OpenCV Model Zoo, Apache-2.0).

The graph is read as data (its initializers and the nodes around them; nothing in it is run)
into this project's ``OneStreamTracker`` with VitTrack's layout (``variant 'vittrack'``,
``track_core.net.vittrack``):

- named initializers keep their names (``pos_embed_*``, ``blocks.N.norm*``, the blocks'
  biases, ``norm.*``, ``box_head.conv5_*``);
- each block's weight matrices are MatMul initializers without a name of their own: a MatMul
  belongs to the linear layer whose named bias its output is added to, and its (in, out)
  matrix is that layer's weight transposed;
- the two conv stems are the convolution chains from the inputs ``template`` and ``search``;
  the head's towers are the chains that end in ``box_head.conv5_ctr`` / ``_size`` /
  ``_offset`` (their BatchNorm was folded into the convolutions before publication).

Widths, depth, heads, head channels and the LayerNorm epsilon are read from the graph; the
input convention (BGR channels, ImageNet mean / std in RGB's order, crops of 2x / 4x the
target's sqrt(w h)) is OpenCV's ``TrackerVit``, recorded in the checkpoint with the licence
notice.

    track-import vittrack ../shared/data/baselines/vittrack/vitTracker.onnx [OUT]
"""

import hashlib
import pathlib
from typing import Dict, List, Tuple

import numpy as np
import torch

from track_core.checkpoint import load_state_strict, save_checkpoint
from track_core.errors import CheckpointError
from track_core.net.config import PreprocessConfig, stem_preprocess
from track_core.net.network import OneStreamTracker
from track_core.net.variants import variant_config
from track_core.runtime.tracker import TrackerConfig

NOTICE = ('Weights derived from VitTrack (opencv/opencv_zoo, models/object_tracking_vittrack/'
          'vitTracker.onnx), Apache License 2.0; converted by track_core.')
INPUTS = {'template': (1, 3, 128, 128), 'search': (1, 3, 256, 256)}
# Graph outputs -> head branch: score (sigmoid), box size (sigmoid), sub-cell offset.
OUTPUTS = {'output1': 'ctr', 'output2': 'size', 'output3': 'offset'}
# OpenCV TrackerVit's decode: the score map times a Hann window, its peak's box as it is (no
# size smoothing or penalty). It keeps the last box while the windowed score is under 0.2;
# here the target is simply never declared LOST (measured against TrackerVit's boxes:
# docs/evaluation.md), so the imported model tracks the way TrackerVit does.
RUNTIME = TrackerConfig(lost_threshold=0.0, lost_frames=1, recover_threshold=0.0,
                        search_growth=1.0, max_search_scale=1.0, hann_window=True,
                        window_blend=0.0, size_penalty=0.0, size_smoothing=0.0,
                        size_by_confidence=False)


class _Graph:
    """The parts of an ONNX graph the import reads: initializers, producers, consumers."""

    def __init__(self, path: pathlib.Path):
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            raise CheckpointError('importing VitTrack needs the onnx package: pip install '
                                  '"track-core[export]"') from None
        if not path.is_file():
            raise CheckpointError(f'{path}: file not found')
        try:
            model = onnx.load(str(path))
        except Exception as exc:    # protobuf raises its own DecodeError types
            raise CheckpointError(f'{path}: not a readable ONNX file ({exc})') from None
        self.path = path
        graph = model.graph
        self.init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.nodes = list(graph.node)
        self.constants = {}
        for n in self.nodes:
            if n.op_type == 'Constant' and n.attribute:
                self.constants[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.producer = {out: n for n in self.nodes for out in n.output}
        self.consumers: Dict[str, list] = {}
        for n in self.nodes:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        self.inputs = {i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim)
                       for i in graph.input if i.name not in self.init}
        self.outputs = [o.name for o in graph.output]

    def fail(self, why: str):
        raise CheckpointError(f"{self.path}: not VitTrack's graph ({why})")

    def value(self, name: str):
        if name in self.init:
            return self.init[name]
        return self.constants.get(name)

    def only_consumer(self, name: str, op: str):
        found = [n for n in self.consumers.get(name, []) if n.op_type == op]
        return found[0] if len(found) == 1 else None

    def conv_weights(self, node) -> Tuple[np.ndarray, np.ndarray]:
        if node.op_type != 'Conv' or len(node.input) < 3:
            self.fail(f'expected a convolution with a bias, found {node.op_type}')
        return self.init[node.input[1]], self.init[node.input[2]]


def _stem(g: _Graph, start: str) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Return the convolutions from graph input ``start`` along Conv -> HardSwish -> Conv ... ."""
    convs, name = [], start
    while True:
        conv = g.only_consumer(name, 'Conv')
        if conv is None:
            break
        convs.append(g.conv_weights(conv))
        act = g.only_consumer(conv.output[0], 'HardSwish')
        if act is None:
            break
        name = act.output[0]
    if len(convs) != 4:
        g.fail(f"the {start} stem has {len(convs)} convolutions, VitTrack's has 4")
    return convs


def _tower(g: _Graph, branch: str, output: str) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Return the four 3x3 convolutions before ``box_head.conv5_<branch>`` (first to last).

    ``box_head.conv5_<branch>`` must lead to graph output ``output``.
    """
    key = f'box_head.conv5_{branch}.weight'
    last = [n for n in g.nodes if n.op_type == 'Conv' and len(n.input) > 1 and n.input[1] == key]
    if len(last) != 1:
        g.fail(f'no single convolution with {key}')
    if not _reaches(g, last[0].output[0], output):
        g.fail(f'box_head.conv5_{branch} does not lead to {output}')
    convs, node = [], last[0]
    for _ in range(4):
        relu = g.producer.get(node.input[0])
        conv = g.producer.get(relu.input[0]) if relu is not None and relu.op_type == 'Relu' \
            else None
        if conv is None:
            g.fail(f'the {branch} tower is not four Conv + ReLU layers')
        convs.append(g.conv_weights(conv))
        node = conv
    return convs[::-1]


def _reaches(g: _Graph, name: str, target: str, ops=('Sigmoid', 'Clip')) -> bool:
    """Say whether ``name`` flows to graph output ``target`` through ``ops`` only."""
    while name != target:
        nxt = [n for n in g.consumers.get(name, []) if n.op_type in ops]
        if len(nxt) != 1:
            return False
        name = nxt[0].output[0]
    return True


def _linear_weights(g: _Graph) -> Dict[str, np.ndarray]:
    """Return each block MatMul initializer as the torch weight of the layer its bias names."""
    weights = {}
    for n in g.nodes:
        if n.op_type != 'MatMul' or n.input[1] not in g.init:
            continue
        add = g.only_consumer(n.output[0], 'Add')
        bias = [x for x in (add.input if add is not None else ()) if x.endswith('.bias')]
        if len(bias) != 1:
            g.fail(f'MatMul {n.name or n.output[0]} has no named bias after it')
        weights[bias[0][:-len('.bias')] + '.weight'] = g.init[n.input[1]].T
    return weights


def _layer_norm_eps(g: _Graph) -> float:
    """Return the epsilon added to the variance in the (decomposed) LayerNorms."""
    found = set()
    for n in g.nodes:
        if n.op_type != 'Sqrt':
            continue
        add = g.producer.get(n.input[0])
        if add is None or add.op_type != 'Add':
            continue
        for x in add.input:
            v = g.value(x)
            if v is not None and np.size(v) == 1:
                found.add(float(f'{float(np.asarray(v).reshape(())):.6g}'))   # float32 1e-5
    if len(found) != 1:
        g.fail(f'LayerNorm epsilon not found or not unique ({sorted(found)})')
    return found.pop()


def _num_heads(g: _Graph, dim: int) -> int:
    """Return the heads from the reshape of the first qkv output, (B, N, 3, heads, dim / heads)."""
    for n in g.nodes:
        if n.op_type == 'Reshape':
            shape = g.value(n.input[1])
            if shape is not None and np.size(shape) == 5 and int(shape[2]) == 3:
                heads, head_dim = int(shape[3]), int(shape[4])
                if heads * head_dim != dim:
                    g.fail(f'qkv reshape {shape.tolist()} does not fit width {dim}')
                return heads
    g.fail('no qkv reshape found')


def import_vittrack(path) -> Tuple[OneStreamTracker, PreprocessConfig, Dict[str, object]]:
    """Build the VitTrack network from the ONNX file at ``path``.

    Returns (model, preprocessing, info with the source file's sha256 and the shapes read).
    Raises CheckpointError naming what does not match VitTrack's graph.
    """
    path = pathlib.Path(path)
    g = _Graph(path)
    for name, shape in INPUTS.items():
        if g.inputs.get(name) != shape:
            g.fail(f'input {name} is {g.inputs.get(name)}, expected {shape}')
    if sorted(g.outputs) != sorted(OUTPUTS):
        g.fail(f'outputs {g.outputs}, expected {sorted(OUTPUTS)}')
    if 'pos_embed_z' not in g.init or 'pos_embed_x' not in g.init:
        g.fail('no pos_embed_z / pos_embed_x')
    dim = int(g.init['pos_embed_z'].shape[-1])
    depth = len({k.split('.')[1] for k in g.init if k.startswith('blocks.')})
    stems = {'template': _stem(g, 'template'), 'search': _stem(g, 'search')}
    towers = {branch: _tower(g, branch, output) for output, branch in OUTPUTS.items()}
    cfg = variant_config('vittrack', embed_dim=dim, depth=depth,
                         num_heads=_num_heads(g, dim),
                         head_channels=int(towers['ctr'][0][0].shape[0]),
                         norm_eps=_layer_norm_eps(g))
    model = OneStreamTracker(cfg)
    state = {k: v for k, v in g.init.items() if k in model.state_dict()}
    state.update(_linear_weights(g))
    for which, convs in stems.items():
        for i, (w, b) in enumerate(convs):
            state[f'stem.{which}.{2 * i}.weight'], state[f'stem.{which}.{2 * i}.bias'] = w, b
    for branch, convs in towers.items():
        for i, (w, b) in enumerate(convs, start=1):
            state[f'box_head.conv{i}_{branch}.0.weight'] = w
            state[f'box_head.conv{i}_{branch}.0.bias'] = b
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32))
               for k, v in state.items()}
    load_state_strict(model, tensors, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    info = {'source': path.name, 'sha256': digest,
            'shapes': {k: getattr(cfg, k)
                       for k in ('embed_dim', 'depth', 'num_heads', 'head_channels', 'norm_eps')}}
    return model.eval(), stem_preprocess(cfg, PreprocessConfig()), info


def save_vittrack(model: OneStreamTracker, preprocess: PreprocessConfig, info, out
                  ) -> pathlib.Path:
    """Write the imported model as a track_core checkpoint with the notice and its settings."""
    from track_core.runtime.loader import with_runtime
    extra = with_runtime({'notice': NOTICE, 'imported': dict(info),
                          'command': 'track-import vittrack'}, RUNTIME)
    return save_checkpoint(out, model, preprocess, extra)
