import pytest
import torch

from track_core.errors import CheckpointError
from track_core.importers.ostrack import import_ostrack
from track_core.net import create_model


def to_ostrack_names(model):
    """Our state dict under OSTrack's key names, as in its released .pth.tar files."""
    out = {}
    for key, value in model.state_dict().items():
        if key.startswith('stem.'):
            out['backbone.patch_embed.' + key[len('stem.'):]] = value
        elif key.startswith('box_head.'):
            out[key] = value
        else:
            out['backbone.' + key] = value
    dim = model.cfg.embed_dim
    out['backbone.cls_token'] = torch.zeros(1, 1, dim)          # kept by OSTrack, unused
    out['backbone.pos_embed'] = torch.zeros(1, 197, dim)
    return out


def test_ostrack_key_names_and_shapes_for_vitb():
    keys = {k: tuple(v.shape) for k, v in to_ostrack_names(create_model('ostrack_vitb_256'))
            .items()}
    assert keys['backbone.patch_embed.proj.weight'] == (768, 3, 16, 16)
    assert keys['backbone.pos_embed_z'] == (1, 64, 768)
    assert keys['backbone.pos_embed_x'] == (1, 256, 768)
    assert keys['backbone.blocks.11.attn.qkv.weight'] == (2304, 768)
    assert keys['backbone.blocks.11.mlp.fc1.weight'] == (3072, 768)
    assert keys['box_head.conv1_ctr.0.weight'] == (256, 768, 3, 3)
    assert keys['box_head.conv1_ctr.1.running_mean'] == (256,)
    assert keys['box_head.conv5_size.weight'] == (2, 32, 1, 1)
    assert keys['box_head.conv5_offset.weight'] == (2, 32, 1, 1)


def test_import_round_trip(tmp_path):
    source = create_model('tiny').eval()
    path = tmp_path / 'OSTrack_ep0300.pth.tar'
    torch.save({'net': to_ostrack_names(source), 'epoch': 300}, path)
    imported = import_ostrack(path, variant='tiny')
    z, x = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(source(z, x)['score_map'], imported(z, x)['score_map'])


def test_unmatched_keys_are_listed(tmp_path):
    state = to_ostrack_names(create_model('tiny'))
    state['backbone.extra_thing.weight'] = torch.zeros(3)
    del state['box_head.conv5_ctr.bias']
    path = tmp_path / 'bad.pth.tar'
    torch.save({'net': state}, path)
    with pytest.raises(CheckpointError) as info:
        import_ostrack(path, variant='tiny')
    text = str(info.value)
    assert 'extra_thing.weight' in text and 'box_head.conv5_ctr.bias' in text


def test_wrong_geometry_is_a_shape_mismatch(tmp_path):
    state = to_ostrack_names(create_model('tiny', embed_dim=64, num_heads=2))
    path = tmp_path / 'wide.pth.tar'
    torch.save({'net': state}, path)
    with pytest.raises(CheckpointError, match='shape mismatch'):
        import_ostrack(path, variant='tiny')
