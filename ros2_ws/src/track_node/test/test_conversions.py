"""Conversions on messages built directly: no node, no spinning."""

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from track_core.types import TrackResult, TrackState
from track_node.conversions import (compressed_to_rgb, CvBridgeConverter, detection_to_xywh,
                                    detections_msg, ENCODINGS, image_to_rgb, ImageError,
                                    make_converter, rgb_to_image_msg, state_msg)

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def make_image(encoding, pad=0, rgb=RGB):
    channels = ENCODINGS[encoding][0]
    if encoding == 'mono8':
        pixels = rgb[..., :1]
    else:
        order = {'rgb8': [0, 1, 2], 'bgr8': [2, 1, 0], 'rgba8': [0, 1, 2], 'bgra8': [2, 1, 0]}
        pixels = rgb[..., order[encoding]]
        if channels == 4:
            alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
            pixels = np.concatenate([pixels, alpha], axis=2)
    h, w = rgb.shape[:2]
    rows = pixels.reshape(h, w * channels)
    padded = np.concatenate([rows, np.full((h, pad), 77, np.uint8)], axis=1)
    msg = Image()
    msg.height, msg.width, msg.encoding = h, w, encoding
    msg.step = w * channels + pad
    msg.data = padded.tobytes()
    return msg


def expected(encoding):
    return np.repeat(RGB[..., :1], 3, axis=2) if encoding == 'mono8' else RGB


@pytest.mark.parametrize('encoding', list(ENCODINGS))
@pytest.mark.parametrize('pad', [0, 3])
def test_numpy_path_every_encoding_with_and_without_padding(encoding, pad):
    out = image_to_rgb(make_image(encoding, pad))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    assert np.array_equal(out, expected(encoding))


@pytest.mark.parametrize('encoding', list(ENCODINGS))
@pytest.mark.parametrize('pad', [0, 3])
def test_cv_bridge_and_numpy_agree(encoding, pad):
    try:
        bridge = CvBridgeConverter()
    except ImportError:
        pytest.skip('cv_bridge is not importable here')
    msg = make_image(encoding, pad)
    try:
        via_bridge = bridge(msg)
    except Exception as exc:  # noqa: BLE001 - a broken bridge is what the fallback is for
        pytest.xfail(f'cv_bridge cannot convert {encoding} (pad {pad}): {exc}; the node then '
                     'uses the NumPy path')
    assert np.array_equal(via_bridge, image_to_rgb(msg))


def test_make_converter_picks_a_working_path():
    convert, name = make_converter(prefer_cv_bridge=True)
    assert name in ('cv_bridge', 'numpy')
    msg = make_image('bgr8', pad=2)
    assert np.array_equal(convert(msg), RGB)
    convert, name = make_converter(prefer_cv_bridge=False)
    assert name == 'numpy'


@pytest.mark.parametrize('mutate, words', [
    (lambda m: setattr(m, 'encoding', '16UC1'), 'unsupported encoding'),
    (lambda m: setattr(m, 'data', bytes(m.data[:-10])), 'truncated'),
    (lambda m: setattr(m, 'step', 5), 'step 5 is smaller'),
    (lambda m: setattr(m, 'width', 0), 'empty image'),
])
def test_malformed_images_say_why(mutate, words):
    msg = make_image('rgb8')
    mutate(msg)
    with pytest.raises(ImageError, match=words):
        image_to_rgb(msg)


def test_compressed_round_trip():
    ok, jpg = cv2.imencode('.png', cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format='png', data=jpg.tobytes())
    assert np.array_equal(compressed_to_rgb(msg), RGB)
    with pytest.raises(ImageError, match='cannot decode safely'):
        compressed_to_rgb(CompressedImage(format='jpeg', data=b'not an image'))


def test_detections_carry_header_centre_size_id_and_score():
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 34
    results = {'3': TrackResult((10.0, 20.0, 30.0, 40.0), 0.75, TrackState.TRACKING),
               'b': TrackResult((0.0, 0.0, 5.0, 6.0), 0.1, TrackState.SEARCHING),
               'c': TrackResult((0.0, 0.0, 5.0, 6.0), 0.3, TrackState.UNSURE)}
    msg = detections_msg(header, results, 'person')
    assert msg.header.frame_id == 'cam' and msg.header.stamp.nanosec == 34
    assert len(msg.detections) == 1                        # the target seen only
    d = msg.detections[0]
    assert (d.id, d.bbox.center.position.x, d.bbox.center.position.y) == ('3', 25.0, 40.0)
    assert (d.bbox.size_x, d.bbox.size_y) == (30.0, 40.0)
    assert d.results[0].hypothesis.class_id == 'person'
    assert d.results[0].hypothesis.score == pytest.approx(0.75)
    assert detection_to_xywh(d) == (10.0, 20.0, 30.0, 40.0)
    assert d.header.stamp.sec == 12


def test_state_message():
    from track_interfaces.msg import TargetState
    results = {'1': TrackResult((1.0, 2.0, 3.0, 4.0), 0.2, TrackState.SEARCHING, 7)}
    msg = state_msg(Header(frame_id='f'), results, 12.5, 29.0, 3)
    assert msg.targets[0].state == TargetState.STATE_SEARCHING == TargetState.STATE_LOST
    assert msg.targets[0].frames_below_threshold == 7
    assert (msg.latency_ms, msg.fps, msg.dropped_frames) == (12.5, 29.0, 3)


