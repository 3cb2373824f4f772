"""The launch file, checked statically, and the image source node over the middleware.

launch_ros is not installable here, so the launch file is parsed and what it names is checked.
"""

import ast
import json
import pathlib
import re
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
import yaml

from track_node import launch_checks, params
from track_node.image_source import ImageSource
from track_node.sources import FrameSource, SourceError

PKG = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = PKG / 'launch' / 'track_node.launch.py'


def test_launch_file_parses_and_names_what_exists():
    text = LAUNCH.read_text()
    tree = ast.parse(text)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    kwargs = {}
    for call in calls:
        for kw in call.keywords:
            if isinstance(kw.value, ast.Constant):
                kwargs.setdefault(kw.arg, []).append(kw.value.value)
    setup = (PKG / 'setup.py').read_text()
    scripts = set(re.findall(r"'(\w+) = track_node\.", setup))
    assert 'track_node' in kwargs['executable'] and 'track_node' in scripts
    assert {'image_source', 'track_node'} <= scripts
    args = set(re.findall(r"DeclareLaunchArgument\(\s*'(\w+)'", text))
    assert {'params_file', 'image', 'namespace', 'use_sim_time', 'log_level', 'rviz'} <= args
    assert "os.path.join(share, 'config', 'track_node.yaml')" in text
    # the decisions come from launch_checks, before any Node action
    assert text.index('params_file_problem') < text.index("executable='track_node'")
    assert 'package_available' in text and 'middleware_environment' in text
    assert (PKG / 'rviz' / 'track_node.rviz').is_file()
    assert (PKG / 'config' / launch_checks.PROFILE_NAME).is_file()


@pytest.mark.parametrize('node_name', sorted(params.TABLES))
def test_parameter_files_are_the_tables_defaults(node_name):
    text = (PKG / 'config' / f'{node_name}.yaml').read_text()
    assert text == params.render_yaml(node_name), \
        f'regenerate: python -m track_node.params {node_name} > config/{node_name}.yaml'
    values = yaml.safe_load(text)[f'/**/{node_name}']['ros__parameters']
    rows = params.table(node_name)
    # tracker settings are commented out (the model brings its own); uncommented, they are
    # the library defaults
    assert set(values) == {k for k, p in rows.items() if not p.tracker}
    uncommented = yaml.safe_load(re.sub(r'^    # (\w+: )', r'    \1', text, flags=re.M))[
        f'/**/{node_name}']['ros__parameters']
    assert set(uncommented) == set(rows)
    assert all(uncommented[k] == rows[k].default for k in rows)
    assert params.validate(values, params.TABLES[node_name])
    for namespace in ('', 'robot', '/a/b'):                 # the shipped file: any namespace
        assert launch_checks.params_file_problem(str(PKG / 'config' / f'{node_name}.yaml'),
                                                 node_name, namespace) is None


@pytest.mark.parametrize('content, words', [
    (None, 'does not exist'),
    ('track_node: [unclosed', 'not readable YAML'),
    ('/**/track_node:\n  ros__parameters:\n    lost_treshold: 0.2\n', 'lost_treshold'),
    ('/**:\n  ros__parameters:\n    max_search_scale: .inf\n', 'max_search_scale'),
    ('/robot/track_node:\n  ros__parameters:\n    threads: 2.5\n', 'threads'),
    ('track_node:\n  ros__parameters:\n    threads: 2\n', 'none of its keys (track_node)'),
    ('/track_node:\n  ros__parameters:\n    threads: 2\n', 'applies to /robot/track_node'),
    ('/robot/track_no*:\n  ros__parameters:\n    threads: 2\n', 'ROS 2 would refuse'),
    ('/other/track_node:\n  ros__parameters:\n    threads: 2\n', 'key it /**/track_node:'),
])
def test_launch_refuses_a_bad_params_file_with_the_reason(tmp_path, content, words):
    path = tmp_path / 'p.yaml'
    if content is not None:
        path.write_text(content)
    problem = launch_checks.params_file_problem(str(path), 'track_node', 'robot')
    assert problem and words in problem, problem


