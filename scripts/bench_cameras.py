"""Several cameras: one node with N cameras against N single-camera nodes, measured side by side.

    python scripts/bench_cameras.py [--cameras 4] [--rate 15] [--seconds 20] [--rounds 2]

Each round runs both set-ups in turn (alternating, so the machine's load falls on both): a
rig process publishes N generated 640x480 streams (a textured target moving on each) at
``--rate`` Hz over Fast DDS, a target is set on every camera, and for ``--seconds`` this
process counts per camera the frames answered (``detections`` with the frame's stamp) and the
node's latency (``~/state`` ``latency_ms``: from the frame's arrival to its result), and reads
the node processes' resident memory. Prints one table per round and the hardware. Run it under
``source env.sh`` with nothing else running.
"""

import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODE = ROOT / 'ros2_ws' / 'install' / 'track_node' / 'lib' / 'track_node' / 'track_node'
MODEL = ROOT / 'models' / 'default.safetensors'
SIZE = (480, 640)
BOX = (100, 120, 64, 80)


def frame(i: int, k: int) -> np.ndarray:
    """Camera ``k``'s frame ``i``: a smooth background and a textured target moving on it."""
    h, w = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 0.3 + 40 * k, yy * 0.4 + 60, np.full_like(xx, 110.0)], -1)
    rgb = rgb.astype(np.uint8)
    x, y = BOX[0] + (3 * i) % 300 + 20 * k, BOX[1] + i % 100
    patch = np.random.default_rng(k).integers(0, 256, (BOX[3], BOX[2], 3), dtype=np.uint8)
    rgb[y:y + BOX[3], x:x + BOX[2]] = patch
    return rgb


def rig(cameras: int, rate: float, seconds: float) -> None:
    """Publish ``cameras`` streams c0/image ... at ``rate`` Hz (its own process)."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('camera_rig')
    pubs = [node.create_publisher(Image, f'/c{k}/image', qos_profile_sensor_data)
            for k in range(cameras)]
    frames = [[frame(i, k).tobytes() for i in range(30)] for k in range(cameras)]
    start, i = time.monotonic(), 0
    print('ready', flush=True)
    while time.monotonic() - start < seconds:
        stamp = time.time_ns()
        for k, pub in enumerate(pubs):
            msg = Image(height=SIZE[0], width=SIZE[1], encoding='rgb8', step=SIZE[1] * 3)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10 ** 9)
            msg.header.frame_id = f'c{k}'
            msg.data = frames[k][i % 30]
            pub.publish(msg)
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    print(f'sent {i}', flush=True)
    rclpy.shutdown()


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    return float('nan')


def run(setup: str, cameras: int, rate: float, seconds: float) -> dict:
    """Run one set-up ('one node' or 'one per camera'); return the figures per camera."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from track_interfaces.msg import TrackingState
    from track_interfaces.srv import SetTarget
    from vision_msgs.msg import Detection2DArray
    names = [f'c{k}' for k in range(cameras)]
    common = ['--ros-args', '-p', f'model_path:={MODEL}', '-p', 'backend:=onnx',
              '-p', 'debug_image:=false']
    if setup == 'one node':
        procs = [subprocess.Popen([str(NODE)] + common + ['-p', f'cameras:={",".join(names)}'],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
        topic = {n: (f'/{n}/detections', f'/track_node/{n}/state',
                     f'/track_node/{n}/set_target') for n in names}
    else:
        procs = [subprocess.Popen([str(NODE)] + common + ['-r', f'__ns:=/{n}'],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
                 for n in names]
        topic = {n: (f'/{n}/detections', f'/{n}/track_node/state',
                     f'/{n}/track_node/set_target') for n in names}
    node = rclpy.create_node('bench_observer')
    answered = {n: set() for n in names}
    latency = {n: [] for n in names}
    for n in names:
        node.create_subscription(Detection2DArray, topic[n][0],
                                 lambda m, n=n: answered[n].add(
                                     (m.header.stamp.sec, m.header.stamp.nanosec)), 50)
        node.create_subscription(TrackingState, topic[n][1],
                                 lambda m, n=n: latency[n].append(m.latency_ms), 50)
    clients = {n: node.create_client(SetTarget, topic[n][2]) for n in names}
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    camera = subprocess.Popen([sys.executable, __file__, '--rig', '--cameras', str(cameras),
                               '--rate', str(rate), '--seconds', str(seconds + 15)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert camera.stdout.readline().strip() == 'ready'
        for n in names:                 # a target on every camera, on its newest frame
            end = time.monotonic() + 60
            ok = False
            while not ok and time.monotonic() < end:
                if clients[n].wait_for_service(timeout_sec=0.5):
                    future = clients[n].call_async(SetTarget.Request(
                        x=float(BOX[0]), y=float(BOX[1]), width=float(BOX[2]),
                        height=float(BOX[3])))
                    executor.spin_until_future_complete(future, timeout_sec=10)
                    ok = future.done() and future.result().success
            if not ok:
                raise RuntimeError(f'{setup}: no target on {n}')
        for n in names:
            answered[n].clear()
            latency[n].clear()
        start = time.monotonic()
        memory = []
        while time.monotonic() - start < seconds:
            executor.spin_once(timeout_sec=0.05)
            if not memory or time.monotonic() - start > len(memory):
                memory.append(sum(rss_mb(p.pid) for p in procs))
        sent = seconds * rate
        return {n: {'answered': len(answered[n]) / sent,
                    'p99_ms': float(np.percentile(latency[n], 99)) if latency[n] else None,
                    'median_ms': statistics.median(latency[n]) if latency[n] else None}
                for n in names} | {'rss_mb': max(memory)}
    finally:
        camera.send_signal(signal.SIGINT)
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs + [camera]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        executor.shutdown()
        node.destroy_node()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cameras', type=int, default=4)
    p.add_argument('--rate', type=float, default=15.0)
    p.add_argument('--seconds', type=float, default=20.0)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--rig', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rig:
        try:
            rig(args.cameras, args.rate, args.seconds)
        except KeyboardInterrupt:       # the bench stops its rig with SIGINT
            pass
        return 0
    import rclpy
    from track_core.eval.speed import hardware_line
    rclpy.init()
    print(f'Hardware: {hardware_line(os.cpu_count() or 1)}; load before: '
          f'{os.getloadavg()[0]:.1f}; {args.cameras} cameras x {args.rate:g} Hz, 640x480 '
          f'rgb8, {args.seconds:g} s a run, set-ups alternating.\n')
    print('| round | set-up | frames answered (min / mean over cameras) | latency median / '
          'p99, ms (worst camera) | RSS, MB (all node processes) |')
    print('|---:|---|---|---|---:|')
    try:
        for r in range(args.rounds):
            order = ('one node', 'one per camera') if r % 2 == 0 else \
                ('one per camera', 'one node')
            for setup in order:
                got = run(setup, args.cameras, args.rate, args.seconds)
                rss = got.pop('rss_mb')
                share = [m['answered'] for m in got.values()]
                med = max((m['median_ms'] or float('nan')) for m in got.values())
                p99 = max((m['p99_ms'] or float('nan')) for m in got.values())
                print(f'| {r + 1} | {setup} | {100 * min(share):.0f} % / '
                      f'{100 * sum(share) / len(share):.0f} % | {med:.1f} / {p99:.1f} | '
                      f'{rss:.0f} |', flush=True)
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
