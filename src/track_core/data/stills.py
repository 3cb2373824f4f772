"""Still images with boxes (as trackers use COCO): template and search cut from one image.

Layouts: COCO JSON (``images`` + ``annotations`` with ``bbox`` x, y, w, h; crowd boxes
skipped) and the simple layout of ``../shared/data/det`` (``images/`` + ``boxes.csv`` with
rows ``image,x,y,w,h,label``).
"""

import csv
from dataclasses import dataclass
import json
import pathlib
from typing import List, Optional

import cv2
import numpy as np

from track_core.data.sequences import DataError


@dataclass
class StillBox:
    image: pathlib.Path
    box: np.ndarray      # x, y, w, h
    label: str = ''


def read_boxes_csv(root, min_size: float = 8.0) -> List[StillBox]:
    root = pathlib.Path(root)
    path = root / 'boxes.csv'
    if not path.is_file():
        raise DataError(f'{path}: not found')
    out = []
    with path.open(newline='') as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:5]] != ['image', 'x', 'y', 'w', 'h']:
            raise DataError(f'{path}:1: header must start with image,x,y,w,h')
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                box = np.array([float(v) for v in row[1:5]])
            except (ValueError, IndexError):
                raise DataError(f'{path}:{lineno}: expected image,x,y,w,h[,label], got '
                                f'{",".join(row)!r}') from None
            if box[2] >= min_size and box[3] >= min_size:
                out.append(StillBox(root / 'images' / row[0], box, row[5] if len(row) > 5
                                    else ''))
    if not out:
        raise DataError(f'{path}: no usable boxes (min size {min_size} px)')
    return out


def read_coco_json(annotation_file, image_dir, min_size: float = 8.0) -> List[StillBox]:
    annotation_file = pathlib.Path(annotation_file)
    try:
        data = json.loads(annotation_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f'{annotation_file}: cannot read COCO JSON ({exc})') from None
    try:
        files = {img['id']: img['file_name'] for img in data['images']}
        names = {c['id']: c['name'] for c in data.get('categories', [])}
        out = []
        for ann in data['annotations']:
            if ann.get('iscrowd', 0):
                continue
            box = np.asarray(ann['bbox'], dtype=np.float64)
            if box[2] >= min_size and box[3] >= min_size:
                out.append(StillBox(pathlib.Path(image_dir) / files[ann['image_id']], box,
                                    names.get(ann.get('category_id'), '')))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f'{annotation_file}: not COCO annotations ({exc!r})') from None
    return out


def load_image(path: pathlib.Path) -> Optional[np.ndarray]:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f'{path}: cannot read image (missing or corrupt)')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
