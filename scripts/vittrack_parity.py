"""VitTrack imported (this project's network and runtime) against OpenCV's TrackerVit.

    python scripts/vittrack_parity.py [--model models/vittrack.safetensors]
        [--onnx ../shared/data/baselines/vittrack/vitTracker.onnx] [--backend onnx]

1. Maps: score, size and offset maps of the imported network (PyTorch) against ONNX Runtime
   on the published graph, on real template / search crops of every dev sequence; prints the
   largest difference.
2. Boxes: each dev sequence tracked by ``cv2.TrackerVit`` (the published file, OpenCV's
   settings) and by the imported model through ``load_tracker`` from the same integer box;
   per sequence the mean IoU of the two box streams (TrackerVit's held box where it reports a
   failure), and each one's AUC against the ground truth.
"""

import argparse
import pathlib
import sys

import numpy as np
import torch

from track_core.boxes import iou_xywh
from track_core.checkpoint import load_model
from track_core.data.build import resolve
from track_core.data.sequences import find_sequences
from track_core.eval.metrics import frame_errors, summary
from track_core.foreign import trackervit
from track_core.runtime.loader import load_tracker
from track_core.runtime.preprocess import crop_side, crop_square, Normalizer


def map_parity(model_path, onnx_path, sequences) -> float:
    """Largest |difference| of the three maps, torch vs ONNX Runtime, over real crops."""
    import onnxruntime as ort
    model, pre = load_model(model_path)
    session = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    norm = Normalizer.for_preprocess(pre)
    worst = 0.0
    for seq in sequences:
        x, y, w, h = seq.boxes[0]
        cx, cy = x + w / 2, y + h / 2
        template = norm([crop_square(seq.frame(0), cx, cy, crop_side(w, h, 2.0), 128)])
        for k in (1, len(seq) // 2):
            search = norm([crop_square(seq.frame(k), cx, cy, crop_side(w, h, 4.0), 256)])
            ref = session.run(['output1', 'output2', 'output3'],
                              {'template': template, 'search': search})
            with torch.no_grad():
                out = model(torch.from_numpy(template), torch.from_numpy(search))
            for a, name in zip(ref, ('score_map', 'size_map', 'offset_map')):
                worst = max(worst, float(np.abs(a - out[name].numpy()).max()))
    return worst


def own_boxes(model_path, backend, seq, opencv_input=False):
    """Track ``seq`` with this project's runtime (TrackerVit's input where ``opencv_input``)."""
    tracker = load_tracker(model_path, device='cpu', backend=backend)
    if opencv_input:
        pre = tracker.preprocess
        tracker.normalize = trackervit.OpenCVNormalizer(pre.mean, pre.std)
    box = tuple(float(int(round(v))) for v in seq.boxes[0])
    tracker.initialize(seq.frame(0), box)
    boxes = [np.array(box)]
    for i in range(1, len(seq)):
        boxes.append(np.array(tracker.track(seq.frame(i)).box))
    return np.array(boxes)


STREAMS = (('step', "TrackerVit's decode around the imported network, one step from each "
                    "of TrackerVit's boxes"),
           ('replay', "TrackerVit's loop around the imported network, with TrackerVit's input"),
           ('runtime-cv', "this project's runtime with TrackerVit's input"),
           ('runtime', "this project's runtime as the model ships (the intended input)"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default='models/vittrack.safetensors')
    parser.add_argument('--onnx', default='${data}/baselines/vittrack/vitTracker.onnx')
    parser.add_argument('--data', default='${data}/sot/dev')
    parser.add_argument('--backend', default='onnx', choices=['onnx', 'torch'])
    args = parser.parse_args(argv)
    onnx_path = resolve(args.onnx)
    sequences = find_sequences(resolve(args.data))
    if not pathlib.Path(args.model).is_file():
        print(f'{args.model}: not found; write it with: track-import vittrack {onnx_path}',
              file=sys.stderr)
        return 2
    worst = map_parity(args.model, onnx_path, sequences)
    print(f'maps, PyTorch vs ONNX Runtime on the published graph ({2 * len(sequences)} real '
          f'crop pairs): largest difference {worst:.2e}')
    model, pre = load_model(args.model)
    print("\nBox streams against cv2.TrackerVit's: mean IoU over each sequence's frames, "
          "then each stream's AUC")
    for name, what in STREAMS:
        print(f'  {name}: {what}')
    names = [n for n, _ in STREAMS]
    print(f'{"sequence":22s} {"frames":>6s} ' + ' '.join(f'{n:>10s}' for n in names) +
          '   AUC: ' + ' '.join(f'{n:>10s}' for n in ['TrackerVit'] + names))
    rows = []
    for seq in sequences:
        ref, _ = trackervit.opencv_boxes(onnx_path, seq)
        boxes = [trackervit.replay(model, pre, seq, follow=ref),
                 trackervit.replay(model, pre, seq),
                 own_boxes(args.model, args.backend, seq, opencv_input=True),
                 own_boxes(args.model, args.backend, seq)]
        ious = [iou_xywh(ref[1:], b[1:]) for b in boxes]
        aucs = [summary(frame_errors(b[1:], seq.boxes[1:]))['auc'] for b in [ref] + boxes]
        rows.append((ious, aucs))
        print(f'{seq.name:22s} {len(seq):6d} ' + ' '.join(f'{x.mean():10.3f}' for x in ious) +
              '        ' + ' '.join(f'{a:10.3f}' for a in aucs))
    for k, name in enumerate(names):
        iou = np.concatenate([r[0][k] for r in rows])
        per = [r[0][k].mean() for r in rows]
        print(f"{name}: mean IoU with TrackerVit's boxes over all {len(iou)} frames "
              f'{iou.mean():.3f} (per sequence {min(per):.3f} .. {max(per):.3f})')
    print('mean AUC over the sequences: ' + ', '.join(
        f'{n} {np.mean([r[1][k] for r in rows]):.3f}'
        for k, n in enumerate(['TrackerVit'] + names)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
