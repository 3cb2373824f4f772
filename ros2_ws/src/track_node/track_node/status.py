"""What the node counts and measures (pure Python): frames in, out, dropped; rate, latency."""

import collections
import threading
from typing import Deque, Dict


class RateMeter:
    """Events per second over the last ``window`` events (0 until there are two)."""

    def __init__(self, window: int = 30):
        self._times: Deque[float] = collections.deque(maxlen=max(2, int(window)))

    def tick(self, now: float) -> None:
        self._times.append(now)

    @property
    def rate(self) -> float:
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


class NodeStats:
    """Frame counters and timing, safe to update from the callbacks and the worker."""

    COUNTERS = ('received', 'dropped', 'stale', 'bad', 'refused', 'processed')

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Dict[str, int] = dict.fromkeys(self.COUNTERS, 0)
        self.meter = RateMeter()
        self.latency_ms = 0.0

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def processed(self, arrival: float, now: float) -> None:
        """Count a frame that arrived at ``arrival`` and was answered at ``now`` (monotonic s)."""
        with self._lock:
            self.counts['processed'] += 1
            self.latency_ms = (now - arrival) * 1000.0
            self.meter.tick(now)

    @property
    def fps(self) -> float:
        return self.meter.rate

    @property
    def not_processed(self) -> int:
        """Count the frames that reached the node but were never answered (dropped, too old)."""
        return self.counts['dropped'] + self.counts['stale']

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def snapshot(self) -> Dict[str, str]:
        with self._lock:
            values = {'fps': f'{self.fps:.1f}', 'latency_ms': f'{self.latency_ms:.1f}'}
            values.update({k: str(v) for k, v in self.counts.items()})
        return values