def test_parameter_file_keys_follow_ros_2_name_matching():
    applies = launch_checks.key_applies
    assert applies('track_node', '/track_node') and not applies('track_node', '/x/track_node')
    assert applies('/**', '/x/y/track_node') and applies('/**/track_node', '/track_node')
    assert applies('/**/track_node', '/x/y/track_node') and applies('/x/*', '/x/track_node')
    assert not applies('/x/*', '/x/y/track_node') and not applies('/**/other', '/track_node')


# Key forms, and whether rcl refuses the file, applies it to /tracker/track_node, or ignores it.
KEY_FORMS = {
    'nested': 'tracker:\n  track_node:\n    ros__parameters:\n      threads: 1\n',
    'nested absolute': '/tracker:\n  track_node:\n    ros__parameters:\n      threads: 1\n',
    'nested wildcard': '/**:\n  track_node:\n    ros__parameters:\n      threads: 1\n',
    'partial wildcard': '/tracker/track_no*:\n  ros__parameters:\n    threads: 1\n',
    'partial namespace': '/trac*er/track_node:\n  ros__parameters:\n    threads: 1\n',
    'token wildcard': '/tracker/*:\n  ros__parameters:\n    threads: 1\n',
    'leading digit': '/tracker/9track_node:\n  ros__parameters:\n    threads: 1\n',
    'trailing slash': '/tracker/track_node/:\n  ros__parameters:\n    threads: 1\n',
    'dash': 'trac-ker:\n  track_node:\n    ros__parameters:\n      threads: 1\n',
    'relative': 'tracker/track_node:\n  ros__parameters:\n    threads: 1\n',
    'elsewhere': '/other/track_node:\n  ros__parameters:\n    threads: 1\n',
    'any': '/**:\n  ros__parameters:\n    threads: 1\n',
}
RCL_VERDICT = '''
import json, sys
import rclpy
from rclpy.node import Node
out = {}
for name, path in json.loads(sys.argv[1]).items():
    try:
        rclpy.init(args=['--ros-args', '--params-file', path, '-r', '__ns:=/tracker'])
    except Exception:
        out[name] = 'refused'
        continue
    node = Node('track_node', automatically_declare_parameters_from_overrides=True)
    out[name] = 'applies' if node.has_parameter('threads') else 'ignored'
    node.destroy_node()
    rclpy.shutdown()
print(json.dumps(out))
'''


def test_the_params_file_check_agrees_with_rcl(tmp_path):
    files = {}
    for name, text in KEY_FORMS.items():
        files[name] = str(tmp_path / f'{len(files)}.yaml')
        pathlib.Path(files[name]).write_text(text)
    run = subprocess.run([sys.executable, '-c', RCL_VERDICT, json.dumps(files)],
                         capture_output=True, text=True, timeout=120)
    rcl = json.loads(run.stdout.strip().splitlines()[-1])
    ours = {}
    for name, path in files.items():
        problem = launch_checks.params_file_problem(path, 'track_node', 'tracker')
        ours[name] = 'applies' if problem is None else \
            'refused' if 'would refuse' in problem else 'ignored'
    assert ours == rcl
    assert {'refused', 'applies', 'ignored'} == set(rcl.values())      # every verdict tried


def test_no_input_is_remapped_onto_an_output_of_the_node():
    remap = launch_checks.remappings
    assert remap('/cam/image_raw') == [('image', '/cam/image_raw'),
                                       ('image/compressed', '/cam/image_raw/compressed')]
    full = dict(remap('/cam/image', '/cam/depth/image', '/yolo/detections'))
    assert full['depth/camera_info'] == '/cam/depth/camera_info'
    assert full['detector/detections'] == '/yolo/detections'
    for args, namespace in ((('/image', '', '/detections'), ''),
                            (('/image', '', 'detections'), 'robot'),
                            (('/image', '', '/robot/detections'), 'robot'),
                            (('/robot/debug_image',), 'robot')):
        with pytest.raises(ValueError, match='output of track_node'):
            remap(*args, namespace=namespace)
    # the old default, /detections, is no output of a node in another namespace
    last = remap('/image', '', '/detections', 'robot')[-1]
    assert last == ('detector/detections', '/detections')