def test_debug_image_message():
    msg = rgb_to_image_msg(RGB, Header(frame_id='x'))
    assert (msg.encoding, msg.step, msg.height, msg.width) == ('rgb8', 21, 5, 7)
    assert np.array_equal(image_to_rgb(msg), RGB)


@pytest.mark.parametrize('prefer_cv_bridge', [True, False])
@pytest.mark.parametrize('mutate, words', [
    (lambda m: (setattr(m, 'width', 0), setattr(m, 'height', 0)), 'empty image'),
    (lambda m: setattr(m, 'encoding', 'BGR8'), None),
    (lambda m: setattr(m, 'is_bigendian', 1), None),
    (lambda m: setattr(m, 'encoding', 'yuv422'), 'unsupported encoding'),
    (lambda m: setattr(m, 'width', 1_000_000), 'max_image_pixels'),
])
def test_the_decoder_turns_every_failure_into_a_reason(prefer_cv_bridge, mutate, words):
    from track_node.conversions import ImageDecoder
    decode = ImageDecoder(prefer_cv_bridge, max_pixels=1_000_000)
    msg = make_image('bgr8')
    mutate(msg)
    if words is None:                    # odd but valid: the same pixels as bgr8
        assert np.array_equal(decode(msg, False), RGB)
    else:
        with pytest.raises(ImageError, match=words):
            decode(msg, False)


def test_compressed_sizes_are_read_from_the_header_and_bombs_refused():
    from track_node.conversions import compressed_size
    big = np.zeros((9000, 12000), np.uint8)
    for ext in ('.png', '.jpg'):
        data = cv2.imencode(ext, big)[1].tobytes()
        assert len(data) < 2_000_000 and compressed_size(data) == (12000, 9000)
        msg = CompressedImage(format=ext[1:], data=data)
        with pytest.raises(ImageError, match='12000x9000 pixels is larger than max_image'):
            compressed_to_rgb(msg, max_pixels=16_777_216)
    assert compressed_size(b'GIF89a....') is None


@pytest.mark.parametrize('ext', ['.webp', '.tiff', '.bmp'])
def test_formats_that_cannot_be_sized_before_decoding_are_refused(ext):
    # a 4 KB WebP can decode to 12000x9000: whatever cannot be sized first is not decoded
    data = cv2.imencode(ext, np.zeros((90, 120, 3), np.uint8))[1].tobytes()
    with pytest.raises(ImageError, match='only PNG and JPEG are accepted'):
        compressed_to_rgb(CompressedImage(format=ext[1:], data=data), max_pixels=10 ** 9)


def test_a_jpeg_with_fill_bytes_is_sized_and_refused_when_too_large():
    from track_node.conversions import compressed_size
    data = cv2.imencode('.jpg', np.zeros((900, 1200), np.uint8))[1].tobytes()
    # one legal 0xFF fill byte before every marker after SOI
    filled = data[:2] + data[2:].replace(b'\xff\xdb', b'\xff\xff\xdb', 1).replace(
        b'\xff\xc0', b'\xff\xff\xc0', 1)
    assert filled != data and compressed_size(filled) == (1200, 900)
    assert compressed_to_rgb(CompressedImage(format='jpeg', data=filled)).shape == (900, 1200, 3)
    with pytest.raises(ImageError, match='1200x900 pixels is larger than max_image_pixels'):
        compressed_to_rgb(CompressedImage(format='jpeg', data=filled), max_pixels=100_000)
    assert compressed_size(data[:40]) is None                    # truncated: not sized


def test_the_package_caps_every_decoder_in_its_process(tmp_path):
    import subprocess
    import sys
    path = tmp_path / 'big.png'
    path.write_bytes(cv2.imencode('.png', np.zeros((12000, 12000), np.uint8))[1].tobytes())
    code = ('import track_node, cv2, numpy as np, sys\n'
            f'data = np.fromfile({str(path)!r}, np.uint8)\n'
            'try:\n    out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)\n'
            'except cv2.error:\n    out = None\n'
            'print(track_node.MAX_DECODED_PIXELS, out is None)')
    env = {k: v for k, v in __import__('os').environ.items()
           if k != 'OPENCV_IO_MAX_IMAGE_PIXELS'}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == [str(1 << 27), 'True'], out           # 144 Mpx > the 134 Mpx cap


def test_diagnostics_message():
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticStatus
    from track_node.conversions import diagnostics_msg
    msg = diagnostics_msg(Time(sec=3), 'track_node: tracker', 'cpu', True,
                          {'fps': '12.0', 'received': '40'})
    (status,) = msg.status
    assert msg.header.stamp.sec == 3 and status.level == DiagnosticStatus.OK
    assert {kv.key: kv.value for kv in status.values} == {'fps': '12.0', 'received': '40'}
    inactive = diagnostics_msg(Time(), 'n', '', False, {}).status[0]
    assert inactive.level == DiagnosticStatus.WARN and inactive.message == 'inactive'


def test_the_core_states_are_the_messages_constants():
    from track_interfaces.msg import TargetState
    for state in TrackState:
        assert getattr(TargetState, f'STATE_{state.name}') == int(state)
        msg = state_msg(Header(), {'1': TrackResult((1.0, 2.0, 3.0, 4.0), 0.5, state)}, 0, 0, 0)
        assert msg.targets[0].state == int(state)
