"""The live-stream engine without ROS: frames in, results out, requests between frames.

A real model (the shipped default through the PyTorch backend) runs in the engine's worker;
frames are generated arrays handed in as a camera loop would.
"""

import dataclasses
import pathlib
import threading
import time

import numpy as np
import pytest

from track_core.boxes import iou_xywh
from track_core.runtime import load_tracker, TrackerConfig
from track_core.runtime.live import Frame, LiveEngine, RateMeter, StreamStats
from track_core.runtime.stamps import StampCache

MODEL = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'default.safetensors'
SEC = 1_000_000_000


def scene(i, size=(240, 320), box=(60, 70, 56, 48), speed=(3, 1), visible=True):
    """Draw a textured square moving over a smooth background: (rgb, true box)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 0.4 + 60, yy * 0.5 + 70, np.full_like(xx, 110.0)], -1).astype(np.uint8)
    x, y = box[0] + speed[0] * i, box[1] + speed[1] * i
    if visible:
        patch = np.random.default_rng(0).integers(0, 256, (box[3], box[2], 3), dtype=np.uint8)
        patch[:3], patch[-3:], patch[:, :3], patch[:, -3:] = 255, 255, 255, 255
        rgb[y:y + box[3], x:x + box[2]] = patch
    return rgb, (float(x), float(y), float(box[2]), float(box[3]))


def decode(data):
    if not isinstance(data, np.ndarray):
        raise ValueError(f'not an image: {data!r}')
    return data


class Sink:
    """Collects what the engine publishes; ``hold()`` makes the worker wait in publish."""

    def __init__(self):
        self.out = []
        self.cond = threading.Condition()
        self.gate = threading.Event()
        self.gate.set()
        self.inside = threading.Event()     # the worker is waiting at the gate

    def __call__(self, frame, rgb, results):
        if not self.gate.is_set():
            self.inside.set()
            self.gate.wait(30)
        with self.cond:
            self.out.append((frame.stamp_ns, results))
            self.cond.notify_all()

    def wait_for(self, count, timeout=30):
        with self.cond:
            return self.cond.wait_for(lambda: len(self.out) >= count, timeout)


@pytest.fixture(scope='module')
def tracker_factory():
    if not MODEL.is_file():
        pytest.fail(f'{MODEL} is missing (it ships with the repository)')
    return lambda: load_tracker(MODEL, device='cpu', backend='torch', threads=1)


@pytest.fixture
def live(tracker_factory):
    sink = Sink()
    warnings = []
    engine = LiveEngine(tracker_factory(), decode, sink, cache_frames=10,
                        warn=warnings.append)
    engine.sink, engine.warnings = sink, warnings
    engine.start()
    yield engine
    sink.gate.set()
    engine.stop()


def offer(engine, i, **scene_args):
    rgb, box = scene(i, **scene_args)
    assert engine.offer(Frame(i * SEC, rgb, rgb.nbytes)) == (True, '')
    return box


def eventually(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def returns_promptly(call, timeout=10.0):
    """Run ``call`` in a thread; True when it returned within ``timeout`` (not blocked)."""
    done = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(done)


# ----------------------------------------------------------------- the engine
def test_a_selected_target_is_followed_frame_after_frame(live):
    box = offer(live, 1)
    assert live.sink.wait_for(1)
    assert live.sink.out[0] == (1 * SEC, {})                 # answered before any target
    reply = live.select(1 * SEC, box).result(30)
    assert reply.success and reply.target_id == '1', reply
    assert live.target_ids == ['1']
    ious = []
    for i in range(2, 14):
        truth = offer(live, i)
        assert live.sink.wait_for(i)
        stamp, results = live.sink.out[-1]
        assert stamp == i * SEC and list(results) == ['1']
        ious.append(float(iou_xywh(np.array(results['1'].box), np.array(truth))[0]))
    assert np.mean(ious[-5:]) > 0.5, ious
    reply = live.remove('1').result(30)
    assert reply.success and live.target_ids == []


def test_only_the_newest_frame_waits_and_every_skipped_one_is_counted(live):
    live.sink.gate.clear()
    offer(live, 1)
    assert live.sink.inside.wait(30)                    # the worker is busy with frame 1
    for i in (2, 3, 4):
        offer(live, i)
    live.sink.gate.set()
    assert live.sink.wait_for(2)
    assert [stamp for stamp, _ in live.sink.out] == [1 * SEC, 4 * SEC]
    assert live.stats['dropped'] == 2 and live.stats['received'] == 4
    assert live.stats.not_processed == 2


def test_nothing_the_caller_does_waits_for_the_worker(live):
    box = offer(live, 1)
    assert live.sink.wait_for(1)
    live.sink.gate.clear()
    offer(live, 2)
    assert live.sink.inside.wait(30)                    # inference done, worker held
    pending = []
    assert returns_promptly(lambda: pending.append(live.select(1 * SEC, box, 'dog')))
    assert returns_promptly(lambda: offer(live, 3))
    assert returns_promptly(lambda: live.configure(TrackerConfig(lost_threshold=0.2), 4))
    assert returns_promptly(lambda: (live.target_ids, live.stats.snapshot(), live.config))
    assert not pending[0].done()                        # answered by the worker, later
    live.sink.gate.set()
    reply = pending[0].result(30)
    assert reply.success and reply.target_id == 'dog'
    assert live.config.lost_threshold == 0.2 and live.max_targets == 4


def test_refusals_say_why(live, tracker_factory):
    box = offer(live, 1)
    assert live.sink.wait_for(1)
    for stamp, bad_box, words in (
            (7 * SEC, box, 'no frame with stamp 7.000000000 was received'),
            (1 * SEC, (10, 10, 0, 20), 'positive'),
            (1 * SEC, (900, 10, 20, 20), 'outside the image'),
            (1 * SEC, (10, 10, float('nan'), 20), 'NaN')):
        reply = live.select(stamp, bad_box).result(30)
        assert not reply.success and words in reply.message, reply
    live.configure(max_targets=1)
    assert live.select(1 * SEC, box).result(30).success
    reply = live.select(1 * SEC, box).result(30)
    assert not reply.success and reply.message.startswith('refused: already tracking 1')
    assert live.select(1 * SEC, box, '1').result(30).success       # a restart has room
    reply = live.remove('nope').result(30)
    assert not reply.success and 'no target' in reply.message
    assert live.remove().result(30).message == 'cleared 1 target(s)'
    stopped = LiveEngine(tracker_factory(), decode, Sink())
    reply = stopped.select(0, box).result(1)
    assert not reply.success and 'not running' in reply.message


def test_bad_and_stale_frames_are_counted_and_the_worker_goes_on(live):
    live.max_frame_age = 1.0
    assert live.offer(Frame(1 * SEC, 'garbage', 10)) == (True, '')
    assert eventually(lambda: live.stats['bad'] == 1)
    assert 'not an image' in ' '.join(live.warnings)
    # arrived "at monotonic 0": long ago, so it is stale when taken
    assert live.offer(Frame(2 * SEC, scene(2)[0], 10, arrival=0.0)) == (True, '')
    assert eventually(lambda: live.stats['stale'] == 1)
    box = offer(live, 3)
    assert live.sink.wait_for(1) and live.sink.out[0][0] == 3 * SEC
    assert live.select(3 * SEC, box).result(30).success
    reply = live.select(1 * SEC, box).result(30)
    assert not reply.success and 'unusable' in reply.message
    assert live.offer(Frame(9 * SEC, None, 10 ** 12))[0] is False      # larger than the cache
    assert live.stats['refused'] == 1


def test_stop_answers_the_requests_still_queued(tracker_factory):
    sink = Sink()
    engine = LiveEngine(tracker_factory(), decode, sink)
    engine.start()
    box = offer(engine, 1)
    assert sink.wait_for(1)
    sink.gate.clear()
    offer(engine, 2)
    assert sink.inside.wait(30)
    queued = engine.select(1 * SEC, box)
    stopper = threading.Thread(target=engine.stop)
    stopper.start()
    sink.gate.set()
    stopper.join(30)
    assert not stopper.is_alive() and not engine.running
    reply = queued.result(1)
    assert not reply.success and 'stopped' in reply.message
    count = len(sink.out)
    engine.offer(Frame(5 * SEC, scene(5)[0], 10))
    assert len(sink.out) == count                       # stopped: nothing is published


# ----------------------------------------------------------------- its parts
def add(cache, sec, nbytes=100):
    return cache.add(sec * SEC, None, nbytes)


def test_cache_finds_by_stamp_and_tells_evicted_from_never_received():
    cache = StampCache(max_items=3, max_bytes=10_000, what='frame')
    for sec in range(1, 6):
        assert add(cache, sec) == (True, '')
    assert cache.stamps() == [3 * SEC, 4 * SEC, 5 * SEC]
    assert cache.find(4 * SEC)[0].stamp_ns == 4 * SEC
    assert cache.find(0)[0].stamp_ns == 5 * SEC               # zero: the newest
    none, why = cache.find(1 * SEC)
    assert none is None and 'no longer kept' in why
    none, why = cache.find(42 * SEC)
    assert none is None and 'was received' in why and 'no longer' not in why


def test_cache_is_bounded_in_bytes_and_refuses_an_item_larger_than_itself():
    cache = StampCache(max_items=100, max_bytes=1000, what='frame', limit='frame_cache_mb')
    for sec in range(10):
        add(cache, sec, nbytes=300)
    assert len(cache) == 3 and cache.nbytes == 900
    kept, why = add(cache, 99, nbytes=5000)
    assert not kept and 'frame_cache_mb' in why and len(cache) == 3
    empty = StampCache(1, 1, what='frame')
    assert empty.find(0) == (None, 'no frame received yet')
    with pytest.raises(ValueError):
        StampCache(0, 10)


def test_nearest_takes_the_closest_within_tolerance_and_waits_for_a_late_one():
    cache = StampCache(10, 10_000, what='depth image')
    add(cache, 1)
    assert cache.nearest(SEC + 10_000_000, 0.02)[0].stamp_ns == SEC
    none, why = cache.nearest(2 * SEC, 0.02)
    assert none is None and '1.000 s away' in why
    # the depth of frame 2 arrives 50 ms after the lookup starts: a wait finds it
    late = threading.Timer(0.05, lambda: add(cache, 2))
    late.start()
    found, why = cache.nearest(2 * SEC, 0.0, wait_s=5.0)
    late.join()
    assert found is not None and found.stamp_ns == 2 * SEC, why
    # a newer item than the frame has arrived: nothing older will, so no wait
    add(cache, 4)
    none, _ = cache.nearest(3 * SEC, 0.0, wait_s=60.0)
    assert none is None
    # a stream that stopped long before the frame, or never came: no wait either (the item
    # for the frame comes 0.3 s later; a lookup that waited would have found it)
    for book, frame_sec in ((cache, 60), (StampCache(10, 10_000), 1)):
        late = threading.Timer(0.3, lambda b=book, s=frame_sec: add(b, s))
        late.start()
        none, why = book.nearest(frame_sec * SEC, 0.0, wait_s=30.0)
        late.join()
        assert none is None and why


def test_rate_meter_and_stats():
    meter = RateMeter(window=5)
    assert meter.rate == 0.0
    for t in range(10):
        meter.tick(t * 0.1)
    assert meter.rate == pytest.approx(10.0)
    stats = StreamStats()
    stats.count('received', 3)
    stats.count('dropped')
    stats.processed(arrival=1.0, now=1.025)
    assert stats.latency_ms == pytest.approx(25.0) and stats['processed'] == 1
    snap = stats.snapshot()
    assert snap['received'] == '3' and snap['dropped'] == '1' and 'fps' in snap
    assert stats.not_processed == 1


def test_past_its_bound_a_request_is_answered_busy_at_once(tracker_factory):
    sink = Sink()
    engine = LiveEngine(tracker_factory(), decode, sink, max_queued=3)
    engine.start()
    try:
        box = offer(engine, 1)
        assert sink.wait_for(1)
        sink.gate.clear()
        offer(engine, 2)
        assert sink.inside.wait(30)                     # the worker is held
        futures = [engine.select(1 * SEC, box, f't{k}') for k in range(5)]
        assert [f.done() for f in futures] == [False, False, False, True, True]
        assert futures[4].result().message.startswith('busy: 3 requests are waiting')
        sink.gate.set()
        assert all(f.result(30).success for f in futures[:3])
    finally:
        sink.gate.set()
        engine.stop()


def test_ids_and_boxes_that_cannot_be_tracked_are_refused_with_the_reason(live):
    box = offer(live, 1)
    assert live.sink.wait_for(1)
    reply = live.select(1 * SEC, box, 'x' * 1_000_000).result(1)
    assert not reply.success and 'longer than 64' in reply.message and len(reply.message) < 200
    reply = live.select(1 * SEC, box, 'bad\nid').result(1)
    assert not reply.success and 'characters other than' in reply.message
    reply = live.select(1 * SEC, (100, 100, 1, 1)).result(30)
    assert not reply.success and 'too small to track' in reply.message
    assert live.select(1 * SEC, box, 'robot_7.a:b-c').result(30).success


def test_a_lost_target_is_reacquired_only_on_a_candidate_the_tracker_verifies(tracker_factory):
    # the target jumps out of reach: the tracker alone stays LOST (its own frame scan off,
    # which would find it: test_the_frame_scan_finds_a_target_that_came_back_elsewhere); a
    # detector's candidate on empty background is refused, the one on the target accepted
    offered = {'boxes': []}
    sink = Sink()
    tracker = tracker_factory()
    tracker.set_config(dataclasses.replace(tracker.config, scan_tiles=0))
    engine = LiveEngine(tracker, decode, sink,
                        candidates=lambda frame, lost: {t: offered['boxes'] for t in lost})
    engine.start()
    try:
        box = offer(engine, 0)
        assert sink.wait_for(1)
        assert engine.select(0, box, 'dog').result(30).success
        for i in range(1, 5):
            offer(engine, i)
            assert sink.wait_for(i + 1)
        jumped = {'box': (230, 170, 56, 48), 'speed': (0, 0)}

        def step(i):
            truth = offer(engine, i, **jumped)
            assert sink.wait_for(i + 1)
            result = sink.out[-1][1]['dog']
            return result, float(iou_xywh(np.array(result.box), np.array(truth))[0]), truth
        for i in range(5, 17):
            result, overlap, truth = step(i)
        assert result.state.name == 'SEARCHING' and overlap == 0.0
        # nothing there: 500 boxes on the background, of which max_candidates are verified
        offered['boxes'] = [(20 + i % 50, 150, 56, 48) for i in range(500)]
        result, overlap, _ = step(17)
        assert result.state.name == 'SEARCHING' and engine.reacquired == 0
        assert engine.stats['candidates_dropped'] == 500 - tracker.config.max_candidates
        offered['boxes'] = [(20, 150, 56, 48), truth]   # and the target
        result, overlap, _ = step(18)
        assert result.state.name == 'REACQUIRED' and overlap > 0.7 and engine.reacquired == 1
        assert engine.losses == 1 and engine.recoveries == 1
        offered['boxes'] = []
        result, overlap, _ = step(19)                   # and it keeps following it
        assert result.state.name == 'TRACKING' and overlap > 0.7
    finally:
        engine.stop()


@pytest.mark.parametrize('scan_tiles', [0, 8])
def test_the_frame_scan_finds_a_target_that_came_back_elsewhere(tracker_factory, scan_tiles):
    tracker = tracker_factory()
    tracker.set_config(dataclasses.replace(tracker.config, scan_tiles=scan_tiles,
                                           scan_confirm=2))
    rgb, box = scene(0)
    tracker.initialize(rgb, box)
    for i in range(1, 5):
        tracker.track(scene(i)[0])
    gone = {'visible': False}
    states = [tracker.track(scene(i, **gone)[0]).state.name for i in range(5, 15)]
    assert states[-1] == 'SEARCHING'                   # it left (and nothing was taken)
    elsewhere = {'box': (240, 160, 56, 48), 'speed': (0, 0)}
    found = []
    for i in range(15, 30):
        frame, truth = scene(i, **elsewhere)
        result = tracker.track(frame)
        found.append(result.present and
                     iou_xywh(np.array(result.box), np.array(truth))[0] > 0.5)
    if scan_tiles:
        assert any(found), 'the scan never found it'
    else:
        assert not any(found)                          # out of reach of the widened search


def test_where_each_frames_time_goes_is_recorded(live):
    import time as clock

    def slow_publish(frame, rgb, results):
        clock.sleep(0.02)                               # a publisher that costs 20 ms
        live.sink(frame, rgb, results)
    live._publish = slow_publish
    box = offer(live, 1)
    assert live.sink.wait_for(1)
    assert live.select(1 * SEC, box).result(30).success
    for i in range(2, 6):
        offer(live, i)
        assert live.sink.wait_for(i)
    snap = live.stats.snapshot()
    assert live.stats.median('overhead_ms') >= 20.0      # the publisher's time is the node's
    assert 0 < live.stats.median('tracker_ms') and live.stats.median('wait_ms') >= 0
    assert {'median_wait_ms', 'median_tracker_ms', 'median_overhead_ms'} <= set(snap)


def test_candidates_are_verified_nearest_first_in_chunks_up_to_the_cap():
    from track_core.runtime.search import CANDIDATE_CHUNK, verify_candidates
    chunks = []

    def probe(boxes, min_score, min_iou):       # passes the box at x = 500 only
        chunks.append(list(boxes))
        hit = [b for b in boxes if b[0] == 500]
        return (0.9, hit[0]) if hit else None
    boxes = [(float(x), 0.0, 10.0, 10.0) for x in range(1000, 0, -10)]
    bad = [(float('nan'), 0, 10, 10), (1, 1, 0, 10), (1e300, 0, -5, 5)]
    found, verified, dropped = verify_candidates(boxes + bad, (0.0, 5.0), probe, 0.5, 0.5, 64)
    assert found == (0.9, (500.0, 0.0, 10.0, 10.0))
    assert all(len(c) <= CANDIDATE_CHUNK for c in chunks)
    assert [b[0] for c in chunks for b in c] == sorted(b[0] for c in chunks for b in c)
    assert chunks[0][0][0] == 10.0 and verified == 56       # stopped at the chunk with it
    assert dropped == 3 + 100 - 64
    chunks.clear()
    found, verified, dropped = verify_candidates(boxes, (0.0, 5.0), probe, 0.5, 0.5, 20)
    assert found is None and verified == 20 and dropped == 80    # it is beyond the cap


def test_a_stop_that_outlives_its_wait_says_the_worker_still_runs(live):
    # A worker held past the stop's wait (a long batch): stop() returns at its timeout and
    # says so, so a process can leave without finalising under it (process.py exits 0);
    # the worker then finishes the frame it held and ends by itself.
    offer(live, 0)
    assert live.sink.wait_for(1)
    live.sink.gate.clear()
    offer(live, 1)
    assert live.sink.inside.wait(30)
    start = time.monotonic()
    live.stop(timeout=0.2)
    assert time.monotonic() - start < 5 and live.worker_alive
    live.sink.gate.set()
    assert eventually(lambda: not live.worker_alive, 30)


@pytest.mark.parametrize('motion_decay', [0.0, 1.0])
def test_the_search_follows_a_lost_target_that_keeps_moving(tracker_factory, motion_decay):
    # A target moving 10 px a frame is hidden for 30 frames while it goes on (300 px, beyond
    # the widest search around the held box) and shows up ahead: the motion model's search
    # meets it there; without it (and without the frame scan) it is not found. While hidden
    # nothing is reported, and the reported box stays where the target was lost.
    tracker = tracker_factory()
    tracker.set_config(dataclasses.replace(tracker.config, scan_tiles=0,
                                           motion_decay=motion_decay))
    road = {'size': (480, 640), 'box': (40, 200, 24, 24), 'speed': (10, 0)}
    rgb, box = scene(0, **road)
    tracker.initialize(rgb, box)
    for i in range(1, 7):
        assert tracker.track(scene(i, **road)[0]).present
    hidden = [tracker.track(scene(i, **road, visible=False)[0]) for i in range(7, 37)]
    assert not any(r.present for r in hidden)
    assert hidden[-1].state.name == 'SEARCHING' and hidden[-1].box == hidden[-2].box
    found = []
    for i in range(37, 45):
        rgb, truth = scene(i, **road)
        r = tracker.track(rgb)
        found.append(r.present and iou_xywh(np.array(r.box), np.array(truth))[0] > 0.5)
    assert any(found) == (motion_decay > 0), found


def test_the_frame_scan_looks_first_where_a_lost_target_is_heading():
    # The prediction runs from the last TRACKING frame at the velocity it had then, counting
    # the UNSURE frames as well; the scan's first tile of each frame is there, and none is
    # spent on it while the local search around the held box still covers it.
    from track_core.runtime import search
    from track_core.net.config import PreprocessConfig
    state, cfg = search.SearchState(), TrackerConfig(scan_tiles=3)
    for x in range(100, 160, 10):                       # TRACKING, 10 px a frame
        search.observe_motion(state, (x - 10.0, 50.0), (float(x), 50.0))
    held = (165.0, 50.0)                                # the UNSURE frame's box
    search.unseen(state)                                # an UNSURE frame
    search.widen(state, cfg, held, (640, 480))          # then SEARCHING
    assert np.allclose(state.ahead, (170.0, 50.0))
    seen = []

    def probe(boxes, min_score, min_iou):                # finds nothing
        seen.append(list(boxes))
    size, pre = (20.0, 20.0), PreprocessConfig()
    search.scan(state, held, size, (640, 480), pre, cfg, probe)
    assert len(seen[-1]) == 3 and seen[-1][0] != (160.0, 40.0, 20.0, 20.0)    # 5 px: covered
    for _ in range(5):
        search.widen(state, cfg, held, (640, 480))
    search.scan(state, held, size, (640, 480), pre, cfg, probe)
    assert np.allclose(state.ahead, (220.0, 50.0))
    assert len(seen[-1]) == 3 and seen[-1][0] == (210.0, 40.0, 20.0, 20.0)
    for _ in range(60):                                 # it stops at the frame's edge
        search.widen(state, cfg, held, (640, 480))
    assert np.allclose(state.ahead, (639.0, 50.0))


def test_one_worker_serves_several_cameras_fairly_with_unique_ids(tracker_factory):
    from track_core.runtime import Tracker
    front = tracker_factory()
    rear = Tracker(front.backend, front.model_cfg, front.preprocess, front.config)
    out = []
    engine = LiveEngine({'front': front, 'rear': rear}, decode,
                        lambda frame, rgb, results: out.append((frame.stream, results)))
    engine.start()
    try:
        for name in ('front', 'rear'):
            rgb, box = scene(0)
            assert engine.offer(Frame(SEC, rgb, rgb.nbytes, stream=name))[0]
        assert eventually(lambda: len(out) >= 2)
        a = engine.select(SEC, box, stream='front').result(30)
        b = engine.select(SEC, box, stream='rear').result(30)
        assert a.success and b.success and a.target_id != b.target_id, (a, b)
        clash = engine.select(SEC, box, a.target_id, stream='rear').result(30)
        assert not clash.success and 'tracked on camera' in clash.message
        assert not engine.select(SEC, box, stream='side').result(1).success
        # the front camera floods (a frame every millisecond, each replacing the one
        # waiting); the rear one sends a frame at a time: each is answered, none dropped
        count = len(out)
        flooding = threading.Event()
        flooding.set()

        def flood():
            i = 1
            while flooding.is_set():
                rgb, _ = scene(i % 50)
                engine.offer(Frame(SEC + i, rgb, rgb.nbytes, stream='front'))
                i += 1
                time.sleep(0.001)
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        try:
            for k in range(1, 6):
                rgb, _ = scene(k)
                engine.offer(Frame(SEC + k, rgb, rgb.nbytes, stream='rear'))
                assert eventually(lambda: sum(1 for s, _ in out[count:] if s == 'rear') == k)
        finally:
            flooding.clear()
            thread.join(10)
        rear_results = [r for s, r in out[count:] if s == 'rear']
        assert all(set(r) == {b.target_id} for r in rear_results)
        assert engine.stream_stats['front']['dropped'] > 0
        assert engine.stream_stats['rear']['dropped'] == 0
        assert engine.remove('', stream='front').result(30).success
        assert engine.targets_of('front') == [] and engine.targets_of('rear') == [b.target_id]
    finally:
        engine.stop()
