"""What track_node offers on the graph: one table of its topics and services (no rclpy).

The node reference (``docs/node.md``) is generated from these rows and ``params``'s tables
(``python -m track_node.interface docs/node.md`` rewrites the generated parts; a test holds the
file equal to them), and a node test holds the rows equal to the topics and services a running
node really has.
"""

from dataclasses import dataclass
import functools
import pathlib
import re
import sys
from typing import Tuple

from track_node import params


@dataclass(frozen=True)
class Endpoint:
    """A topic (in or out) or a service of the node."""

    name: str           # as the node names it (~/ is the node's private namespace)
    kind: str           # 'in', 'out' or 'service'
    msg_type: str       # the ROS interface type
    what: str
    when: str = ''      # a condition (a parameter) under which it exists


TOPICS: Tuple[Endpoint, ...] = (
    Endpoint('image', 'in', 'sensor_msgs/msg/Image',
             'camera frames: rgb8, bgr8, mono8, rgba8, bgra8 (row padding handled); others '
             'refused with a logged reason; sensor-data QoS unless `best_effort` is false'),
    Endpoint('image/compressed', 'in', 'sensor_msgs/msg/CompressedImage',
             'compressed frames (PNG, JPEG)', 'use_compressed'),
    Endpoint('~/select_click', 'in', 'geometry_msgs/msg/Point',
             'a click as rqt_image_view publishes it, on the newest `debug_image` frame'),
    Endpoint('~/select_point', 'in', 'geometry_msgs/msg/PointStamped',
             'a click on the frame with that header stamp'),
    Endpoint('~/select_box', 'in', 'vision_msgs/msg/Detection2D',
             'a box to track: `id` = target id, header stamp = the frame it was drawn on'),
    Endpoint('detector/detections', 'in', 'vision_msgs/msg/Detection2DArray',
             "a detector's output, stamped with its image: targets are selected from it "
             '(`~/select_detection`) and, while LOST, re-acquired on the detections of their '
             'class that the tracker verifies', 'use_detector'),
    Endpoint('depth/image', 'in', 'sensor_msgs/msg/Image',
             'depth registered to the colour camera (REP 118: 16UC1 mm or 32FC1 m; 0, NaN, '
             'inf: no reading), matched to each colour frame by stamp (`depth_tolerance`)',
             'use_depth'),
    Endpoint('depth/camera_info', 'in', 'sensor_msgs/msg/CameraInfo',
             "the depth (= colour) camera's intrinsics", 'use_depth'),
    Endpoint('detections_3d', 'out', 'vision_msgs/msg/Detection3DArray',
             'per processed frame, the targets with a 3D position: `bbox.center` and the '
             'hypothesis pose = the point in metres, `bbox.size` = the box at that depth; '
             "header = the colour frame's stamp, frame = `target_frame` or the depth "
             "camera's; a target without a trustworthy point is left out and `~/state` "
             'says why', 'use_depth'),
    Endpoint('detections', 'out', 'vision_msgs/msg/Detection2DArray',
             'one per processed frame: one detection per target seen (none for a LOST '
             "target, none with no target); header = the source image's stamp and frame_id; "
             '`bbox` centre + size in pixels, `id` = target id, one hypothesis (`class_id` '
             'parameter, score)'),
    Endpoint('~/state', 'out', 'track_interfaces/msg/TrackingState',
             'one per processed frame: per target id TRACKING, LOST (not seen, searching) or '
             'REACQUIRED (found again on this frame), seconds since last seen, score, frames '
             'below threshold, 3D position or why there is none (with `use_depth`); latency, '
             'fps, frames not processed; `message`: what the latest request did'),
    Endpoint('debug_image', 'out', 'sensor_msgs/msg/Image',
             'the frame with boxes, scores, state and fps drawn (only while someone '
             'subscribes)', 'debug_image'),
    Endpoint('/diagnostics', 'out', 'diagnostic_msgs/msg/DiagnosticArray',
             'every `diagnostics_period`: fps, latency, median wait / tracker / node overhead '
             'ms per frame, targets, max_targets, losses, '
             're-acquisitions (and those by the detector), the tracker settings in force; '
             'frames received, processed, dropped, stale, bad, refused'),
)

