"""Target requests between the request callbacks and the inference worker (pure Python).

A request (service, click, published box) is answered at once: the slow part (decoding the
frame, embedding the template) runs in the callback, while the change to the tracker is queued
here and applied by whoever holds the tracker next - the callback itself when the tracker is
free, else the worker between two frames. So no request ever waits for inference, and the
book of ids answers "is there such a target" and "is there room" without touching the tracker
while it runs.
"""

import itertools
import threading
from typing import Callable, List, Set

from track_core.errors import TooManyTargets


class TargetBook:

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: List[Callable] = []
        self._ids: Set[str] = set()
        self._counter = itertools.count(1)

    @property
    def ids(self) -> List[str]:
        with self._lock:
            return sorted(self._ids)

    def reserve(self, target_id: str, max_targets: int) -> str:
        """Return the id a new or restarted target gets; raise TooManyTargets if no room."""
        with self._lock:
            if not target_id:
                target_id = str(next(self._counter))
                while target_id in self._ids:
                    target_id = str(next(self._counter))
            if target_id not in self._ids and len(self._ids) >= max_targets:
                raise TooManyTargets(f'already tracking {len(self._ids)} targets (max_targets '
                                     f'= {max_targets}); clear one first')
            self._ids.add(target_id)
            return target_id

    def add(self, prepared, target_id: str) -> None:
        """Queue ``prepared`` (from Tracker.prepare_target) under a reserved ``target_id``."""
        with self._lock:
            self._pending.append(lambda tracker: tracker.commit_target(prepared, target_id))

    def remove(self, target_id: str) -> None:
        with self._lock:
            if target_id not in self._ids:
                raise KeyError(f'no target with id {target_id!r} (tracking: '
                               f'{", ".join(sorted(self._ids)) or "none"})')
            self._ids.discard(target_id)
            self._pending.append(lambda tracker: tracker.remove_target(target_id))

    def clear(self) -> int:
        """Queue the removal of every target; return how many there were."""
        with self._lock:
            count = len(self._ids)
            self._ids.clear()
            self._pending.append(lambda tracker: tracker.reset())
            return count

    def apply(self, tracker) -> None:
        """Run the queued changes on ``tracker`` (the caller holds the tracker)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for change in pending:
            change(tracker)

    def forget(self) -> None:
        """Drop every id and queued change (the tracker itself is gone)."""
        with self._lock:
            self._pending = []
            self._ids.clear()
