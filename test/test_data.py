import json

import cv2
import numpy as np
import pytest
import torch

from track_core.data.sampler import PairDataset, SamplingConfig, SequenceSource, StillSource
from track_core.data.sequences import (DataError, find_sequences, read_boxes, with_cut_away,
                                       with_leave_and_return)
from track_core.data.stills import read_boxes_csv, read_coco_json
from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
from track_core.net import PreprocessConfig, variant_config


def _frames(folder, count, name=lambda i: f'{i:08d}.jpg'):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        cv2.imwrite(str(folder / name(i)), np.full((40, 60, 3), i * 20, np.uint8))


def test_box_file_formats(tmp_path):
    path = tmp_path / 'gt.txt'
    path.write_text('1,2,3,4\n5\t6\t7\t8\nNaN,NaN,NaN,NaN\n'
                    '10,0,20,10,10,20,0,10\n\n')
    boxes = read_boxes(path)
    assert boxes[0].tolist() == [1, 2, 3, 4] and boxes[1].tolist() == [5, 6, 7, 8]
    assert np.isnan(boxes[2]).all()
    assert boxes[3].tolist() == [0, 0, 20, 20]          # polygon -> its bounding box


@pytest.mark.parametrize('text, words', [('1,2,3\n', 'gt.txt:1: expected 4'),
                                         ('1,2,3,4\n1,x,3,4\n', 'gt.txt:2: not numbers'),
                                         ('', 'no boxes')])
def test_malformed_box_file_names_file_and_line(tmp_path, text, words):
    path = tmp_path / 'gt.txt'
    path.write_text(text)
    with pytest.raises(DataError, match=words):
        read_boxes(path)


def test_uniform_layout_and_absent_rows(tmp_path):
    frames, boxes = moving_object_sequence(6, seed=3)
    boxes[2] = np.nan
    write_uniform_sequence(tmp_path, 'seq_a', frames, boxes)
    (seqs,) = find_sequences(tmp_path)
    assert seqs.name == 'seq_a' and len(seqs) == 6
    assert seqs.visible.tolist() == [True, True, False, True, True, True]
    assert seqs.frame(0).shape == (240, 320, 3)


def test_got10k_layout(tmp_path):
    seq = tmp_path / 'GOT-10k_Train_000001'
    _frames(seq, 3)
    (seq / 'groundtruth.txt').write_text('1,1,5,5\n2,2,5,5\n3,3,5,5\n')
    (seq / 'absence.label').write_text('0\n1\n0\n')
    (s,) = find_sequences(tmp_path)
    assert s.visible.tolist() == [True, False, True]


def test_lasot_layout(tmp_path):
    seq = tmp_path / 'airplane' / 'airplane-1'
    _frames(seq / 'img', 4)
    (seq / 'groundtruth.txt').write_text('1,1,5,5\n' * 4)
    (seq / 'full_occlusion.txt').write_text('0,0,1,0')
    (seq / 'out_of_view.txt').write_text('0,0,0,1')
    (s,) = find_sequences(tmp_path)
    assert s.name == 'airplane-1' and s.visible.tolist() == [True, True, False, False]


def test_otb_layout(tmp_path):
    seq = tmp_path / 'Basketball'
    _frames(seq / 'img', 2, name=lambda i: f'{i:04d}.jpg')
    (seq / 'groundtruth_rect.txt').write_text('1 2 3 4\n5 6 7 8\n')
    (s,) = find_sequences(tmp_path)
    assert s.boxes[1].tolist() == [5, 6, 7, 8]


def test_trackingnet_layout(tmp_path):
    chunk = tmp_path / 'TRAIN_0'
    _frames(chunk / 'frames' / 'abc', 3, name=lambda i: f'{i - 1}.jpg')
    (chunk / 'anno').mkdir()
    (chunk / 'anno' / 'abc.txt').write_text('1,1,5,5\n2,2,5,5\n3,3,5,5\n')
    (s,) = find_sequences(tmp_path)
    assert s.name == 'abc' and [p.name for p in s.frames] == ['0.jpg', '1.jpg', '2.jpg']


