"""Frames between the image callback and the inference worker (pure Python, no rclpy).

``LatestSlot`` holds only the newest frame for the worker: a slow model never builds a
backlog, and every frame it overwrites is counted. ``FrameCache`` keeps recent frames by stamp
for requests that name one (set_target, a click), bounded in count and in bytes, and tells a
stamp it never saw from one it has already let go.
"""

import collections
import threading
import time
from typing import Any, Deque, Optional, Tuple


class Frame:
    """A received image message, unconverted until someone needs its pixels."""

    __slots__ = ('stamp_ns', 'header', 'msg', 'compressed', 'arrival', 'nbytes')

    def __init__(self, stamp_ns: int, header: Any, msg: Any, compressed: bool,
                 nbytes: int, arrival: Optional[float] = None):
        self.stamp_ns = int(stamp_ns)
        self.header = header
        self.msg = msg
        self.compressed = compressed
        self.nbytes = int(nbytes)
        self.arrival = time.monotonic() if arrival is None else arrival


class LatestSlot:
    """One-frame mailbox between a producer and one consumer thread."""

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: Optional[Frame] = None
        self._open = True
        self.overwritten = 0

    def put(self, frame: Frame) -> bool:
        """Offer ``frame``; return True when it replaced one the consumer never took."""
        with self._cond:
            replaced = self._frame is not None
            self.overwritten += replaced
            self._frame = frame
            self._cond.notify()
            return replaced

    def take(self, timeout: float = 0.5) -> Optional[Frame]:
        """Return the newest frame, waiting up to ``timeout``; None when empty or closed."""
        with self._cond:
            if self._frame is None and self._open:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame if self._open else None

    @property
    def empty(self) -> bool:
        with self._cond:
            return self._frame is None

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:  # noqa: A003 - the pair of close()
        with self._cond:
            self._open = True

    def close(self) -> None:
        """Wake the consumer; ``take`` returns None from now on until ``open``."""
        with self._cond:
            self._open = False
            self._frame = None
            self._cond.notify_all()


class FrameCache:
    """Recent frames by stamp, at most ``max_frames`` and ``max_bytes`` (oldest go first)."""

    def __init__(self, max_frames: int, max_bytes: int):
        if max_frames < 1 or max_bytes < 1:
            raise ValueError('a frame cache needs room for at least one frame')
        self.max_frames = int(max_frames)
        self.max_bytes = int(max_bytes)
        self._frames: Deque[Frame] = collections.deque()
        self._bytes = 0
        self._evicted: Deque[int] = collections.deque(maxlen=4096)   # stamps let go
        self._lock = threading.Lock()

    def add(self, frame: Frame) -> Tuple[bool, str]:
        """Keep ``frame``; (False, why) when it alone is larger than the cache may hold."""
        if frame.nbytes > self.max_bytes:
            return False, (f'frame of {frame.nbytes / 2**20:.1f} MiB is larger than the frame '
                           f'cache ({self.max_bytes / 2**20:.1f} MiB, frame_cache_mb)')
        with self._lock:
            self._frames.append(frame)
            self._bytes += frame.nbytes
            while len(self._frames) > self.max_frames or self._bytes > self.max_bytes:
                old = self._frames.popleft()
                self._bytes -= old.nbytes
                self._evicted.append(old.stamp_ns)
        return True, ''

    def find(self, stamp_ns: int) -> Tuple[Optional[Frame], str]:
        """Return (frame, '') for ``stamp_ns`` (0: the newest), else (None, why not)."""
        with self._lock:
            frames = list(self._frames)
            evicted = stamp_ns in self._evicted
            forgotten = len(self._evicted) == self._evicted.maxlen
        if not frames:
            return None, 'no frame received yet'
        if stamp_ns == 0:
            return frames[-1], ''
        for frame in reversed(frames):
            if frame.stamp_ns == stamp_ns:
                return frame, ''
        held = f'{len(frames)} frames kept, {_stamp(frames[0].stamp_ns)} .. ' \
            f'{_stamp(frames[-1].stamp_ns)}'
        if evicted:
            return None, f'frame {_stamp(stamp_ns)} is no longer in the cache ({held})'
        if forgotten and stamp_ns < frames[0].stamp_ns:
            return None, f'frame {_stamp(stamp_ns)} is older than every frame kept ({held})'
        return None, f'no frame with stamp {_stamp(stamp_ns)} was received ({held})'

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0
            self._evicted.clear()

    def stamps(self):
        with self._lock:
            return [f.stamp_ns for f in self._frames]

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._frames)


def _stamp(ns: int) -> str:
    return f'{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}'
