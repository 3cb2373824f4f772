"""The live-stream engine: a Tracker on the newest frame of a camera stream (no ROS).

``LiveEngine`` owns a ``Tracker`` and one worker thread. The producer (a ROS image callback, a
camera loop, a video reader) calls ``offer(frame)``, which never waits for inference: each frame
enters a ``StampCache`` (recent frames by stamp, for requests that name one) and replaces the
frame waiting in the one-frame slot, so a slow model never builds a backlog and every frame it
skips is counted. Target changes (``select``, ``remove``, ``configure``) are queued and run by the
worker between two frames; ``select`` and ``remove`` return a ``concurrent.futures.Future`` of
a ``Reply`` that says what happened and why. So the only thread that ever touches the tracker is
the worker, and the caller's thread (a ROS executor) never waits for it.

The engine knows nothing of messages: ``decode(frame.data)`` turns a frame's payload into HxWx3
uint8 RGB (raising ``ValueError`` for a frame that cannot be used), ``publish(frame, rgb,
results)`` receives every answered frame, and ``warn(text)`` every problem the worker meets.
``candidates(frame, unseen_results)``, when given, offers boxes (a detector's) for the targets
not seen on a frame (UNSURE or SEARCHING); each is verified by the tracker
(``Tracker.reacquire``, at most ``max_candidates`` a target) before a target moves to it.
Whether a target is there is the tracker's presence state (``TrackResult.state``); the engine
only counts its transitions.
"""

import collections
import concurrent.futures
import itertools
import threading
import time
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from track_core.errors import TooManyTargets
from track_core.runtime.stamps import StampCache
from track_core.runtime.tracker import check_target_id, Tracker, TrackerConfig
from track_core.types import TrackResult, TrackState


class Frame:
    """A received frame, its payload undecoded until someone needs its pixels.

    ``stamp_ns``: the capture time that requests name it by; ``data``: whatever ``decode``
    takes (a ROS message, an array); ``nbytes``: what it costs the cache; ``arrival``:
    ``time.monotonic()`` when it came in (its age and the latency are measured from there).
    """

    __slots__ = ('stamp_ns', 'data', 'nbytes', 'arrival', 'stream')

    def __init__(self, stamp_ns: int, data: Any, nbytes: int,
                 arrival: Optional[float] = None, stream: str = ''):
        self.stamp_ns = int(stamp_ns)
        self.data = data
        self.nbytes = int(nbytes)
        self.arrival = time.monotonic() if arrival is None else arrival
        self.stream = stream


class Reply(NamedTuple):
    """The answer to a target request: success, why (or what was done), the target's id."""

    success: bool
    message: str
    target_id: str = ''


class Status(NamedTuple):
    """What a frame means for a target beyond its result: found again, and since when unseen."""

    reacquired: bool
    seconds_since_seen: float


