r"""track-bag: track a target through a rosbag2 recording, offline, into a new bag.

    track-bag recording/ --image-topic /camera/color/image_raw --box 310,180,64,90 \
        --out tracked/ [--frame 0] [--model models/default.safetensors]
    track-bag recording/ --image-topic /camera/image --target-topic /yolo/detections \
        --target-class person --out tracked/

Reads the image topic (raw or compressed) with ``rosbags`` (no ROS installation needed), runs
the tracker on every frame as fast as the CPU allows (a progress bar says how fast, against
the recording's own rate), and writes a bag with ``/track_node/detections``
(``vision_msgs/Detection2DArray``: the target while it is reported) and ``/track_node/state``
(``track_interfaces/TrackingState``), each message stamped with its image's header stamp and
frame id and logged at its image's log time, so ``ros2 bag play``, RViz or Foxglove show them
beside the images (``--with-images`` copies the image topic into the new bag too). The target
is a box on a frame (``--box``, ``--frame``) or a detection of a detections topic in the bag
(``--target-topic`` with ``--target-class`` / ``--target-id``, on the first frame that has
one). With ``--reference-topic`` (a Detection2DArray of true boxes) it prints and saves the
one-pass evaluation figures of ``track-eval``.
"""

import argparse
import json
import pathlib
import sys
import time
from typing import Dict, Optional

import numpy as np

from track_core.data.bags import (detection_box, DETECTIONS, image_stream, read_detections,
                                  stamp_ns, to_rgb, typestore)
from track_core.data.sequences import DataError
from track_core.errors import CheckpointError
from track_core.eval.metrics import frame_errors, summary
from track_core.types import TrackResult

OUT_DETECTIONS = '/track_node/detections'
OUT_STATE = '/track_node/state'


