"""rosbag2 recordings: written here with rosbags, tracked offline into a new bag, evaluated."""

import pathlib
import re

import cv2
import numpy as np
import pytest

from track_core.boxes import iou_xywh
from track_core.data.bags import (COMPRESSED, DEFINITIONS, DETECTIONS, IMAGE, read_bag,
                                  read_detections, read_images, typestore)
from track_core.data.sequences import DataError
from track_core.data.synthetic import moving_object_sequence
from track_core.eval.bag import detections_message, main, track_bag

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / 'models' / 'default.safetensors'
START = 1_700_000_000 * 10 ** 9


def write_bag(path, frames, boxes, compressed=False, storage='sqlite3', every=1):
    """Write a recording: images at 30 Hz, true boxes, a detector's 'person' every frame."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    store = typestore()
    t = store.types
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    kind = COMPRESSED if compressed else IMAGE
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        images = writer.add_connection('/camera/image', kind, typestore=store)
        truth = writer.add_connection('/truth', DETECTIONS, typestore=store)
        dets = writer.add_connection('/detector', DETECTIONS, typestore=store)
        for i, (rgb, box) in enumerate(zip(frames, boxes)):
            stamp = START + i * 33_333_333
            sec, ns = divmod(stamp, 10 ** 9)
            header = t['std_msgs/msg/Header'](
                stamp=t['builtin_interfaces/msg/Time'](sec=sec, nanosec=ns), frame_id='cam')
            if compressed:
                data = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1]
                msg = t[kind](header=header, format='jpeg', data=data.astype(np.uint8))
            else:
                msg = t[kind](header=header, height=rgb.shape[0], width=rgb.shape[1],
                              encoding='rgb8', is_bigendian=0, step=rgb.shape[1] * 3,
                              data=rgb.reshape(-1).copy())
            log = stamp + 5_000_000            # logged a little after capture
            writer.write(images, log, store.serialize_cdr(msg, kind))
            result = _result(box)
            writer.write(truth, log, store.serialize_cdr(
                detections_message(store, header, 'truth', result, 'person'), DETECTIONS))
            if i % every == 0:
                writer.write(dets, log, store.serialize_cdr(
                    detections_message(store, header, 'p7', result, 'person'), DETECTIONS))


def _result(box):
    from track_core.types import TrackResult, TrackState
    return TrackResult(tuple(float(v) for v in box), 0.9, TrackState.TRACKING)


@pytest.fixture(scope='module')
def scene():
    return moving_object_sequence(40, size=(240, 320), box_size=(40, 30), speed=3.0, seed=2)


@pytest.mark.parametrize('compressed, storage', [(False, 'sqlite3'), (True, 'mcap')])
def test_a_bag_is_tracked_offline_into_a_bag_stamped_like_its_images(
        tmp_path, scene, compressed, storage):
    frames, boxes = scene
    bag = tmp_path / 'recording'
    write_bag(bag, frames, boxes, compressed, storage)
    seq = read_bag(bag, '/camera/image', '/truth')
    assert len(seq) == 40 and seq.frame_ids[0] == 'cam'
    assert np.allclose(seq.boxes, boxes, atol=1e-6)
    if not compressed:
        assert np.array_equal(seq.frame(5), frames[5])       # lossless, decoded on request
    out = tmp_path / 'tracked'
    figures = track_bag(bag, '/camera/image', out, box=boxes[0], reference_topic='/truth',
                        with_images=True, storage=storage, progress=False)
    assert figures['frames'] == 40 and figures['evaluation']['auc'] > 0.6, figures
    assert figures['times_real_time'] is not None
    # the new bag: a detection and a state for every image, with the image's stamp and frame
    found = read_detections(out, '/track_node/detections')
    assert sorted(found) == seq.stamps
    hits = [iou_xywh(np.array(_box(found[s])), np.array(b))[0]
            for s, b in zip(seq.stamps[1:], boxes[1:]) if found[s].detections]
    assert len(hits) >= 35 and np.median(hits) > 0.6
    assert all(m.header.frame_id == 'cam' for m in found.values())
    assert len(read_images(out, '/camera/image')) == 40         # --with-images
    from rosbags.highlevel import AnyReader
    with AnyReader([out], default_typestore=typestore()) as reader:
        states = [reader.deserialize(raw, c.msgtype) for c, _, raw in
                  reader.messages([c for c in reader.connections
                                   if c.topic == '/track_node/state'])]
        logs = sorted(t for c, t, _ in reader.messages(
            [c for c in reader.connections if c.topic == '/track_node/detections']))
    assert len(states) == 40 and states[10].targets[0].state in (1, 3)
    assert logs == sorted(s + 5_000_000 for s in seq.stamps)      # logged as the images


def _box(msg):
    b = msg.detections[0].bbox
    return (b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2,
            b.size_x, b.size_y)


def test_the_target_can_come_from_a_detections_topic_of_the_bag(tmp_path, scene):
    frames, boxes = scene
    bag = tmp_path / 'recording'
    write_bag(bag, frames, boxes, every=7)
    out = tmp_path / 'tracked'
    figures = track_bag(bag, '/camera/image', out, target_topic='/detector',
                        target_class='person', progress=False)
    assert figures['start_frame'] == 0 and np.allclose(figures['box'], boxes[0])
    with pytest.raises(ValueError, match='no detection'):
        track_bag(bag, '/camera/image', tmp_path / 'other', target_topic='/detector',
                  target_class='dog', progress=False)


def test_the_command_refuses_what_it_cannot_use_with_the_reason(tmp_path, scene, capsys):
    frames, boxes = scene
    bag = tmp_path / 'recording'
    write_bag(bag, frames[:5], boxes[:5])
    assert main([str(bag), '--image-topic', '/nope', '--box', '1,2,30,30',
                 '--out', str(tmp_path / 'a')]) == 2
    assert "no topic '/nope'" in capsys.readouterr().err
    assert main([str(bag), '--image-topic', '/truth', '--box', '1,2,30,30',
                 '--out', str(tmp_path / 'b')]) == 2
    assert 'not sensor_msgs/msg/Image' in capsys.readouterr().err
    assert main([str(tmp_path), '--image-topic', '/camera/image', '--box', '1,2,30,30',
                 '--out', str(tmp_path / 'c')]) == 2
    assert 'not a readable rosbag2' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(bag), '--image-topic', '/camera/image', '--box', '1,2', '--out', 'x'])
    with pytest.raises(DataError):
        read_bag(bag, '/camera/image', '/nothing')


def _fields(text):
    lines = [re.sub(r'\s+', ' ', line.split('#')[0]).strip() for line in text.splitlines()]
    return [line for line in lines if line]


@pytest.mark.parametrize('name', sorted(DEFINITIONS))
def test_the_bag_types_are_the_packages_message_definitions(name):
    package, _, msg = name.split('/')
    folder = {'vision_msgs': ROOT / 'ros2_ws' / 'third_party' / 'vision_msgs' / 'msg',
              'track_interfaces': ROOT / 'ros2_ws' / 'src' / 'track_interfaces' / 'msg'}
    text = (folder[package] / f'{msg}.msg').read_text()
    strip = re.compile(r'\b\w+_msgs/|\btrack_interfaces/')
    assert [strip.sub('', f) for f in _fields(text)] == \
        [strip.sub('', f) for f in _fields(DEFINITIONS[name])]