def test_launch_accepts_integers_for_doubles_in_a_params_file(tmp_path):
    path = tmp_path / 'p.yaml'
    path.write_text('/**/track_node:\n  ros__parameters:\n    lost_threshold: 0\n'
                    '    use_sim_time: true\n')
    assert launch_checks.params_file_problem(str(path)) is None


def test_rviz_is_started_only_where_it_is_installed(tmp_path):
    assert not launch_checks.package_available('rviz2', {'AMENT_PREFIX_PATH': str(tmp_path)})
    index = tmp_path / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'rviz2').write_text('')
    env = {'AMENT_PREFIX_PATH': f'/nonexistent:{tmp_path}'}
    assert launch_checks.package_available('rviz2', env)
    assert launch_checks.package_available('track_node')      # this workspace's own index


def test_launch_gives_the_large_image_profile_unless_one_is_set():
    profile = '/share/config/fastdds_large_images.xml'
    env = launch_checks.middleware_environment('/share', {'ROS_DISTRO': 'kilted'})
    assert env == {'FASTDDS_DEFAULT_PROFILES_FILE': profile}
    env = launch_checks.middleware_environment('/share', {'ROS_DISTRO': 'jazzy'})
    assert env == {'FASTRTPS_DEFAULT_PROFILES_FILE': profile}
    mine = {'FASTRTPS_DEFAULT_PROFILES_FILE': '/mine.xml', 'ROS_DISTRO': 'kilted'}
    assert launch_checks.middleware_environment('/share', mine) == {}
    assert launch_checks.middleware_environment(
        '/share', {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}) == {}


def test_launch_description_builds_where_launch_ros_exists():
    launch_ros = pytest.importorskip('launch_ros', reason='launch_ros is not installed here '
                                     '(not on PyPI); checked statically above')
    namespace = {}
    exec(compile(LAUNCH.read_text(), str(LAUNCH), 'exec'), namespace)
    description = namespace['generate_launch_description']()
    assert description.entities and launch_ros


@pytest.fixture
def frame_folder(tmp_path):
    folder = tmp_path / 'seq' / 'img'
    folder.mkdir(parents=True)
    for i in range(6):
        cv2.imwrite(str(folder / f'{i + 1:08d}.jpg'), np.full((24, 32, 3), 40 * i, np.uint8))
    (tmp_path / 'seq' / 'groundtruth.txt').write_text('1,2,10,8\n' * 6)
    return tmp_path / 'seq'


def test_frame_source_reads_folders_and_rejects_nonsense(frame_folder, tmp_path):
    source = FrameSource(frame_folder, rate=10.0)
    frames = list(source.frames())
    assert len(frames) == 6 and frames[2][1] == pytest.approx(0.2)
    with pytest.raises(SourceError, match='no such file'):
        FrameSource(tmp_path / 'nope.mp4', 10.0)
    (tmp_path / 'junk.mp4').write_bytes(b'junk')
    with pytest.raises(SourceError, match='cannot decode'):
        FrameSource(tmp_path / 'junk.mp4', 10.0)


