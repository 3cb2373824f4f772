"""Training pairs from unannotated video, labelled by a CNN teacher tracking forward and back.

Targets are proposed on salient regions and kept where the two directions agree. For each clip (a
video file or a folder of frames), every ``every`` frames up to ``starts`` boxes are proposed on
the most salient regions (OpenCV's spectral-residual saliency, thresholded into connected regions
of plausible size and shape). The teacher tracks each box ``span`` frames forward, then from the
last box back to the start frame; a track is kept when the box it comes back to overlaps the
proposal by at least ``min_fb_iou`` (a tracker that drifted to the background rarely finds its way
back). Kept tracks become sequences whose boxes are the teacher's, marked ``pseudo``: the pair
sampler gives their pairs ``has_box`` 0, so the losses supervise them through the teacher's own,
confidence-gated, box (``supervision_terms``).

Labels are cached in the run folder (``pseudo_tracks.json``), keyed by the clips and settings, so a
resumed run does not track again.
"""

from dataclasses import asdict, dataclass
import hashlib
import json
import pathlib
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np

from track_core.boxes import iou_xywh
from track_core.data.build import resolve
from track_core.data.sampler import SequenceSource
from track_core.data.sequences import DataError, IMAGE_EXTENSIONS, read_video, Sequence


@dataclass(frozen=True)
class PseudoConfig:
    """clips: video files or image folders (``${data}`` allowed); empty: no pseudo pairs."""

    clips: Tuple[str, ...] = ()
    every: int = 24
    span: int = 24
    starts: int = 6
    min_fb_iou: float = 0.6
    weight: float = 1.0


def saliency_boxes(rgb: np.ndarray, count: int) -> List[Tuple[float, float, float, float]]:
    """Up to ``count`` boxes (x, y, w, h) around the most salient regions of ``rgb``."""
    height, width = rgb.shape[:2]
    scale = 256.0 / max(height, width)
    small = cv2.resize(rgb, (max(1, int(width * scale)), max(1, int(height * scale))),
                       interpolation=cv2.INTER_AREA)
    ok, sal = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(
        cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    if not ok:
        return []
    sal = cv2.GaussianBlur((sal * 255).astype(np.uint8), (5, 5), 0)
    _, mask = cv2.threshold(sal, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    area = float(small.shape[0] * small.shape[1])
    found = []
    for x, y, w, h, pixels in stats[1:n]:
        if not (0.002 <= w * h / area <= 0.15 and min(w, h) >= 4 and 0.25 <= w / h <= 4.0):
            continue
        strength = float(sal[y:y + h, x:x + w].mean())
        found.append((strength, (x / scale, y / scale, w / scale, h / scale)))
    found.sort(key=lambda item: -item[0])
    return [box for _, box in found[:count]]


def forward_backward(make_tracker: Callable, frames, start: int, end: int, box
                     ) -> Tuple[np.ndarray, float]:
    """Track ``box`` from frame ``start`` to ``end - 1`` and back; (boxes, start-frame IoU)."""
    tracker = make_tracker()
    tracker.initialize(frames[start], box)
    forward = [tuple(box)] + [tracker.track(frames[i]) for i in range(start + 1, end)]
    back = make_tracker()
    back.initialize(frames[end - 1], forward[-1])
    returned = forward[-1]
    for i in range(end - 2, start - 1, -1):
        returned = back.track(frames[i])
    fb = float(iou_xywh(np.array(returned, float), np.array(box, float))[0])
    return np.asarray(forward, np.float64), fb


def _clip_frames(path: pathlib.Path):
    """(frames as RGB arrays, frame files or None) of a video file or an image folder."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DataError(f'{path}: no images')
        frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in files]
        return frames, files
    if not path.is_file():
        raise DataError(f'{path}: no such video or folder')
    return read_video(path), None


def label_clip(path: pathlib.Path, make_tracker: Callable, cfg: PseudoConfig
               ) -> Tuple[List[Dict], Dict[str, int]]:
    """Return the kept tracks of one clip ({start, boxes, fb_iou}) and its counts."""
    frames, _ = _clip_frames(path)
    tracks, proposed = [], 0
    for start in range(0, max(len(frames) - 1, 0), cfg.every):
        end = min(start + cfg.span + 1, len(frames))
        if end - start < 2:
            break
        for box in saliency_boxes(frames[start], cfg.starts):
            proposed += 1
            boxes, fb = forward_backward(make_tracker, frames, start, end, box)
            if fb >= cfg.min_fb_iou:
                tracks.append({'start': start, 'boxes': boxes.round(2).tolist(),
                               'fb_iou': round(fb, 3)})
    counts = {'frames': len(frames), 'proposed': proposed, 'kept': len(tracks),
              'labelled_frames': sum(len(t['boxes']) for t in tracks)}
    return tracks, counts


class PseudoSource(SequenceSource):
    """Pairs from pseudo-labelled tracks; the sampler marks them ``has_box`` 0."""

    pseudo = True


def _sequences(path: pathlib.Path, tracks: List[Dict]) -> List[Sequence]:
    frames, files = _clip_frames(path)
    out = []
    for k, track in enumerate(tracks):
        boxes = np.full((len(frames), 4), np.nan)
        start = track['start']
        boxes[start:start + len(track['boxes'])] = track['boxes']
        seq = Sequence(f'{path.name}#{k}', boxes, ~np.isnan(boxes[:, 0]),
                       list(files) if files else [], video=None if files else path)
        if files is None:
            seq._video_cache = frames           # decoded once, shared by the clip's tracks
        out.append(seq)
    return out


def build_pseudo_source(cfg: PseudoConfig, make_tracker: Callable, run_dir, teacher_name: str,
                        log=print) -> PseudoSource:
    """Label (or reuse the cached labels of) every clip; return their pairs as one source."""
    clips = [resolve(c) for c in cfg.clips]
    key = hashlib.sha1(json.dumps({'clips': [str(c) for c in clips], 'teacher': teacher_name,
                                   'cfg': asdict(cfg)}, sort_keys=True).encode()).hexdigest()
    cache = pathlib.Path(run_dir) / 'pseudo_tracks.json'
    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    if stored.get('key') != key:
        from tqdm import tqdm
        stored = {'key': key, 'clips': {}}
        for clip in tqdm(clips, desc='pseudo-labelling', unit='clip'):
            tracks, counts = label_clip(clip, make_tracker, cfg)
            stored['clips'][str(clip)] = {'tracks': tracks, 'counts': counts}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(stored))
    sequences = []
    for clip in clips:
        entry = stored['clips'][str(clip)]
        c = entry['counts']
        log(f'[train] pseudo pairs: {clip.name}: {c["proposed"]} proposals, {c["kept"]} kept '
            f'(forward-backward IoU >= {cfg.min_fb_iou}), {c["labelled_frames"]} labelled '
            f'frames of {c["frames"]}')
        sequences += _sequences(clip, entry['tracks'])
    if not sequences:
        raise DataError('pseudo: no track passed the forward-backward check in '
                        f'{", ".join(c.name for c in clips)}')
    return PseudoSource(sequences, 'pseudo')