SERVICES: Tuple[Endpoint, ...] = (
    Endpoint('~/set_target', 'service', 'track_interfaces/srv/SetTarget',
             'box `x, y, width, height` in pixels, optional `target_id` (empty: assigned; '
             'existing: re-initialised), optional `stamp` of the frame the box was drawn on '
             '(zero: the newest) -> `success`, `message`, `target_id`'),
    Endpoint('~/select_detection', 'service', 'track_interfaces/srv/SelectDetection',
             "a target on one of the detector's detections of a frame: by `detection_id`, "
             'else the best of `class_id`, else the one nearest (`x`, `y`) with `use_point`; '
             '`stamp` of that frame (zero: the newest) -> `success`, `message`, `target_id` '
             "(default: the detection's id)"),
    Endpoint('~/clear_target', 'service', 'track_interfaces/srv/ClearTarget',
             'one `target_id`, or every target when empty -> `success`, `message`'),
)


# ----------------------------------------------------------------- the generated reference
def _cell(text: str) -> str:
    return text.replace('|', '\\|')


def endpoints_markdown() -> str:
    lines = ['| topic | direction | type | what |', '|---|---|---|---|']
    for t in TOPICS:
        when = f' (with `{t.when}`)' if t.when else ''
        lines.append(f'| `{t.name}` | {t.kind} | `{t.msg_type}` | {_cell(t.what)}{when} |')
    lines += ['', '| service | type | what |', '|---|---|---|']
    lines += [f'| `{s.name}` | `{s.msg_type}` | {_cell(s.what)} |' for s in SERVICES]
    return '\n'.join(lines) + '\n'


@functools.lru_cache(maxsize=1)
def shipped_settings():
    """Return the shipped default model's own tracker settings (None where it is missing)."""
    from track_core.runtime import model_runtime
    path = pathlib.Path(params.default_model_path())
    return model_runtime(path) if path.is_file() else None


def _shown(p: params.Param) -> str:
    if not p.tracker:
        return params.yaml_value(p.default)
    shipped = shipped_settings()
    value = getattr(shipped, p.name) if shipped is not None else p.default
    return f'model ({params.yaml_value(value)})'


def _range(p: params.Param) -> str:
    if p.choices:
        return ' \\| '.join(p.choices)
    if p.limits is None:
        return ''
    return f'{p.limits[0]:g} .. {p.limits[1]:g}'


def parameters_markdown(node_name: str) -> str:
    lines = ['| parameter | default | range | takes effect | what |', '|---|---|---|---|---|']
    lines += [f'| `{p.name}` | {_shown(p)} | {_range(p)} | {p.applies} | '
              f'{_cell(p.description)} |' for p in params.TABLES[node_name]]
    return '\n'.join(lines) + '\n'


SECTIONS = {
    'endpoints': endpoints_markdown,
    'parameters track_node': lambda: parameters_markdown('track_node'),
    'parameters image_source': lambda: parameters_markdown('image_source'),
}
_BLOCK = re.compile(r'(<!-- generated: (?P<name>[\w ]+?) -->\n)(?P<body>.*?)(<!-- end -->)',
                    re.S)


def render_docs(text: str) -> str:
    """Return ``text`` with every generated block rewritten from the tables."""
    def fill(match):
        name = match.group('name')
        if name not in SECTIONS:
            raise ValueError(f'unknown generated block {name!r}; known: {", ".join(SECTIONS)}')
        return match.group(1) + SECTIONS[name]() + match.group(4)
    return _BLOCK.sub(fill, text)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print('usage: python -m track_node.interface docs/node.md', file=sys.stderr)
        return 2
    path = pathlib.Path(args[0])
    path.write_text(render_docs(path.read_text()))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