def test_image_source_publishes_the_folder(frame_folder):
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        source = ImageSource(context=context, parameter_overrides=[
            Parameter('source', value=str(frame_folder)), Parameter('rate', value=50.0),
            Parameter('frame_id', value='cam9'), Parameter('replay_timing', value=True)])
        listener = Node('listener', context=context)
        got = []
        listener.create_subscription(Image, 'image', got.append, qos_profile_sensor_data)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(listener)
        # Wait for discovery before the source starts its timer.
        end = time.monotonic() + 10
        while source.pub.get_subscription_count() == 0 and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        executor.add_node(source)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        end = time.monotonic() + 10
        while len(got) < 6 and time.monotonic() < end:
            time.sleep(0.02)
        executor.shutdown()
        assert len(got) == 6
        assert {m.header.frame_id for m in got} == {'cam9'}
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in got]
        assert np.diff(stamps) == pytest.approx([0.02] * 5, abs=1e-6)   # media time, exact
        assert got[3].data[0] == got[3].data[-1] and got[3].encoding == 'rgb8'
        source.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def _write_bag(path, count, compressed):
    """Record ``count`` generated frames at 20 Hz on /cam/image (raw or JPEG) with rosbags."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    t = store.types
    kind = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    stamps = []
    with Writer(path, version=9) as writer:
        conn = writer.add_connection('/cam/image', kind, typestore=store)
        for i in range(count):
            rgb = np.full((24, 32, 3), 10 * i, np.uint8)
            stamp = 1_700_000_000 * 10 ** 9 + i * 50_000_000
            header = t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](
                sec=stamp // 10 ** 9, nanosec=stamp % 10 ** 9), frame_id=f'cam{i % 2}')
            if compressed:
                msg = t[kind](header=header, format='png',
                              data=cv2.imencode('.png', rgb)[1].astype(np.uint8))
            else:
                msg = t[kind](header=header, height=24, width=32, encoding='rgb8',
                              is_bigendian=0, step=96, data=rgb.reshape(-1))
            writer.write(conn, stamp + 1000, store.serialize_cdr(msg, kind))
            stamps.append(stamp)
    return stamps


@pytest.mark.parametrize('compressed, rate', [(False, 1.0), (True, 0.0)])
def test_image_source_plays_a_recording_with_its_stamps(tmp_path, compressed, rate):
    from sensor_msgs.msg import CompressedImage
    stamps = _write_bag(tmp_path / 'bag', 8, compressed)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        source = ImageSource(context=context, parameter_overrides=[
            Parameter('source', value=str(tmp_path / 'bag')), Parameter('bag_rate', value=rate),
            Parameter('reliable', value=True), Parameter('wait_for_subscribers', value=1),
            Parameter('start_delay', value=0.3)])
        listener = Node('listener', context=context)
        got = []
        kind, topic = (CompressedImage, 'image/compressed') if compressed else (Image, 'image')
        listener.create_subscription(kind, topic, got.append, 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(listener)
        executor.add_node(source)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        end = time.monotonic() + 20
        # the source says it is done on the tick after its last message: wait for both
        while (len(got) < 8 or not source.done) and time.monotonic() < end:
            time.sleep(0.02)
        executor.shutdown()
        thread.join(5)
        assert [m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec for m in got] == stamps
        assert [m.header.frame_id for m in got] == [f'cam{i % 2}' for i in range(8)]
        first = got[3].data if not compressed else \
            cv2.imdecode(np.frombuffer(bytes(got[3].data), np.uint8), cv2.IMREAD_COLOR)
        assert np.asarray(first).reshape(-1)[0] == 30
        assert source.done
        source.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    with pytest.raises(SourceError, match="no image topic '/nope'"):
        from track_node.sources import BagSource
        BagSource(tmp_path / 'bag', '/nope')


def test_several_cameras_remap_in_order_and_get_a_debug_image_each():
    remap = launch_checks.camera_remappings
    got = dict(remap('front,rear', '/f/image_raw,/r/image_raw', '', '/yolo/f,/yolo/r'))
    assert got['front/image'] == '/f/image_raw' and got['rear/image'] == '/r/image_raw'
    assert got['rear/image/compressed'] == '/r/image_raw/compressed'
    assert got['front/detector/detections'] == '/yolo/f' and 'front/depth/image' not in got
    assert dict(remap('front,rear', ''))['rear/image'] == '/rear/image'
    with pytest.raises(ValueError, match='1 topics for 2 cameras'):
        remap('front,rear', '/only/one')
    with pytest.raises(ValueError, match='output of track_node'):
        remap('front,rear', '', '', '/rear/detections,/yolo/r')
    rviz = launch_checks.rviz_config((PKG / 'rviz' / 'track_node.rviz').read_text(),
                                     ['front', 'rear'], 'robot')
    topics = [d['Topic']['Value'] for d in yaml.safe_load(rviz)['Visualization Manager'][
        'Displays'] if d['Class'] == 'rviz_default_plugins/Image']
    assert topics == ['/robot/front/debug_image', '/robot/rear/debug_image']
