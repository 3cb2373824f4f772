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


# ----------------------------------------------------------------- rosbag2 recordings
BAG_SUFFIXES = ('.mcap', '.db3')
IMAGE_TYPES = {'sensor_msgs/msg/Image': 'raw', 'sensor_msgs/msg/CompressedImage': 'compressed'}


def is_bag(path) -> bool:
    """Say whether ``path`` is a rosbag2 recording (a folder with metadata.yaml, .mcap, .db3)."""
    path = pathlib.Path(path)
    return (path.is_dir() and (path / 'metadata.yaml').is_file()) or \
        (path.is_file() and path.suffix in BAG_SUFFIXES)


class BagSource:
    """An image topic of a rosbag2 recording, its messages as recorded (serialized).

    Read with ``rosbags`` (pure Python; ``pip install rosbags``, in the core's ``eval``
    extra). ``topic``: the image topic (``sensor_msgs/Image`` or ``CompressedImage``); empty:
    the recording's only image topic. ``kind``: 'raw' or 'compressed'. ``messages()`` yields
    (CDR bytes, log time in ns): the bytes are published unchanged, so the recorded stamps and
    frame ids reach the graph as they were.
    """

    def __init__(self, path, topic: str = ''):
        self.path = pathlib.Path(path)
        try:
            from rosbags.highlevel import AnyReader
        except ImportError:
            raise SourceError('playing a rosbag2 recording needs rosbags (pip install '
                              'rosbags)') from None
        self._reader_type = AnyReader
        try:
            with AnyReader([self.path]) as reader:
                images = {c.topic: c.msgtype for c in reader.connections
                          if c.msgtype in IMAGE_TYPES}
                every = sorted(f'{c.topic} ({c.msgtype})' for c in reader.connections)
        except Exception as exc:  # noqa: BLE001 - rosbags' errors share no base; say which
            raise SourceError(f'{self.path}: not a readable rosbag2 recording ({exc})') \
                from None
        if not topic:
            if len(images) != 1:
                raise SourceError(f'{self.path}: name the image topic (bag_topic): it has '
                                  f'{", ".join(every) or "no topics"}')
            topic = next(iter(images))
        if topic not in images:
            raise SourceError(f'{self.path}: no image topic {topic!r} (it has '
                              f'{", ".join(every) or "no topics"})')
        self.topic = topic
        self.kind = IMAGE_TYPES[images[topic]]

    def messages(self) -> Iterator[Tuple[bytes, int]]:
        with self._reader_type([self.path]) as reader:
            connections = [c for c in reader.connections if c.topic == self.topic]
            for _, log_ns, raw in reader.messages(connections=connections):
                yield bytes(raw), int(log_ns)
