"""track_node runs VitTrack imported by ``track-import vittrack`` (its two stems, center head).

The node takes the imported checkpoint through its ``model_path`` parameter like any other, on
both backends. With ../shared/data the published VitTrack is imported and must follow the
generated target; without it a network in VitTrack's layout with random weights is written the
same way (``save_vittrack``), which shows the node loads and runs the layout, not that it tracks.
"""

from graph import Harness, image_msg, scene, shared
import numpy as np
import pytest
from track_interfaces.srv import SetTarget

from track_core.boxes import iou_xywh
from track_core.checkpoint import read_extra
from track_core.net import create_model
from track_node.conversions import detection_to_xywh


def _published_vittrack():
    return shared('baselines', 'vittrack', 'vitTracker.onnx')


def _follow(h, frames, first_sec):
    """Select the target on frame 0, then play ``frames`` more: the IoU of each detection."""
    rgb, box = scene(0)
    first = image_msg(rgb, sec=first_sec)
    assert h.publish_until_processed(first)
    reply = h.call(h.set_target, SetTarget.Request(
        x=box[0], y=box[1], width=box[2], height=box[3], target_id='',
        stamp=first.header.stamp))
    assert reply.success, reply.message
    ious = []
    for i in range(1, frames + 1):
        rgb, box = scene(i)
        count = len(h.detections)
        h.pub.publish(image_msg(rgb, sec=first_sec + i))
        assert h.wait_for(lambda: len(h.detections) > count), f'no detections for frame {i}'
        (det,) = h.detections[-1].detections
        assert det.id == reply.target_id
        assert h.detections[-1].header.stamp.sec == first_sec + i
        ious.append(float(iou_xywh(np.array(detection_to_xywh(det)), np.array(box))[0]))
    return ious


def _run(model, backend, frames=10):
    h = Harness(model=model, backend=backend)
    try:
        assert h.wait_active(120), 'node did not activate'
        return _follow(h, frames, 300)
    finally:
        h.close()


@pytest.mark.parametrize('backend', ['torch', 'onnx'])
def test_the_node_runs_a_network_in_vittracks_layout(tmp_path, backend):
    from track_core.importers.vittrack import save_vittrack
    from track_core.net.config import PreprocessConfig, stem_preprocess
    model = create_model('vittrack').eval()        # random weights: it runs, not tracks
    path = save_vittrack(model, stem_preprocess(model.cfg, PreprocessConfig()),
                         {'source': 'random'}, tmp_path / 'vt.safetensors')
    assert read_extra(path)['runtime']['size_smoothing'] == 0.0       # TrackerVit's decode
    ious = _run(path, backend, frames=4)
    assert len(ious) == 4 and all(np.isfinite(ious))


@pytest.mark.data
def test_the_node_tracks_with_the_published_vittrack(tmp_path):
    from track_core.importers.vittrack import import_vittrack, save_vittrack
    model, pre, info = import_vittrack(_published_vittrack())
    path = save_vittrack(model, pre, info, tmp_path / 'vittrack.safetensors')
    ious = _run(path, 'onnx', frames=12)
    assert np.mean(ious[-5:]) > 0.5, ious
