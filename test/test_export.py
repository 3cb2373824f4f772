import onnx
import pytest

from track_core.checkpoint import save_checkpoint
from track_core.export.onnx import export_onnx, parity
from track_core.net import create_model
from track_core.runtime import load_tracker

pytestmark = pytest.mark.export
TOLERANCE = 1e-4   # largest absolute difference allowed between ONNX Runtime and PyTorch


@pytest.mark.parametrize('name', ['tiny', 'tiny_token', 'tiny_mnv2'])
def test_onnx_matches_pytorch(name, tmp_path):
    model = create_model(name).eval()
    paths = export_onnx(model, tmp_path)
    diffs = parity(model, *paths)
    assert max(diffs.values()) < TOLERANCE, diffs


def test_two_exports_of_one_model_into_one_cache_both_finish(tmp_path, monkeypatch):
    # Two nodes started together export the same model into the same cache directory. Played
    # deterministically: a second export runs whole while the first is between its graphs.
    from track_core.net import onnx_graphs
    model = create_model('tiny').eval()
    write = onnx_graphs._export
    calls = []

    def interleaved(module, args, path, *rest):
        write(module, args, path, *rest)
        calls.append(path)
        if len(calls) == 1:                     # the first export, its template written
            onnx_graphs.export_onnx(model, tmp_path)
    monkeypatch.setattr(onnx_graphs, '_export', interleaved)
    paths = onnx_graphs.export_onnx(model, tmp_path)
    assert max(parity(model, *paths).values()) < TOLERANCE
    assert sorted(p.name for p in tmp_path.iterdir()) == ['search.onnx', 'template.onnx']


def test_graphs_are_static_and_opset_17(tmp_path):
    model = create_model('tiny').eval()
    for path in export_onnx(model, tmp_path, batch=2):
        graph = onnx.load(str(path))
        assert max(o.version for o in graph.opset_import if o.domain in ('', 'ai.onnx')) >= 17
        for value in list(graph.graph.input) + list(graph.graph.output):
            dims = value.type.tensor_type.shape.dim
            assert all(d.HasField('dim_value') for d in dims), (path.name, value.name)
        ops = {n.op_type for n in graph.graph.node}
        assert not ops & {'Loop', 'If'}, ops


def test_onnx_matches_the_masked_network_with_a_cached_template(tmp_path):
    """The asymmetric default layout: the graphs run the search side alone, same outputs."""
    import dataclasses
    import pathlib
    import onnxruntime as ort
    import torch
    from track_core.checkpoint import read_checkpoint
    from track_core.net.onnx_graphs import example_inputs
    shipped = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'
    cfg, _, state, _ = read_checkpoint(shipped)
    model = create_model(dataclasses.replace(cfg, attention='asymmetric'))
    model.load_state_dict(state)
    model.eval()
    template_path, search_path = export_onnx(model, tmp_path)
    z, x = example_inputs(model.cfg)
    with torch.no_grad():
        ref = model(z, x)
    state = ort.InferenceSession(str(template_path)).run(None, {'template': z.numpy()})[0]
    assert state.shape[-1] == model.cfg.embed_dim * (1 + 2 * model.cfg.depth)
    search = ort.InferenceSession(str(search_path))
    names = [o.name for o in search.get_outputs()]
    out = dict(zip(names, search.run(None, {'z_tokens': state, 'search': x.numpy()})))
    for name in names:
        diff = abs(out[name] - ref[name].numpy()).max()
        assert diff < TOLERANCE * 10, (name, diff)


@pytest.mark.parametrize('name', ['tiny', 'tiny_token'])
def test_onnx_backend_tracks_like_torch(name, tmp_path, make_frame):
    path = save_checkpoint(tmp_path / f'{name}.safetensors', create_model(name))
    frames = [make_frame() for _ in range(4)]
    boxes = [(150, 100, 30, 40), (20, 30, 40, 30), (250, 170, 40, 40)]
    runs = {}
    for backend in ('torch', 'onnx'):
        tracker = load_tracker(path, device='cpu', backend=backend)
        ids = [tracker.add_target(frames[0], b) for b in boxes]   # 3 targets, batch-1 graphs
        runs[backend] = [[tracker.track_all(f)[i] for i in ids] for f in frames[1:]]
    for frame_t, frame_o in zip(runs['torch'], runs['onnx']):
        for rt, ro in zip(frame_t, frame_o):
            assert ro.box == pytest.approx(rt.box, abs=1e-2)
            assert ro.score == pytest.approx(rt.score, abs=1e-4)


def test_export_cli(tmp_path, capsys):
    from track_core.export.cli import main
    path = save_checkpoint(tmp_path / 'm.safetensors', create_model('tiny'))
    assert main([str(path), '--out', str(tmp_path / 'out'), '--check']) == 0
    assert (tmp_path / 'out' / 'search.onnx').is_file()
    assert 'parity' in capsys.readouterr().out
    assert main([str(tmp_path / 'missing.safetensors'), '--out', str(tmp_path / 'o')]) == 2
    assert 'model file not found' in capsys.readouterr().err
