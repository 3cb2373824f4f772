"""The frame slot, the frame cache and the meters (pure Python, no ROS)."""

import threading

import pytest

from track_node.frames import Frame, FrameCache, LatestSlot
from track_node.status import NodeStats, RateMeter


def frame(sec, nbytes=100):
    return Frame(sec * 1_000_000_000, None, None, False, nbytes)


def test_latest_slot_keeps_only_the_newest_and_counts_the_rest():
    slot = LatestSlot()
    assert slot.put(frame(1)) is False
    assert slot.put(frame(2)) is True and slot.put(frame(3)) is True
    assert slot.take().stamp_ns == 3 * 10 ** 9 and slot.overwritten == 2
    assert slot.take(timeout=0.01) is None and slot.empty


def test_latest_slot_close_wakes_a_waiting_consumer():
    slot = LatestSlot()
    got = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(timeout=30)))
    consumer.start()
    slot.close()
    consumer.join(timeout=5)
    assert not consumer.is_alive() and got == [None] and not slot.is_open
    slot.put(frame(1))
    assert slot.take(timeout=0.01) is None         # closed: nothing is handed out
    slot.open()
    slot.put(frame(2))
    assert slot.take().stamp_ns == 2 * 10 ** 9


def test_cache_finds_by_stamp_and_tells_evicted_from_never_received():
    cache = FrameCache(max_frames=3, max_bytes=10_000)
    for sec in range(1, 6):
        assert cache.add(frame(sec)) == (True, '')
    assert cache.stamps() == [3 * 10 ** 9, 4 * 10 ** 9, 5 * 10 ** 9]
    assert cache.find(4 * 10 ** 9)[0].stamp_ns == 4 * 10 ** 9
    assert cache.find(0)[0].stamp_ns == 5 * 10 ** 9             # zero: the newest
    none, why = cache.find(1 * 10 ** 9)
    assert none is None and 'no longer in the cache' in why
    none, why = cache.find(42 * 10 ** 9)
    assert none is None and 'was received' in why and 'no longer' not in why


def test_cache_is_bounded_in_bytes_and_refuses_a_frame_larger_than_itself():
    cache = FrameCache(max_frames=100, max_bytes=1000)
    for sec in range(10):
        cache.add(frame(sec, nbytes=300))
    assert len(cache) == 3 and cache.nbytes == 900
    kept, why = cache.add(frame(99, nbytes=5000))
    assert not kept and 'frame_cache_mb' in why and len(cache) == 3
    empty = FrameCache(1, 1)
    assert empty.find(0) == (None, 'no frame received yet')
    with pytest.raises(ValueError):
        FrameCache(0, 10)


def test_rate_meter_and_stats():
    meter = RateMeter(window=5)
    assert meter.rate == 0.0
    for t in range(10):
        meter.tick(t * 0.1)
    assert meter.rate == pytest.approx(10.0)
    stats = NodeStats()
    stats.count('received', 3)
    stats.count('dropped')
    stats.processed(arrival=1.0, now=1.025)
    assert stats.latency_ms == pytest.approx(25.0) and stats['processed'] == 1
    snap = stats.snapshot()
    assert snap['received'] == '3' and snap['dropped'] == '1' and 'fps' in snap
    assert stats.not_processed == 1