def _header(store, stamp_ns: int, frame_id: str):
    time_t = store.types['builtin_interfaces/msg/Time']
    return store.types['std_msgs/msg/Header'](
        stamp=time_t(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
        frame_id=frame_id)


def detections_message(store, header, target_id: str, result: Optional[TrackResult],
                       class_id: str = 'target'):
    """Return a Detection2DArray with the target while it is reported (as the node does)."""
    t = store.types
    detections = []
    if result is not None and result.present:
        x, y, w, h = (float(v) for v in result.box)
        point = t['geometry_msgs/msg/Point'](x=0.0, y=0.0, z=0.0)
        pose = t['geometry_msgs/msg/Pose'](
            position=point, orientation=t['geometry_msgs/msg/Quaternion'](
                x=0.0, y=0.0, z=0.0, w=1.0))
        hypothesis = t['vision_msgs/msg/ObjectHypothesisWithPose'](
            hypothesis=t['vision_msgs/msg/ObjectHypothesis'](class_id=class_id,
                                                             score=float(result.score)),
            pose=t['geometry_msgs/msg/PoseWithCovariance'](pose=pose,
                                                           covariance=np.zeros(36)))
        bbox = t['vision_msgs/msg/BoundingBox2D'](
            center=t['vision_msgs/msg/Pose2D'](
                position=t['vision_msgs/msg/Point2D'](x=x + w / 2, y=y + h / 2), theta=0.0),
            size_x=w, size_y=h)
        detections.append(t['vision_msgs/msg/Detection2D'](
            header=header, results=[hypothesis], bbox=bbox, id=target_id))
    return t[DETECTIONS](header=header, detections=detections)


def state_message(store, header, target_id: str, result: TrackResult, seconds_since: float,
                  fps: float):
    """Return a TrackingState with the target's state, as the node publishes it."""
    t = store.types
    target = t['track_interfaces/msg/TargetState'](
        id=target_id, state=int(result.state), score=float(result.score),
        frames_below_threshold=int(result.frames_below_threshold),
        seconds_since_seen=float(seconds_since), has_position=False,
        position=t['geometry_msgs/msg/Point'](x=0.0, y=0.0, z=0.0), position_frame='',
        position_status='offline: no depth')
    return t['track_interfaces/msg/TrackingState'](
        header=header, targets=[target], latency_ms=0.0, fps=float(fps), dropped_frames=0,
        message='')


def track_bag(bag, image_topic: str, out, box=None, frame: int = 0, target_topic: str = '',
              target_class: str = '', target_id: str = '', reference_topic: str = '',
              model: str = 'models/default.safetensors', backend: str = 'onnx',
              threads: Optional[int] = None, with_images: bool = False,
              storage: str = 'sqlite3', progress: bool = True) -> Dict:
    """Track through ``bag`` into the new bag ``out``; return the figures of the run.

    The images stream from the recording one at a time (memory stays that of a frame however
    long the bag); detections topics (the target's, the reference) are read first.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    from track_core.runtime import load_tracker
    if box is None and not target_topic:
        raise ValueError('give the target: --box X,Y,W,H, or --target-topic')
    out = pathlib.Path(out)
    if out.exists():
        raise ValueError(f'{out} exists: the output bag must be new')
    chosen = read_detections(bag, target_topic) if box is None else {}
    reference = read_detections(bag, reference_topic) if reference_topic else {}
    tracker = load_tracker(model, device='cpu', backend=backend, threads=threads)
    store = typestore()
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    tid, start_frame, last_seen, count = '1', None, None, 0
    first_log = last_log = None
    predicted, truth = [], []
    start = time.perf_counter()
    with image_stream(bag, image_topic) as (kind, total, messages), \
            Writer(out, version=9, storage_plugin=plugin) as writer:
        dets_conn = writer.add_connection(OUT_DETECTIONS, DETECTIONS, typestore=store)
        state_conn = writer.add_connection(OUT_STATE, 'track_interfaces/msg/TrackingState',
                                           typestore=store)
        image_conn = writer.add_connection(image_topic, kind, typestore=store) \
            if with_images else None
        bar = tqdm(total=total, desc='tracking', unit='frame', disable=not progress)
        for i, (log, msg, raw) in enumerate(messages):
            stamp = stamp_ns(msg.header)
            first_log = log if first_log is None else first_log
            last_log = log
            header = _header(store, stamp, msg.header.frame_id)
            result = None
            if start_frame is None:
                if box is None and stamp in chosen:
                    found = detection_box(chosen[stamp], target_id, target_class)
                    if found is not None:
                        box, frame = found, i
                if box is not None and i == frame:
                    tracker.initialize(to_rgb(msg), box)
                    start_frame, last_seen = i, stamp
                    result = TrackResult(tuple(float(v) for v in box), 1.0,
                                         tracker.result().state)
            else:
                result = tracker.track(to_rgb(msg))
                if reference_topic:
                    predicted.append(result.box if result.present else (np.nan,) * 4)
                    ref = detection_box(reference[stamp]) if stamp in reference else None
                    truth.append(ref if ref is not None else (np.nan,) * 4)
            if result is not None and result.present:
                last_seen = stamp
            count = i + 1
            elapsed = time.perf_counter() - start
            fps = count / elapsed if elapsed > 0 else 0.0
            writer.write(dets_conn, log, store.serialize_cdr(
                detections_message(store, header, tid, result), DETECTIONS))
            if result is not None:
                writer.write(state_conn, log, store.serialize_cdr(
                    state_message(store, header, tid, result, (stamp - last_seen) / 1e9, fps),
                    'track_interfaces/msg/TrackingState'))
            if image_conn is not None:
                writer.write(image_conn, log, raw)
            bar.update()
            bar.set_postfix(fps=f'{fps:.0f}')
        bar.close()
    if start_frame is None:
        out_note = f' (nothing tracked; {out} holds empty detections)'
        if box is None:
            raise ValueError(f'{target_topic}: no detection (class {target_class or "any"}, '
                             f'id {target_id or "any"}) on any frame of {image_topic}'
                             + out_note)
        raise ValueError(f'--frame must be in 0..{count - 1}, got {frame}' + out_note)
    wall = time.perf_counter() - start
    span = (last_log - first_log) / 1e9 if count > 1 else 0.0
    figures = {'frames': count, 'seconds': wall, 'fps': count / wall if wall else 0.0,
               'recording_seconds': span,
               'times_real_time': span / wall if wall and span else None,
               'start_frame': start_frame, 'box': list(map(float, box)), 'out': str(out)}
    if reference_topic:
        figures['evaluation'] = summary(frame_errors(np.array(predicted, float),
                                                     np.array(truth, float)))
    return figures


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='track-bag', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', help='a rosbag2 recording (folder, .db3 or .mcap)')
    p.add_argument('--image-topic', required=True)
    p.add_argument('--out', required=True, help='the new bag (must not exist)')
    p.add_argument('--box', help='X,Y,W,H of the target on --frame (pixels, top-left corner)')
    p.add_argument('--frame', type=int, default=0, help='the frame --box is on (index)')
    p.add_argument('--target-topic', default='', help='a Detection2DArray topic of the bag: '
                   'the target is its first detection (of --target-class / --target-id)')
    p.add_argument('--target-class', default='')
    p.add_argument('--target-id', default='')
    p.add_argument('--reference-topic', default='', help='true boxes (Detection2DArray): '
                   'print the one-pass evaluation figures')
    p.add_argument('--model', default='models/default.safetensors')
    p.add_argument('--backend', default='onnx', choices=('onnx', 'torch'))
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--with-images', action='store_true', help='copy the image topic too')
    p.add_argument('--storage', default='sqlite3', choices=('sqlite3', 'mcap'))
    p.add_argument('--json', help='also write the figures to this file')
    args = p.parse_args(argv)
    box = None
    if args.box:
        try:
            box = [float(v) for v in args.box.split(',')]
            if len(box) != 4:
                raise ValueError
        except ValueError:
            p.error(f'--box must be X,Y,W,H, got {args.box!r}')
    try:
        figures = track_bag(args.bag, args.image_topic, args.out, box, args.frame,
                            args.target_topic, args.target_class, args.target_id,
                            args.reference_topic, args.model, args.backend, args.threads,
                            args.with_images, args.storage)
    except (DataError, CheckpointError, ValueError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    rt = figures['times_real_time']
    print(f'{figures["frames"]} frames in {figures["seconds"]:.1f} s ({figures["fps"]:.1f} '
          f'fps' + (f', {rt:.1f}x real time' if rt else '') + f'); wrote {figures["out"]}')
    if 'evaluation' in figures:
        e = figures['evaluation']
        print(f'against {args.reference_topic}: AUC {e["auc"]:.3f}, precision@20 '
              f'{e["precision"]:.3f}, mean IoU {e["mean_iou"]:.3f} over {e["frames"]} frames')
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
