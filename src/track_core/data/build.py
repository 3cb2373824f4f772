"""Data roots and the sources a training config names."""

import os
import pathlib
from typing import Callable, List, Optional, Tuple

from track_core.data.sampler import SequenceSource, StillSource
from track_core.data.sequences import DataError, find_sequences
from track_core.data.stills import read_boxes_csv, read_coco_json

DATA_ENV = 'TRACK_DATA_ROOT'


def data_root() -> pathlib.Path:
    """$TRACK_DATA_ROOT, else ``shared/data`` beside the repository (../shared/data)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return pathlib.Path(env)
    here = pathlib.Path(__file__).resolve()
    candidates = [pathlib.Path.cwd().parent / 'shared' / 'data']
    candidates += [p.parent / 'shared' / 'data' for p in here.parents]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DataError(f'no data root: set {DATA_ENV} or place the data at ../shared/data')


def find_shared(*parts: str) -> Tuple[Optional[pathlib.Path], str]:
    """Return (the path ``parts`` under the data root, '') or (None, why it is not there).

    For whatever uses real material and skips cleanly without it (tests, scripts).
    """
    try:
        path = data_root().joinpath(*parts)
    except DataError as exc:
        return None, f'no ../shared/data ({exc})'
    if not path.exists():
        return None, f'{path} is absent'
    return path, ''


def resolve(path: str) -> pathlib.Path:
    """Expand ``${data}`` (the data root), ``~`` and environment variables in a path."""
    if '${data}' in path:
        path = path.replace('${data}', str(data_root()))
    return pathlib.Path(os.path.expandvars(os.path.expanduser(path)))


def build_sources(sot: List[str], stills_csv: List[str], coco_json: List[str],
                  videos: List[str], sot_format: str = 'auto',
                  on_skip: Optional[Callable[[str], None]] = None) -> List[Tuple[str, object]]:
    """(kind, source) pairs in config order: sot, stills_csv, coco_json, videos."""
    sources = []
    for root in sot:
        path = resolve(root)
        sources.append(('sot', SequenceSource(find_sequences(path, sot_format, on_skip),
                                              str(path))))
    for root in stills_csv:
        path = resolve(root)
        sources.append(('stills', StillSource(read_boxes_csv(path), str(path))))
    for spec in coco_json:
        if '::' not in spec:
            raise DataError(f'coco_json entry {spec!r} must be "annotations.json::image_dir"')
        ann, images = spec.split('::', 1)
        sources.append(('coco', StillSource(read_coco_json(resolve(ann), resolve(images)),
                                            ann)))
    for root in videos:
        path = resolve(root)
        sources.append(('videos', SequenceSource(find_sequences(path, 'videos', on_skip),
                                                 str(path))))
    return sources
