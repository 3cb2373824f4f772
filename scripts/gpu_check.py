"""make gpu-check: prove the CUDA paths in a few minutes, from the repository alone.

No ../shared/data and no downloads: the shipped default model, generated frames (a textured
object moving over a textured background) and synthetic training data. In order:

1. torch on CUDA in fp16 against torch on the CPU in fp32: network outputs and boxes;
2. ONNX Runtime with the CUDA and TensorRT execution providers (where installed) against the
   CPU provider;
3. one training step of ``track-train teacher`` and ``distill`` on CUDA with AMP, then one
   step under ``torchrun`` with one process (NCCL);
4. track_node with ``device:=cuda`` tracking a generated sequence over the real middleware
   (where rclpy and the workspace are importable);
5. a speed table: model-only and end to end, batch 1 and 8, fp16, in track-bench's format.

Exits 0 when every check that could run passed, 1 when one failed, 2 without a CUDA device.
"""

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / 'models' / 'default.safetensors'
# Tolerances: fp16 against fp32 on the shipped model (score map values are 0..1).
SCORE_TOL, BOX_IOU = 2e-2, 0.9
results = []


def check(name, ok, detail=''):
    results.append((name, bool(ok), detail))
    print(f'[{"PASS" if ok else "FAIL"}] {name}' + (f': {detail}' if detail else ''), flush=True)


def frames(count=30):
    from track_core.data.synthetic import moving_object_sequence
    return moving_object_sequence(count, size=(480, 640), box_size=(64, 48), seed=3)


def run_tracker(tracker, seq):
    images, boxes = seq
    tracker.initialize(images[0], boxes[0])
    return [tracker.track(image).box for image in images[1:]]


def mean_iou(a, b):
    from track_core.boxes import iou_xywh
    return float(np.mean(iou_xywh(np.asarray(a), np.asarray(b))))


def torch_parity(seq):
    from track_core.runtime import load_tracker
    cpu = load_tracker(MODEL, device='cpu', backend='torch')
    gpu = load_tracker(MODEL, device='cuda', backend='torch', fp16=True)
    z = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((1, 3, 256, 256)).astype(np.float32)
    out_c = cpu.backend.run(cpu.backend.embed_template(z), x)
    out_g = gpu.backend.run(gpu.backend.embed_template(z), x)
    diff = max(float(np.abs(out_c[k] - out_g[k]).max()) for k in out_c if k == 'score_map')
    check('torch CUDA fp16 vs CPU fp32: score map', diff < SCORE_TOL, f'max diff {diff:.2e}')
    iou = mean_iou(run_tracker(cpu, seq), run_tracker(gpu, seq))
    check('torch CUDA fp16 vs CPU fp32: boxes over 29 frames', iou > BOX_IOU,
          f'mean IoU {iou:.3f}')


def onnx_parity(seq):
    try:
        import onnxruntime as ort
    except ImportError:
        check('ONNX Runtime', True, 'not installed: skipped')
        return
    from track_core.runtime import load_tracker
    available = ort.get_available_providers()
    reference = run_tracker(load_tracker(MODEL, device='cpu', backend='onnx'), seq)
    for device, provider in (('cuda', 'CUDAExecutionProvider'),
                             ('tensorrt', 'TensorrtExecutionProvider')):
        if provider not in available:
            check(f'ONNX Runtime {device}', True, f'{provider} not installed: skipped')
            continue
        iou = mean_iou(reference, run_tracker(load_tracker(MODEL, device=device,
                                                           backend='onnx'), seq))
        check(f'ONNX Runtime {device} vs CPU: boxes', iou > BOX_IOU, f'mean IoU {iou:.3f}')


