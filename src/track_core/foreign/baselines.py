"""Trackers users would otherwise pick, as baselines: OpenCV's and the Siamese CNN trackers.

Each has the evaluation interface (``name``, ``initialize(rgb, box)``, ``track(rgb) -> (x, y,
w, h)``, NaN when it reports failure, ``model_ms``). They are optional: ``available_baselines``
says which can run here and why not (a missing OpenCV build, model files or runtime).
"""

import pathlib
from typing import Dict, List, Optional, Tuple

import cv2

NAN_BOX = (float('nan'),) * 4


class OpenCVTracker:
    """OpenCV's CSRT, KCF, NanoTrack or VitTrack (BGR input; a reported failure: a NaN box)."""

    def __init__(self, name: str, factory):
        self.name = name
        self._factory = factory
        self._tracker = None
        self.model_ms: List[float] = []

    def initialize(self, rgb, box):
        self._tracker = self._factory()
        x, y, w, h = (int(round(v)) for v in box)
        self._tracker.init(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (x, y, max(w, 1), max(h, 1)))

    def track(self, rgb):
        ok, box = self._tracker.update(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return tuple(float(v) for v in box) if ok else NAN_BOX


def _nano_factory(folder: pathlib.Path):
    def make():
        params = cv2.TrackerNano_Params()
        params.backbone = str(folder / 'backbone.onnx')
        params.neckhead = str(folder / 'head.onnx')
        return cv2.TrackerNano_create(params)
    return make


def _vit_factory(path: pathlib.Path):
    def make():
        params = cv2.TrackerVit_Params()
        params.net = str(path)
        return cv2.TrackerVit_create(params)
    return make


BASELINES = {
    'csrt': 'OpenCV CSRT', 'kcf': 'OpenCV KCF', 'nanotrack': 'NanoTrack v2',
    'nanotrack_v3': 'NanoTrack v3', 'lighttrack': 'LightTrack-Mobile',
    'vittrack': 'VitTrack (OpenCV)',
}


def available_baselines(names, nanotrack_dir=None, dirs=None
                        ) -> Tuple[Dict[str, object], Dict[str, str]]:
    """({name: factory of a tracker}, {name: why it was skipped}).

    ``dirs``: the model folder of 'nanotrack' (v2), 'nanotrack_v3', 'lighttrack' and
    'vittrack' (the data README's ``baselines/*``); ``nanotrack_dir`` is the v2 one's older
    spelling. VitTrack runs in OpenCV's ``TrackerVit`` with its own settings (a score under
    0.2 is a reported failure).
    """
    dirs = dict(dirs or {})
    if nanotrack_dir is not None:
        dirs.setdefault('nanotrack', nanotrack_dir)
    ready, skipped = {}, {}
    for name in names:
        key = name.lower()
        folder = pathlib.Path(dirs[key]) if dirs.get(key) else None
        if key in ('csrt', 'kcf'):
            fn = getattr(cv2, f'Tracker{key.upper()}_create', None)
            if fn is None:
                legacy = getattr(cv2, 'legacy', None)
                fn = getattr(legacy, f'Tracker{key.upper()}_create', None) if legacy else None
            if fn is None:
                skipped[name] = (f'cv2.Tracker{key.upper()}_create missing: install '
                                 'opencv-contrib-python-headless (the same version)')
                continue
            ready[key.upper()] = (lambda f=fn, n=key.upper(): OpenCVTracker(n, f))
        elif key == 'nanotrack':
            if not hasattr(cv2, 'TrackerNano_create'):
                skipped[name] = f'cv2.TrackerNano missing in OpenCV {cv2.__version__}'
            elif folder is None or not (folder / 'backbone.onnx').is_file() or \
                    not (folder / 'head.onnx').is_file():
                skipped[name] = (f'NanoTrack ONNX files not found in {folder} (give '
                                 '--nanotrack-dir with backbone.onnx and head.onnx)')
            else:
                ready['NanoTrack v2'] = (lambda f=_nano_factory(folder):
                                         OpenCVTracker('NanoTrack v2', f))
        elif key == 'vittrack':
            model = folder / 'vitTracker.onnx' if folder is not None else None
            if not hasattr(cv2, 'TrackerVit_create'):
                skipped[name] = f'cv2.TrackerVit missing in OpenCV {cv2.__version__} (4.9+)'
            elif model is None or not model.is_file():
                skipped[name] = f'vitTracker.onnx not found in {folder} (give --vittrack-dir)'
            else:
                ready[BASELINES[key]] = (lambda f=_vit_factory(model):
                                         OpenCVTracker(BASELINES['vittrack'], f))
        elif key in ('nanotrack_v3', 'lighttrack'):
            why = _siamese_problem(key, folder)
            if why:
                skipped[name] = why
            else:
                ready[BASELINES[key]] = (lambda k=key, f=folder: siamese_baseline(k, f))
        else:
            skipped[name] = f'unknown baseline (known: {", ".join(BASELINES)})'
    return ready, skipped


_SIAMESE_FILES = {'nanotrack_v3': ('nanotrack_backbone.onnx', 'nanotrack_head.onnx'),
                  'lighttrack': ('z_feature.xml', 'x_feature.xml', 'head.xml')}


def _siamese_problem(key, folder) -> str:
    files = _SIAMESE_FILES[key]
    flag = '--nanotrack-v3-dir' if key == 'nanotrack_v3' else '--lighttrack-dir'
    if folder is None or not all((folder / f).is_file() for f in files):
        return f'{", ".join(files)} not found in {folder} (give {flag})'
    module = 'onnxruntime' if key == 'nanotrack_v3' else 'openvino'
    import importlib.util
    if importlib.util.find_spec(module) is None:
        extra = 'export' if key == 'nanotrack_v3' else 'lighttrack'
        return f'{module} is not installed (pip install -e ".[{extra}]")'
    return ''


def siamese_baseline(key: str, folder, threads: Optional[int] = None):
    """Return a NanoTrack v3 (ONNX Runtime) or LightTrack-Mobile (OpenVINO) tracker."""
    from track_core.foreign import siamese
    if key == 'nanotrack_v3':
        return siamese.SiameseTracker(BASELINES[key], siamese.NanoTrackV3Onnx(folder, threads),
                                      siamese.NANOTRACK_V3)
    return siamese.SiameseTracker(BASELINES[key], siamese.LightTrackOpenVINO(folder, threads),
                                  siamese.LIGHTTRACK)
