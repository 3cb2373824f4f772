from dataclasses import dataclass, field
import math

import numpy as np
import pytest

from track_core.boxes import check_box, clip_box, iou_xywh
from track_core.config import ConfigError, from_dict, load_config, parse_overrides, to_dict


def test_iou_cases():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
    assert iou_xywh(a, b) == pytest.approx([1.0, 50 / 150, 0.0])


def test_clip_box_keeps_inside_and_min_size():
    assert clip_box([-5, -5, 20, 20], 100, 50).tolist() == [0, 0, 15, 15]
    assert clip_box([95, 45, 20, 20], 100, 50).tolist() == [95, 45, 5, 5]
    x, y, w, h = clip_box([120, 10, 5, 5], 100, 50)
    assert x + w <= 100 and w >= 1


@pytest.mark.parametrize('box, words', [
    ((1, 2, 3), 'four numbers'),
    (('a', 2, 3, 4), 'four numbers'),
    ((1, 2, math.nan, 4), 'NaN'),
    ((1, 2, 0, 4), 'positive'),
    ((1, 2, 5, -4), 'positive'),
    ((500, 2, 5, 4), 'outside'),
    ((-20, 2, 5, 4), 'outside'),
])
def test_check_box_rejects_with_reason(box, words):
    with pytest.raises(ValueError, match=words):
        check_box(box, 100, 50)


@dataclass
class Inner:
    rate: float = 0.1
    steps: int = 3


@dataclass
class Outer:
    name: str = 'x'
    inner: Inner = field(default_factory=Inner)
    sizes: tuple = (1, 2)


def test_config_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match='unknown key.*inner.*bogus'):
        from_dict(Outer, {'inner': {'bogus': 1}})


def test_config_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match='inner.steps: expected an integer'):
        from_dict(Outer, {'inner': {'steps': 'three'}})


def test_config_layers_file_then_overrides(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('name: from_file\ninner:\n  rate: 0.5\n')
    cfg = load_config(Outer, path, ['inner.steps=7', 'sizes=[3, 4]'])
    assert cfg == Outer(name='from_file', inner=Inner(rate=0.5, steps=7), sizes=(3, 4))
    assert to_dict(cfg)['sizes'] == [3, 4]


def test_override_syntax_error():
    with pytest.raises(ConfigError, match='key=value'):
        parse_overrides(['justakey'])
