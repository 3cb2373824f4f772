"""Frame sources for the image source node.

A video file, an image folder or a sequence folder (``img/`` + ``groundtruth.txt``). Pure
Python; yields (RGB frame, seconds from start).
"""

import pathlib
from typing import Iterator, List, Tuple

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


class SourceError(ValueError):
    """A source that cannot be played; the message names it and says why."""


class FrameSource:
    """Opens ``path``: a video file, a folder of images, or a sequence folder with img/."""

    def __init__(self, path, rate: float):
        self.path = pathlib.Path(path)
        self.rate = rate
        self.images: List[pathlib.Path] = []
        self.video = None
        if not self.path.exists():
            raise SourceError(f'{self.path}: no such file or folder')
        if self.path.is_dir():
            folder = self.path / 'img' if (self.path / 'img').is_dir() else self.path
            self.images = sorted(p for p in folder.iterdir()
                                 if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not self.images:
                raise SourceError(f'{folder}: no images ({", ".join(IMAGE_EXTENSIONS)})')
        else:
            self.video = self.path
            cap = cv2.VideoCapture(str(self.path))
            ok = cap.isOpened() and cap.read()[0]
            cap.release()
            if not ok:
                raise SourceError(f'{self.path}: cannot decode as a video')

    def frames(self) -> Iterator[Tuple[np.ndarray, float]]:
        """(RGB frame, media time in seconds); media time follows the video's own clock."""
        if self.video is None:
            for i, path in enumerate(self.images):
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    continue
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i / self.rate
            return
        cap = cv2.VideoCapture(str(self.video))
        fps = cap.get(cv2.CAP_PROP_FPS) or self.rate
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                msec = cap.get(cv2.CAP_PROP_POS_MSEC)
                t = msec / 1000.0 if msec and msec > 0 else i / fps
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t
                i += 1
        finally:
            cap.release()