def test_video_folder_layout(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / 'clip.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10,
                             (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    (tmp_path / 'clip.txt').write_text('1,1,10,10\n' * 5)
    (s,) = find_sequences(tmp_path)
    assert s.name == 'clip' and s.frame(4).shape == (48, 64, 3)


def test_missing_frames_are_reported(tmp_path):
    seq = tmp_path / 'short' / 'img'
    _frames(seq, 2)
    (tmp_path / 'short' / 'groundtruth.txt').write_text('1,1,5,5\n' * 3)
    with pytest.raises(DataError, match='3 boxes but only 2 frames'):
        find_sequences(tmp_path)
    skipped = []
    assert find_sequences(tmp_path, on_skip=skipped.append) == []
    assert 'only 2 frames' in skipped[0]


def test_cut_away_appends_another_scene_without_the_target(tmp_path):
    frames, boxes = moving_object_sequence(6, size=(120, 160), seed=1)
    write_uniform_sequence(tmp_path, 'a', frames, boxes)
    others, _ = moving_object_sequence(3, size=(90, 200), seed=2)
    write_uniform_sequence(tmp_path, 'b', others, moving_object_sequence(3, seed=2)[1])
    a, b = find_sequences(tmp_path)
    cut = with_cut_away(a, b, 5)
    assert cut.name == 'a' and len(cut) == 11
    np.testing.assert_array_equal(cut.boxes[:6], a.boxes)
    assert np.isnan(cut.boxes[6:]).all() and not cut.visible[6:].any()
    assert cut.visible[:6].all()
    np.testing.assert_array_equal(cut.frame(2), a.frame(2))
    for k in (6, 9):                  # b's frames from its start, repeated, at a's frame size
        image = cut.frame(k)
        assert image.shape == a.frame(0).shape
        expected = cv2.resize(b.frame((k - 6) % 3), (160, 120), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(image, expected)
    assert not np.array_equal(cut.frame(6), cut.frame(5))
    with pytest.raises(ValueError, match='another sequence'):
        with_cut_away(a, a, 3)
    with pytest.raises(ValueError, match='>= 0'):
        with_cut_away(a, b, -1)


@pytest.mark.parametrize('skip', [0, 3])
def test_leave_and_return_puts_another_scene_inside_and_the_target_back(tmp_path, skip):
    frames, boxes = moving_object_sequence(12, size=(120, 160), seed=1)
    write_uniform_sequence(tmp_path, 'a', frames, boxes)
    others, _ = moving_object_sequence(3, size=(90, 200), seed=2)
    write_uniform_sequence(tmp_path, 'b', others, moving_object_sequence(3, seed=2)[1])
    a, b = find_sequences(tmp_path)
    spliced = with_leave_and_return(a, b, 4, 5, skip)
    assert len(spliced) == 12 + 5 - skip
    np.testing.assert_array_equal(spliced.boxes[:4], a.boxes[:4])
    assert np.isnan(spliced.boxes[4:9]).all() and not spliced.visible[4:9].any()
    np.testing.assert_array_equal(spliced.boxes[9:], a.boxes[4 + skip:])   # back, moved on
    np.testing.assert_array_equal(spliced.frame(9), a.frame(4 + skip))
    expected = cv2.resize(b.frame(1), (160, 120), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(spliced.frame(5), expected)
    with pytest.raises(ValueError, match='leave at'):
        with_leave_and_return(a, b, 0, 5)
    with pytest.raises(ValueError, match="another sequence's frames"):
        with_leave_and_return(a, a, 4, 5)


def test_stills_csv_and_coco_json(tmp_path):
    (tmp_path / 'images').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.jpg'), np.zeros((50, 50, 3), np.uint8))
    (tmp_path / 'boxes.csv').write_text('image,x,y,w,h,label\na.jpg,1,2,30,20,cup\n'
                                        'a.jpg,1,2,3,2,tiny\n')
    (box,) = read_boxes_csv(tmp_path)
    assert box.label == 'cup' and box.box.tolist() == [1, 2, 30, 20]
    (tmp_path / 'bad.csv').write_text('')
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps({'images': [{'id': 7, 'file_name': 'a.jpg'}],
                               'categories': [{'id': 1, 'name': 'cup'}],
                               'annotations': [
                                   {'image_id': 7, 'bbox': [1, 2, 30, 20], 'category_id': 1},
                                   {'image_id': 7, 'bbox': [0, 0, 40, 40], 'iscrowd': 1}]}))
    (coco,) = read_coco_json(ann, tmp_path / 'images')
    assert coco.label == 'cup' and coco.image.name == 'a.jpg'
    ann.write_text('{"images": []}')
    with pytest.raises(DataError, match='not COCO annotations'):
        read_coco_json(ann, tmp_path)


@pytest.fixture
def synthetic_root(tmp_path):
    for k in range(3):
        frames, boxes = moving_object_sequence(12, seed=k)
        write_uniform_sequence(tmp_path / 'sot', f'syn{k}', frames, boxes)
    return tmp_path / 'sot'


def test_pairs_are_deterministic_and_box_is_the_target(synthetic_root):
    cfg = variant_config('tiny')
    source = SequenceSource(find_sequences(synthetic_root))
    ds = PairDataset([source], None, cfg, samples_per_epoch=8, seed=5,
                     sampling=SamplingConfig(flip_prob=0.0, brightness=0.0,
                                             grayscale_prob=0.0))
    a, b = ds[3], ds[3]
    assert torch.equal(a['search'], b['search']) and torch.equal(a['box'], b['box'])
    assert a['template'].shape == (3, 32, 32) and a['search'].shape == (3, 64, 64)
    ds.set_epoch(1)
    assert not torch.equal(ds[3]['search'], a['search'])
    assert ((a['box'] > 0) & (a['box'] < 1)).all()


def test_unreadable_frames_are_counted_not_fatal(synthetic_root, tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'boxes.csv').write_text('image,x,y,w,h\nmissing.jpg,1,1,30,30\n')
    cfg = variant_config('tiny')
    ds = PairDataset([SequenceSource(find_sequences(synthetic_root)),
                      StillSource(read_boxes_csv(tmp_path))], [1, 1], cfg,
                     samples_per_epoch=16)
    items = [ds[i] for i in range(16)]
    assert len(items) == 16
    assert sum(ds.skipped.values()) > 0
    assert 'missing.jpg' in next(iter(ds.skipped))


def test_zoom_jitter_scales_both_sides_together(synthetic_root):
    source = SequenceSource(find_sequences(synthetic_root))
    ds = PairDataset([source], None, variant_config('tiny'), samples_per_epoch=4,
                     sampling=SamplingConfig(zoom_jitter=0.5))
    rng = np.random.default_rng(0)
    boxes = np.array([ds._jittered(rng, (10.0, 20.0, 40.0, 10.0), 0.0, 0.0, 0.0, 0.5)
                      for _ in range(400)])
    assert boxes[:, 2] / boxes[:, 3] == pytest.approx(4.0)             # aspect kept
    assert np.log(boxes[:, 2] / 40.0).std() == pytest.approx(0.5, abs=0.06)
    assert boxes[:, :2] == pytest.approx(np.array([[30.0, 25.0]] * 400))   # centre kept


def test_small_jpeg_pairs_show_the_target_small_and_compressed(synthetic_root):
    from track_core.data.sampler import _small_jpeg
    rng = np.random.default_rng(0)
    crop = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), np.uint8), (0, 0), 1.5)
    same = _small_jpeg(crop, 2.0, 95)                   # already small: compressed only
    small = _small_jpeg(crop, 0.25, 95)                 # a quarter of the resolution
    assert same.shape == small.shape == crop.shape and small.dtype == np.uint8
    err = [float(np.abs(x.astype(int) - crop).mean()) for x in (same, small)]
    assert 0 < err[0] < err[1], err
    assert np.abs(_small_jpeg(crop, 2.0, 20).astype(int) - crop).mean() > err[0]
    # in the sampler: same pair, same box, the crops changed on every pair when prob = 1
    kw = {'samples_per_epoch': 4, 'seed': 3}
    off = SamplingConfig(flip_prob=0.0, brightness=0.0, grayscale_prob=0.0)
    on = SamplingConfig(flip_prob=0.0, brightness=0.0, grayscale_prob=0.0, small_jpeg_prob=1.0)
    source = SequenceSource(find_sequences(synthetic_root))
    plain = PairDataset([source], None, variant_config('tiny'), sampling=off, **kw)
    jpeg = PairDataset([source], None, variant_config('tiny'), sampling=on, **kw)
    for i in range(4):
        a, b = plain[i], jpeg[i]
        assert torch.equal(a['box'], b['box'])
        assert not torch.equal(a['search'], b['search'])
        assert not torch.equal(a['template'], b['template'])