def replied(success: bool, message: str, target_id: str = '') -> concurrent.futures.Future:
    """Return a Future already holding a Reply (for requests answered without the worker)."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_result(Reply(success, message, target_id))
    return future


# ----------------------------------------------------------------- counters and timing
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


class StreamStats:
    """Frame counters and timing, safe to update from the producer and the worker.

    received: offered; refused: larger than the cache; dropped: replaced in the slot before the
    worker took it; stale: older than ``max_frame_age`` when taken; bad: not decodable, or the
    worker failed on it; processed: answered (published); candidates_dropped: a detector's
    boxes left unverified (over ``max_candidates``, or unusable); look_alikes_refused: boxes
    the network found that the appearance check took for another instance (the target stays
    SEARCHING).
    """

    COUNTERS = ('received', 'dropped', 'stale', 'bad', 'refused', 'processed',
                'candidates_dropped', 'look_alikes_refused')

    TIMES = ('wait_ms', 'tracker_ms', 'overhead_ms')

    def __init__(self, window: int = 100):
        self._lock = threading.Lock()
        self.counts: Dict[str, int] = dict.fromkeys(self.COUNTERS, 0)
        self.meter = RateMeter()
        self.latency_ms = 0.0
        self.times: Dict[str, Deque[float]] = {k: collections.deque(maxlen=window)
                                               for k in self.TIMES}

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def processed(self, arrival: float, now: float) -> None:
        """Count a frame that arrived at ``arrival`` and was answered at ``now`` (monotonic s)."""
        with self._lock:
            self.counts['processed'] += 1
            self.latency_ms = (now - arrival) * 1000.0
            self.meter.tick(now)

    def timing(self, wait_ms: float, tracker_ms: float, overhead_ms: float) -> None:
        """Record where one answered frame's time went.

        wait: from its arrival until the worker took it; tracker: inference and the tracker's
        own work; overhead: the rest of the worker's time on it (decoding the frame, building
        and publishing the messages): what the node adds around the tracker.
        """
        with self._lock:
            for key, value in zip(self.TIMES, (wait_ms, tracker_ms, overhead_ms)):
                self.times[key].append(float(value))

    def median(self, key: str) -> float:
        with self._lock:
            values = sorted(self.times[key])
        return values[len(values) // 2] if values else float('nan')

    @property
    def fps(self) -> float:
        return self.meter.rate

    @property
    def not_processed(self) -> int:
        """Frames that reached the engine but were never answered (dropped, too old)."""
        return self.counts['dropped'] + self.counts['stale']

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def snapshot(self) -> Dict[str, str]:
        with self._lock:
            values = {'fps': f'{self.fps:.1f}', 'latency_ms': f'{self.latency_ms:.1f}'}
            values.update({k: str(v) for k, v in self.counts.items()})
        values.update({f'median_{k}': f'{self.median(k):.2f}' for k in self.TIMES})
        return values


# ----------------------------------------------------------------- the engine
Publish = Callable[[Frame, np.ndarray, Dict[str, TrackResult]], None]
# For the targets not seen after a frame: {id: candidate boxes (x, y, w, h)} to verify.
Candidates = Callable[[Frame, Dict[str, TrackResult]], Dict[str, List[Sequence[float]]]]


class LiveEngine:
    """Trackers driven by live streams: newest frame first, target changes between frames.

    One worker serves every stream (a camera each; ``Frame.stream`` names it, '' for a single
    one): each stream keeps only its newest frame, and the worker takes the streams in turn,
    so no camera starves while another floods. ``trackers`` is a Tracker (one stream, '') or
    {stream: Tracker}; the trackers may share one backend (one model in memory). Target ids
    are unique over all streams.

    ``start()`` starts the worker; ``stop()`` stops it and waits (nothing is published after
    it returns; requests still queued are answered as refused). More than ``max_queued``
    requests waiting at once are answered "busy" at once, so every request gets an answer.
    ``running`` says whether frames are taken. ``target_ids``, ``stats`` (the first stream's)
    and ``stream_stats`` are read without touching the trackers.
    """

    def __init__(self, trackers, decode: Callable[[Any], np.ndarray],
                 publish: Publish, cache_frames: int = 30, cache_bytes: int = 256 * 2 ** 20,
                 max_frame_age: float = 0.0, warn: Callable[[str], None] = lambda text: None,
                 max_queued: int = 256, candidates: Optional[Candidates] = None):
        if isinstance(trackers, Tracker):
            trackers = {'': trackers}
        if not trackers:
            raise ValueError('a live engine needs at least one stream')
        self._trackers: Dict[str, Tracker] = dict(trackers)
        self.streams: Tuple[str, ...] = tuple(self._trackers)
        self._decode = decode
        self._publish = publish
        self._warn = warn
        self.caches = {name: StampCache(cache_frames, cache_bytes, 'frame', 'frame_cache_mb')
                       for name in self.streams}
        self.stream_stats = {name: StreamStats() for name in self.streams}
        self.max_frame_age = float(max_frame_age)
        self.max_queued = int(max_queued)
        self._candidates = candidates
        self.reacquired = 0                 # by the candidates (a detector's help)
        self.losses = 0                     # -> SEARCHING, over all targets
        self.recoveries = 0                 # SEARCHING -> REACQUIRED, however found again
        self._searching: Dict[Tuple[str, str], bool] = {}
        self._last_seen: Dict[Tuple[str, str], int] = {}
        self.status: Dict[str, Status] = {}     # of the frame being published
        self._cond = threading.Condition()
        self._frames: Dict[str, Optional[Frame]] = dict.fromkeys(self.streams)
        self._turn: Deque[str] = collections.deque(self.streams)
        self._changes: Deque[Tuple[Callable[[Tracker], Reply],
                                   Optional[concurrent.futures.Future]]] = collections.deque()
        self._open = False
        self._worker: Optional[threading.Thread] = None
        self._worker_thread: Optional[threading.Thread] = None
        self._ids: Dict[str, Tuple[str, ...]] = {
            name: tuple(t.target_ids) for name, t in self._trackers.items()}
        self._next_id = itertools.count(1)
        first = self._trackers[self.streams[0]]
        self._config = first.config
        self._max_targets = first.max_targets

    # ----------------------------------------------------------------- state
    @property
    def running(self) -> bool:
        return self._open

    @property
    def cache(self) -> StampCache:
        """Return the first stream's frame cache: a single-stream engine's only one."""
        return self.caches[self.streams[0]]

    @property
    def stats(self) -> StreamStats:
        """Return the first stream's counters: a single-stream engine's only ones."""
        return self.stream_stats[self.streams[0]]

    @property
    def target_ids(self) -> List[str]:
        """Return the targets of every stream after the last change the worker applied."""
        return [tid for ids in self._ids.values() for tid in ids]

    def targets_of(self, stream: str) -> List[str]:
        """Return ``stream``'s targets after the last change the worker applied."""
        return list(self._ids.get(stream, ()))

    def tracker(self, stream: Optional[str] = None) -> Tracker:
        """Return the tracker of ``stream``, by default of the first stream.

        It belongs to the worker: wrap it (to time or to hold inference) before frames come,
        and never call it from another thread while the engine runs.
        """
        return self._trackers[self.streams[0] if stream is None else stream]

    @property
    def config(self) -> TrackerConfig:
        """The run-time settings in force (or queued to be, from the next frame on)."""
        return self._config

    @property
    def max_targets(self) -> int:
        return self._max_targets

    @property
    def worker_alive(self) -> bool:
        """Say whether the worker thread still runs (after ``stop``: it outlived the wait)."""
        worker = self._worker_thread
        return worker is not None and worker.is_alive()

    @property
    def waiting(self) -> bool:
        """Say whether a frame waits in a slot for the worker."""
        with self._cond:
            return any(f is not None for f in self._frames.values())

    # ----------------------------------------------------------------- worker
    def start(self) -> None:
        with self._cond:
            if self._open:
                return
            self._open = True
        worker = threading.Thread(target=self._work, name='track_worker', daemon=True)
        worker.start()
        self._worker = self._worker_thread = worker     # only a started thread is joined

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker and wait for it; queued requests are answered as refused."""
        with self._cond:
            self._open = False
            self._frames = dict.fromkeys(self.streams)
            self._cond.notify_all()
        worker, self._worker = self._worker, None
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=timeout)
        with self._cond:
            changes, self._changes = list(self._changes), collections.deque()
        for _, future in changes:
            if future is not None and not future.done():
                future.set_result(Reply(False, 'stopped before the request was handled'))

    def _next_frame(self) -> Optional[Frame]:
        """Take the waiting frame of the next stream in turn (call with the lock held)."""
        for _ in range(len(self._turn)):
            name = self._turn[0]
            self._turn.rotate(-1)
            frame = self._frames[name]
            if frame is not None:
                self._frames[name] = None
                return frame
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._open and not self._changes and \
                        all(f is None for f in self._frames.values()):
                    self._cond.wait(0.5)
                if not self._open:
                    return
                changes, self._changes = list(self._changes), collections.deque()
                frame = self._next_frame()
            for change, future in changes:
                self._apply(change, future)
            if frame is not None:
                try:
                    self._process(frame)
                except Exception as exc:  # noqa: BLE001 - the worker outlives any bad frame
                    if not self._open:
                        return            # stopping: the publisher may already be gone
                    self.stream_stats[frame.stream].count('bad')
                    self._warn(f'frame skipped: {type(exc).__name__}: {exc}')

    def _apply(self, change, future) -> None:
        try:
            reply = change(self._trackers)
        except Exception as exc:  # noqa: BLE001 - a request must always get an answer
            reply = Reply(False, f'{type(exc).__name__}: {exc}')
        self._ids = {name: tuple(t.target_ids) for name, t in self._trackers.items()}
        if future is not None:
            future.set_result(reply)

    def _process(self, frame: Frame) -> None:
        stats = self.stream_stats[frame.stream]
        tracker = self._trackers[frame.stream]
        taken = time.monotonic()
        if self.max_frame_age and taken - frame.arrival > self.max_frame_age:
            stats.count('stale')
            return
        try:      # decoded even without a target, so a bad stream is reported at once
            rgb = self._decode(frame.data)
        except ValueError as exc:
            stats.count('bad')
            self._warn(f'image skipped: {exc}')
            return
        start = time.monotonic()
        refused = tracker.look_alikes_refused
        results = tracker.track_all(rgb) if self._ids[frame.stream] else {}
        if self._candidates is not None:
            self._reacquire(frame, tracker, stats, rgb, results)
        stats.count('look_alikes_refused', tracker.look_alikes_refused - refused)
        tracked = time.monotonic()
        self.status = self._transitions(frame.stream, frame.stamp_ns, results)
        stats.processed(frame.arrival, tracked)
        if self._open:
            self._publish(frame, rgb, results)
        done = time.monotonic()
        stats.timing((taken - frame.arrival) * 1000.0, (tracked - start) * 1000.0,
                     ((done - taken) - (tracked - start)) * 1000.0)

    def _transitions(self, stream: str, stamp_ns: int, results) -> Dict[str, 'Status']:
        """Count losses and recoveries (the states say them); each target's status."""
        out = {}
        for tid, result in results.items():
            key = (stream, tid)
            searching = result.state == TrackState.SEARCHING
            if searching and not self._searching.get(key, False):
                self.losses += 1
            self.recoveries += result.state == TrackState.REACQUIRED
            if result.present:
                self._last_seen[key] = stamp_ns
            seen = self._last_seen.get(key, stamp_ns)
            out[tid] = Status(result.state == TrackState.REACQUIRED,
                              max(0.0, (stamp_ns - seen) / 1e9))
            self._searching[key] = searching
        for key in list(self._searching):
            if key[0] == stream and key[1] not in results:      # removed: forget it
                self._searching.pop(key, None)
                self._last_seen.pop(key, None)
        return out

    def _reacquire(self, frame: Frame, tracker: Tracker, stats: StreamStats, rgb,
                   results) -> None:
        """Offer the targets not seen on this frame the candidates given; each is verified."""
        unseen = {tid: r for tid, r in results.items() if not r.present}
        if not unseen:
            return
        before = tracker.candidates_dropped
        for tid, boxes in self._candidates(frame, unseen).items():
            if not self._open:
                break                       # stopping: the rest can wait for no one
            if tid in unseen and boxes:
                found = tracker.reacquire(tid, rgb, boxes, stop=lambda: not self._open)
                if found is not None:
                    results[tid] = found
                    self.reacquired += 1
        stats.count('candidates_dropped', tracker.candidates_dropped - before)

    # ----------------------------------------------------------------- producer side
    def offer(self, frame: Frame) -> Tuple[bool, str]:
        """Hand a frame to the engine; (False, why) when it was refused (too large)."""
        if frame.stream not in self._frames:
            return False, f'no stream {frame.stream!r} (streams: {", ".join(self.streams)})'
        stats = self.stream_stats[frame.stream]
        stats.count('received')
        kept, why = self.caches[frame.stream].add(frame.stamp_ns, frame, frame.nbytes)
        if not kept:
            stats.count('refused')
            return False, why
        with self._cond:
            if not self._open:
                return True, ''
            if self._frames[frame.stream] is not None:
                stats.count('dropped')
            self._frames[frame.stream] = frame
            self._cond.notify()
        return True, ''

    def _queue(self, change) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if not self._open:
                future.set_result(Reply(False, 'not running (inactive)'))
                return future
            if len(self._changes) >= self.max_queued:
                future.set_result(Reply(False, f'busy: {len(self._changes)} requests are '
                                        'waiting for the tracker; try again'))
                return future
            self._changes.append((change, future))
            self._cond.notify()
        return future

    # ----------------------------------------------------------------- requests
    def select(self, stamp_ns: int, box, target_id: str = '', label: str = '',
               stream: Optional[str] = None) -> concurrent.futures.Future:
        """Start (or restart) ``target_id`` on ``box`` (x, y, w, h) in frame ``stamp_ns``.

        The frame comes from ``stream``'s cache (0: the newest; None: the first stream); an
        empty id gets the next number free on every stream; an id tracked on another stream is
        refused, and so is an invalid one (``check_target_id``), at once. ``label``: what the
        target is (a detector's class), kept with the target (``TrackResult.label``).
        """
        stream = self.streams[0] if stream is None else stream
        why = _id_problem(target_id) or self._stream_problem(stream)
        if why:
            return replied(False, why)
        return self._queue(lambda trackers: self._select(trackers, stream, stamp_ns, box,
                                                         target_id, label))

    def remove(self, target_id: str = '', stream: Optional[str] = None
               ) -> concurrent.futures.Future:
        """Stop tracking ``target_id`` on ``stream``; an empty id removes all its targets."""
        stream = self.streams[0] if stream is None else stream
        why = _id_problem(target_id) or self._stream_problem(stream)
        if why:
            return replied(False, why)
        return self._queue(lambda trackers: _remove(trackers[stream], target_id))

    def _stream_problem(self, stream: str) -> str:
        return '' if stream in self._trackers else \
            f'no camera {stream!r} (cameras: {", ".join(self.streams)})'

    def configure(self, config: Optional[TrackerConfig] = None,
                  max_targets: Optional[int] = None) -> None:
        """Change run-time settings and/or the target limit (per stream) from the next frame."""
        if config is not None:
            self._config = config
        if max_targets is not None:
            self._max_targets = int(max_targets)

        def change(trackers):
            for tracker in trackers.values():
                if config is not None:
                    tracker.set_config(config)
                if max_targets is not None:
                    tracker.max_targets = int(max_targets)
            return Reply(True, 'configured')
        with self._cond:
            if self._open:          # the worker applies it between two frames
                self._changes.append((change, None))
                self._cond.notify()
            else:                   # no worker to race with
                change(self._trackers)

    def _select(self, trackers, stream: str, stamp_ns: int, box, target_id: str,
                label: str = '') -> Reply:
        tracker = trackers[stream]
        others = {tid: name for name, t in trackers.items() if name != stream
                  for tid in t.target_ids}
        if target_id in others:
            return Reply(False, f'id {target_id!r} is tracked on camera {others[target_id]!r}; '
                         'ids are unique over the cameras', target_id)
        item, why = self.caches[stream].find(stamp_ns)
        if item is None:
            return Reply(False, why, target_id)
        frame = item.value
        try:
            rgb = self._decode(frame.data)
        except ValueError as exc:
            return Reply(False, f'that frame is unusable: {exc}', target_id)
        try:
            prepared = tracker.prepare_target(rgb, box, label)
        except ValueError as exc:
            shown = tuple(round(float(v), 2) for v in box)
            return Reply(False, f'invalid box {shown}: {exc}', target_id)
        if not target_id:
            used = {tid for t in trackers.values() for tid in t.target_ids}
            target_id = str(next(self._next_id))
            while target_id in used:
                target_id = str(next(self._next_id))
        try:
            tid = tracker.commit_target(prepared, target_id)
        except TooManyTargets as exc:
            return Reply(False, f'refused: {exc}', target_id)
        shown = tuple(round(float(v), 1) for v in box)
        return Reply(True, f'tracking target {tid} at {shown}', tid)


def _id_problem(target_id: str) -> str:
    if not target_id:
        return ''
    try:
        check_target_id(target_id)
    except ValueError as exc:
        return f'invalid target id: {exc}'
    return ''


def _remove(tracker: Tracker, target_id: str) -> Reply:
    if not target_id:
        count = len(tracker.target_ids)
        tracker.reset()
        return Reply(True, f'cleared {count} target(s)')
    try:
        tracker.remove_target(target_id)
    except KeyError as exc:
        return Reply(False, str(exc).strip('"'), target_id)
    return Reply(True, f'cleared {target_id}', target_id)