def training_steps(tmp):
    from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
    for k in range(2):
        images, boxes = moving_object_sequence(12, seed=k)
        write_uniform_sequence(tmp / 'sot', f'syn{k}', images, boxes)
    common = [f'data.sot=["{tmp / "sot"}"]', 'data.stills_csv=[]', 'data.samples_per_epoch=8',
              'optim.epochs=1', 'optim.batch_size=4', 'optim.num_workers=0', 'optim.amp=true',
              'pretrained_stem=false', 'device=cuda']
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    recipe = tmp / 'recipe.yaml'
    recipe.write_text('{}\n')
    cli = [sys.executable, '-m', 'track_core.train.cli']
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node', '1', '-m', 'track_core.train.cli']
    steps = [
        ('teacher step on CUDA with AMP',
         cli + ['teacher', str(recipe), 'model=tiny', f'out_dir={tmp / "t"}'] + common),
        ('distill step on CUDA with AMP',
         cli + ['distill', str(recipe), f'distill.teacher={tmp / "t" / "model.safetensors"}',
                'distill.stages=2', f'out_dir={tmp / "s"}'] + common),
        ('torchrun, 1 process, NCCL',
         torchrun + ['teacher', str(recipe), 'model=tiny', f'out_dir={tmp / "ddp"}'] + common),
    ]
    for name, cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ['']
        check(name, proc.returncode == 0, tail[0][:160])


def node_on_cuda(seq):
    try:
        sys.path.insert(0, str(ROOT / 'ros2_ws' / 'src' / 'track_node' / 'test'))
        from graph import Harness, image_msg
    except ImportError as exc:
        check('track_node on cuda', True, f'ROS 2 not importable ({exc}): skipped')
        return
    from track_interfaces.srv import SetTarget
    from track_node.conversions import detection_to_xywh
    images, boxes = seq
    h = Harness(backend='torch', device='cuda')
    try:
        if not h.wait_for(lambda: h.node.running, 120):
            check('track_node on cuda', False, 'did not activate')
            return
        first = image_msg(images[0], sec=1)
        h.publish_until_processed(first)
        x, y, w, hh = boxes[0]
        reply = h.call(h.set_target, SetTarget.Request(x=x, y=y, width=w, height=hh,
                                                       stamp=first.header.stamp))
        got = []
        for i in range(1, len(images)):
            count = len(h.detections)
            h.pub.publish(image_msg(images[i], sec=1 + i))
            h.wait_for(lambda: len(h.detections) > count, 10)
            dets = h.detections[-1].detections
            got.append(detection_to_xywh(dets[0]) if dets else (0, 0, 1, 1))
        iou = mean_iou(got, boxes[1:])
        check('track_node device:=cuda tracks a generated sequence', reply.success and
              iou > 0.3, f'mean IoU {iou:.3f}')
    finally:
        h.close()


def speed_table():
    from track_core.runtime import load_tracker
    tracker = load_tracker(MODEL, device='cuda', backend='torch', fp16=True)
    images, boxes = frames(40)
    print('\n| model | backend | batch | model ms | end-to-end ms | fps |')
    print('|---|---|---:|---:|---:|---:|')
    for batch in (1, 8):
        tracker.reset()
        for k in range(batch):
            tracker.add_target(images[0], boxes[0], str(k))
        z = np.concatenate([tracker._targets[str(k)].z_tokens for k in range(batch)])
        x = np.random.default_rng(0).standard_normal((batch, 3, 256, 256)).astype(np.float32)
        model_ms, e2e_ms = [], []
        for i in range(35):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            tracker.backend.run(z, x)
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            tracker.track_all(images[1 + i % 39])
            torch.cuda.synchronize()
            if i >= 5:
                model_ms.append((t1 - t0) * 1000)
                e2e_ms.append((time.perf_counter() - t1) * 1000)
        m, e = statistics.median(model_ms), statistics.median(e2e_ms)
        print(f'| {tracker.model_cfg.name} | torch cuda fp16 | {batch} | {m:.2f} | {e:.2f} | '
              f'{1000 / e:.1f} |')
    print(f'\nGPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA '
          f'{torch.version.cuda}; median of 30 runs after 5 warm-up runs, 640x480 frames.')


def main() -> int:
    if not torch.cuda.is_available():
        print('gpu-check: no CUDA device on this machine (torch.cuda.is_available() is false); '
              'the CUDA, TensorRT and NCCL paths can only be checked where one is.')
        return 2
    seq = frames()
    torch_parity(seq)
    onnx_parity(seq)
    with tempfile.TemporaryDirectory() as tmp:
        training_steps(pathlib.Path(tmp))
    node_on_cuda(seq)
    speed_table()
    failed = [name for name, ok, _ in results if not ok]
    print(f'\ngpu-check: {len(results) - len(failed)} passed, {len(failed)} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    raise SystemExit(main())