@pytest.mark.parametrize('pre', [
    PreprocessConfig(),                                                   # ImageNet, RGB
    PreprocessConfig(channel_order='bgr'),                                # ImageNet, BGR
    PreprocessConfig(mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3, channel_order='bgr'),  # 0..255
    PreprocessConfig(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), template_factor=2.5),
], ids=['rgb', 'bgr', 'bgr-0-255', 'rgb-half'])
def test_training_crops_equal_what_the_runtime_feeds(pre):
    # Without jitter or augmentation the template a trainer sees is the runtime's template
    # input for the same box, tensor for tensor, in every channel order and normalisation.
    from track_core.net import create_model
    from track_core.runtime import Tracker, TrackerConfig
    from track_core.runtime.backends import TorchBackend
    from track_core.runtime.preprocess import crop_side, crop_square
    model = create_model('tiny')
    image = np.zeros((120, 160, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 90, 10             # R, G, B differ
    image[40:80, 60:110] = np.random.default_rng(0).integers(0, 255, (40, 50, 3))
    box = (60.0, 40.0, 50.0, 40.0)
    still = SamplingConfig(scale_jitter=0.0, center_jitter=0.0, grayscale_prob=0.0,
                           flip_prob=0.0, brightness=0.0)
    ds = PairDataset([object()], None, model.cfg, pre, still, samples_per_epoch=1)
    item = ds.make_item(np.random.default_rng(0), image, box, image, box)
    tracker = Tracker(TorchBackend(model, device='cpu'), model.cfg, pre, TrackerConfig())
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    crop = crop_square(image, cx, cy, crop_side(box[2], box[3], pre.template_factor),
                       model.cfg.template_size)
    fed = tracker.normalize([crop])[0]
    assert np.array_equal(item['template'].numpy(), fed)
    first = 2 if pre.channel_order == 'bgr' else 0            # which of R, G, B comes first
    corner = item['template'].numpy()[:, 0, 0]
    expect = (image[0, 0, first] / 255.0 - pre.mean[0]) / pre.std[0]
    assert corner[0] == pytest.approx(expect, rel=1e-5)


def _green_still(tmp_path):
    """Write a still whose only box is a pure green 40 x 20 object (an occluder to cut)."""
    image = np.full((100, 100, 3), 128, np.uint8)
    image[40:60, 30:70] = (0, 255, 0)
    (tmp_path / 'images').mkdir(exist_ok=True)
    path = tmp_path / 'images' / 'green.png'
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (tmp_path / 'boxes.csv').write_text('image,x,y,w,h,label\ngreen.png,30,40,40,20,sign\n')
    return StillSource(read_boxes_csv(tmp_path))


def test_an_occluder_stays_where_it_was_over_part_of_the_template_box(tmp_path):
    sampling = SamplingConfig(occluder_prob=1.0, occluder_area=(0.2, 0.2))
    ds = PairDataset([_green_still(tmp_path)], None, variant_config('tiny'), sampling=sampling,
                     samples_per_epoch=4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        first = np.full((120, 160, 3), 128, np.uint8)
        later = np.full((120, 160, 3), 90, np.uint8)
        box = np.array([40.0, 30.0, 60.0, 40.0])
        template, t_box, search, s_box = ds._occluded(rng, first, box, later, box + 30)
        assert t_box is box and s_box[0] == 70.0 and (first == 128).all()   # inputs kept
        green = (template == (0, 255, 0)).all(axis=2)
        ys, xs = np.nonzero(green)
        cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
        assert 70 - 0.35 * 60 - 1 <= cx <= 70 + 0.35 * 60 + 1, 'centred inside the box'
        assert 50 - 0.35 * 40 - 1 <= cy <= 50 + 0.35 * 40 + 1, 'centred inside the box'
        assert green.sum() == pytest.approx(0.2 * 60 * 40, rel=0.25)
        assert xs.max() - xs.min() + 1 <= 0.8 * 60 + 1 and ys.max() - ys.min() + 1 <= 0.8 * 40 + 1
        assert ((search == (0, 255, 0)).all(axis=2) == green).all()      # static: same pixels
        assert (search[~green] == 90).all()


def test_occluder_pairs_keep_their_label_and_need_stills(tmp_path, synthetic_root):
    cfg = variant_config('tiny')
    sequences = SequenceSource(find_sequences(synthetic_root))
    with pytest.raises(DataError, match='occluder_prob needs still images'):
        PairDataset([sequences], None, cfg, sampling=SamplingConfig(occluder_prob=0.5))
    off = SamplingConfig(flip_prob=0.0, brightness=0.0, grayscale_prob=0.0)
    on = SamplingConfig(flip_prob=0.0, brightness=0.0, grayscale_prob=0.0, occluder_prob=1.0)
    kw = {'samples_per_epoch': 6, 'seed': 2}
    stills = _green_still(tmp_path)
    plain = PairDataset([sequences, stills], [1, 0], cfg, sampling=off, **kw)
    occluded = PairDataset([sequences, stills], [1, 0], cfg, sampling=on, **kw)
    green = occluded.normalize([np.full((1, 1, 3), (0, 255, 0), np.uint8)])[0][:, 0, 0]
    for i in range(6):
        a, b = plain[i], occluded[i]
        assert float(b['negative']) == 0.0 and float(b['has_box']) == 1.0
        template = b['template'].numpy()
        assert (np.abs(template - green[:, None, None]).max(0) < 0.05).any(), i
        assert not (np.abs(a['template'].numpy() - green[:, None, None]).max(0) < 0.05).any()
