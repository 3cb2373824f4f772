"""Each target's 3D position for a frame, in the frame the user asked for (tf2 where installed).

The geometry is ``depth.py``'s (pure); this adds what needs ROS: the optional transform of the
points into ``target_frame`` with tf2, said once where tf2_ros is not installed.
"""

from track_node.conversions import stamp_to_ns
from track_node.depth import extent, Position, target_points, transform_point


class Locator:
    """Positions of the targets of one frame: {id: depth.Position}, a reason where none."""

    def __init__(self, node, target_frame: str):
        self.target_frame = target_frame
        self.tf_buffer = None
        if not target_frame:
            return
        try:
            import tf2_ros
        except ImportError:
            node.get_logger().warning(
                f'target_frame {target_frame!r}: tf2_ros is not installed here, so 3D '
                "positions are published in the depth camera's optical frame")
            return
        self.tf_buffer = tf2_ros.Buffer()
        self._listener = tf2_ros.TransformListener(self.tf_buffer, node)

    def positions(self, header, rgb, results, depth_cache, info, tolerance: float,
                  wait: float = 0.0) -> dict:
        """Return each target's 3D position for this frame, or why there is none.

        The depth image is the one in ``depth_cache`` (a StampCache) nearest the frame's stamp
        within ``tolerance`` s; when none is there yet and none newer has come, wait up to
        ``wait`` s for it (drivers often publish depth just after colour). ``info``: the newest
        camera_info (None: none received).
        """
        seen = {tid: r.box for tid, r in results.items() if r.state.present}
        out = {tid: Position(None, '', f'target {r.state.name}: no position')
               for tid, r in results.items() if tid not in seen}
        if not seen:
            return out
        item, why = depth_cache.nearest(stamp_to_ns(header.stamp), tolerance, wait)
        if item is None:
            return {**out, **{tid: Position(None, '', why) for tid in seen}}
        depth_msg = item.value
        frame = depth_msg.header.frame_id
        for tid, (point, why) in target_points(seen, (rgb.shape[1], rgb.shape[0]), depth_msg,
                                               info).items():
            if point is None:
                out[tid] = Position(None, frame, why)
                continue
            out[tid] = self._in_target_frame(point, frame, header.stamp,
                                             extent(seen[tid], point[2], info))
        return out

    def _in_target_frame(self, point, frame: str, stamp, size) -> Position:
        target = self.target_frame
        if not target or self.tf_buffer is None or target == frame:
            return Position(point, frame, 'ok', size)
        from rclpy.duration import Duration
        from rclpy.time import Time
        try:
            t = self.tf_buffer.lookup_transform(target, frame, Time.from_msg(stamp),
                                                timeout=Duration(seconds=0.0))
        except Exception as exc:  # noqa: BLE001 - tf2's lookup errors share no base here
            return Position(None, target, f'no transform {frame} -> {target}: {exc}')
        return Position(transform_point(point, t.transform), target, 'ok', size)
