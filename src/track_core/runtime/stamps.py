"""Recent stamped items (frames, depth images, detection sets), bounded by count and bytes.

One cache serves every input the node keeps by stamp: ``find`` looks a stamp up exactly (0:
the newest) and says why not (never received, let go, older than everything kept);
``nearest`` takes the item closest to a stamp within a tolerance, and may wait a little for
one that has not arrived yet (a depth image published just after its colour frame). Items
larger than the cache may hold are refused, with the reason. Thread-safe: producers add from
their callbacks while the worker looks up.
"""

import collections
import threading
import time
from typing import Any, Deque, List, NamedTuple, Optional, Tuple


# A stream whose newest item is older than this (before the frame looked up) is not waited for.
LIVE_WINDOW_S = 1.0


class Stamped(NamedTuple):
    stamp_ns: int
    value: Any
    nbytes: int


def format_stamp(ns: int) -> str:
    return f'{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}'


class StampCache:
    """At most ``max_items`` items and ``max_bytes`` bytes by stamp (oldest go first).

    ``what`` names the items in reasons ('frame', 'depth image', 'detection set'); ``limit``
    names the setting that bounds the bytes, for the refusal message.
    """

    def __init__(self, max_items: int, max_bytes: int, what: str = 'item', limit: str = ''):
        if max_items < 1 or max_bytes < 1:
            raise ValueError(f'a cache of {what}s needs room for at least one')
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self.what = what
        self.limit = limit
        self._items: Deque[Stamped] = collections.deque()
        self._bytes = 0
        self._evicted: Deque[int] = collections.deque(maxlen=4096)   # stamps let go
        self._cond = threading.Condition()

    def add(self, stamp_ns: int, value: Any, nbytes: int) -> Tuple[bool, str]:
        """Keep ``value``; (False, why) when it alone is larger than the cache may hold."""
        nbytes = int(nbytes)
        if nbytes > self.max_bytes:
            limit = f', {self.limit}' if self.limit else ''
            return False, (f'{self.what} of {nbytes / 2**20:.1f} MiB is larger than the cache '
                           f'({self.max_bytes / 2**20:.1f} MiB{limit})')
        with self._cond:
            self._items.append(Stamped(int(stamp_ns), value, nbytes))
            self._bytes += nbytes
            while len(self._items) > self.max_items or self._bytes > self.max_bytes:
                old = self._items.popleft()
                self._bytes -= old.nbytes
                self._evicted.append(old.stamp_ns)
            self._cond.notify_all()
        return True, ''

    def find(self, stamp_ns: int) -> Tuple[Optional[Stamped], str]:
        """Return (the item of ``stamp_ns`` (0: the newest), '') or (None, why not)."""
        with self._cond:
            items = list(self._items)
            evicted = stamp_ns in self._evicted
            forgotten = len(self._evicted) == self._evicted.maxlen
        if not items:
            return None, f'no {self.what} received yet'
        if stamp_ns == 0:
            return items[-1], ''
        for item in reversed(items):
            if item.stamp_ns == stamp_ns:
                return item, ''
        held = f'{len(items)} kept, {format_stamp(items[0].stamp_ns)} .. ' \
            f'{format_stamp(items[-1].stamp_ns)}'
        if evicted:
            return None, f'{self.what} {format_stamp(stamp_ns)} is no longer kept ({held})'
        if forgotten and stamp_ns < items[0].stamp_ns:
            return None, f'{self.what} {format_stamp(stamp_ns)} is older than every one ' \
                f'kept ({held})'
        return None, f'no {self.what} with stamp {format_stamp(stamp_ns)} was received ({held})'

    def nearest(self, stamp_ns: int, tolerance_s: float, wait_s: float = 0.0
                ) -> Tuple[Optional[Stamped], str]:
        """Return (the item nearest ``stamp_ns`` within ``tolerance_s``, '') or why not.

        With ``wait_s`` > 0, when nothing within the tolerance is held yet, no item newer than
        ``stamp_ns`` has arrived, and the stream is live (its newest item at most
        ``LIVE_WINDOW_S`` before ``stamp_ns``), wait up to that long for one to arrive. A stream
        that never came or has stopped costs no wait.
        """
        deadline = time.monotonic() + max(0.0, wait_s)
        tolerance_ns = int(round(tolerance_s * 1e9))
        with self._cond:
            while True:
                items = list(self._items)
                best = min(items, key=lambda it: abs(it.stamp_ns - stamp_ns), default=None)
                if best is not None and abs(best.stamp_ns - stamp_ns) <= tolerance_ns:
                    return best, ''
                newest = max((it.stamp_ns for it in items), default=None)
                live = newest is not None and \
                    stamp_ns - newest <= int(LIVE_WINDOW_S * 1e9)
                left = deadline - time.monotonic()
                if not live or newest > stamp_ns or left <= 0:
                    break
                self._cond.wait(left)
        if best is None:
            return None, f'no {self.what} received'
        gap = abs(best.stamp_ns - stamp_ns) / 1e9
        return None, (f'no {self.what} within {tolerance_s:g} s of the frame (nearest '
                      f'{gap:.3f} s away: stale or not synchronised)')

    def clear(self) -> None:
        with self._cond:
            self._items.clear()
            self._bytes = 0
            self._evicted.clear()

    def stamps(self) -> List[int]:
        with self._cond:
            return [it.stamp_ns for it in self._items]

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
