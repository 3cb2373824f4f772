"""Node parameters: one declarative table per node drives everything about them.

Each ``Param`` row gives the name, default, description, type (from the default), finite range
or allowed values, and when a change takes effect. From the table come the declarations with
descriptors (``ros2 param describe`` shows ranges, allowed values and read-only), validation
(tracker settings through ``track_core``'s own ``TrackerConfig`` checks), the settings object
the node reads, the YAML file in ``config/`` and the parameter page in ``docs/`` (tests hold
both equal to ``render_yaml`` and ``render_markdown``). Tracker settings are declared typed
with no value: unset, the model's own value applies. Crop sizes and normalisation are never
parameters: they come from the checkpoint. Nothing here imports rclpy at module level, so the
table is testable anywhere.
"""

import dataclasses
from dataclasses import dataclass, fields
import math
import os
import pathlib
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from track_core.runtime import TrackerConfig
from track_core.runtime.tracker import (check_setting, MAX_TARGETS_LIMITS, setting_help,
                                        TRACKER_LIMITS)

DEFAULT_MODEL_NAME = 'default.safetensors'
# When a change to a parameter takes effect.
RUN_TIME = 'run time'           # immediately (ros2 param set while tracking)
CONFIGURE = 'configure'         # on the next configure; refused while configured
START = 'start'                 # read once at start-up (descriptor read_only)


@dataclass(frozen=True)
class Param:
    """One parameter: its default fixes its type (int, float, bool or str)."""

    name: str
    default: Any
    description: str
    limits: Optional[Tuple[float, float]] = None
    choices: Tuple[str, ...] = ()
    applies: str = RUN_TIME
    tracker: bool = False        # a TrackerConfig field (validated by the core; may be unset)

    @property
    def kind(self) -> type:
        return type(self.default)


MODEL_OWN = "unless given, the model's own value"


def _tracker_params() -> List[Param]:
    defaults = TrackerConfig()
    rows = []
    for f in fields(TrackerConfig):
        default = getattr(defaults, f.name)
        limits = TRACKER_LIMITS.get(f.name)
        if isinstance(default, float) and limits:
            limits = (float(limits[0]), float(limits[1]))
        rows.append(Param(f.name, default, f'{setting_help(f.name)}; {MODEL_OWN}', limits,
                          tracker=True))
    return rows


TRACK_NODE: Tuple[Param, ...] = (
    Param('autostart', True, 'configure and activate at start-up, without a lifecycle '
          'manager', applies=START),
    Param('exit_with_parent', False, 'stop (as on SIGTERM) when the process that started it '
          'dies; the launch file sets it', applies=START),
    Param('cameras', '', "cameras served by one model, comma-separated ('front,rear'): each "
          "camera's topics and services are under its name (front/image, front/detections, "
          '~/front/set_target, ...); empty: one camera with the plain names', applies=START),
    Param('model_path', '', 'track_core checkpoint (.safetensors); empty: the installed '
          'default model', applies=CONFIGURE),
    Param('backend', 'onnx', 'inference backend: onnx (fastest on a CPU) or torch',
          choices=('onnx', 'torch'), applies=CONFIGURE),
    Param('device', 'cpu', 'cpu, cuda or tensorrt (onnx); auto, cpu, cuda or cuda:N (torch)',
          applies=CONFIGURE),
    Param('threads', 0, 'CPU threads for inference; 0: the library default', (0, 256),
          applies=CONFIGURE),
    Param('class_id', 'target', 'class_id of the hypothesis in each Detection2D'),
    Param('debug_image', True, 'publish debug_image (drawn only while someone subscribes)'),
    Param('use_compressed', False, 'also subscribe to image/compressed', applies=CONFIGURE),
    Param('best_effort', True, 'sensor-data QoS for images (best effort; also receives '
          'reliable publishers)', applies=CONFIGURE),
    Param('frame_cache_size', 30, 'recent frames kept for requests that name a stamp',
          (1, 1000), applies=CONFIGURE),
    Param('frame_cache_mb', 256.0, 'memory the frame cache may hold, MiB (older frames go '
          'first)', (1.0, 16384.0), applies=CONFIGURE),
    Param('max_image_pixels', 16_777_216, 'largest image accepted, width x height (larger '
          'ones, e.g. decompression bombs, are refused before decoding)', (1, 1 << 27)),
    Param('max_frame_age', 1.0, 'seconds; older frames are dropped and counted (0: never)',
          (0.0, 3600.0)),
    Param('select_box_size', 64, 'side of the square box a click (~/select_click, '
          '~/select_point) starts, pixels (the tracker then settles the size)', (4, 4096)),
    Param('diagnostics_period', 1.0, 'seconds between /diagnostics messages', (0.05, 3600.0),
          applies=CONFIGURE),
    Param('prefer_cv_bridge', True, 'use cv_bridge for images when it works; else NumPy',
          applies=CONFIGURE),
    Param('max_targets', 8, 'targets tracked at once (a deployment limit)', MAX_TARGETS_LIMITS),
    Param('use_detector', False, "subscribe to detector/detections (a detector's "
          'Detection2DArray): ~/select_detection, and re-acquisition of LOST targets',
          applies=CONFIGURE),
    Param('reacquire_with_detector', True, 'offer a target not seen the detections of its '
          "frame (its class's, or all when unknown), each verified by the tracker"),
    Param('max_detections', 5000, 'detections a detector set may hold; a larger set is '
          'refused whole and counted (a flood must not stall tracking; parsing a set costs '
          'about 9 us a detection, once, when a target not seen looks it up)', (1, 100_000)),
    Param('detection_cache_mb', 16.0, 'memory the kept detection sets may hold, MiB (older '
          'sets go first)', (0.1, 4096.0), applies=CONFIGURE),
    Param('use_depth', False, 'subscribe to depth/image + depth/camera_info (registered to '
          "the colour camera) and publish each target's 3D position", applies=CONFIGURE),
    Param('depth_tolerance', 0.02, "seconds between a colour frame's stamp and the depth "
          'image used for it (0: the same stamp only)', (0.0, 1.0)),
    Param('depth_wait', 0.05, 'seconds to wait for the depth image of a frame that has not '
          'arrived yet (drivers often publish it just after the colour frame; 0: never)',
          (0.0, 1.0)),
    Param('depth_cache_mb', 64.0, 'memory the kept depth images may hold, MiB (older ones go '
          'first; a larger one is refused)', (1.0, 4096.0), applies=CONFIGURE),
    Param('target_frame', '', 'frame of the 3D positions (tf2 where installed); empty: the '
          "depth camera's optical frame", applies=CONFIGURE),
) + tuple(_tracker_params())

IMAGE_SOURCE: Tuple[Param, ...] = (
    Param('source', '', 'video file, image folder, sequence folder, or rosbag2 recording '
          '(folder, .db3, .mcap) to publish', applies=START),
    Param('bag_topic', '', "a recording's image topic to play (raw or compressed; empty: its "
          'only image topic); played as recorded, stamps and frame ids included',
          applies=START),
    Param('bag_rate', 1.0, 'speed of a recording: 1 its recorded rate, 2 twice as fast, 0 as '
          'fast as the subscribers take it', (0.0, 1000.0), applies=START),
    Param('rate', 30.0, 'frames per second (0 with replay_timing: the timing of the media)',
          (0.0, 1000.0), applies=START),
    Param('loop', False, 'start again at the end', applies=START),
    Param('frame_id', 'camera', 'header.frame_id of the images', applies=START),
    Param('replay_timing', False, 'stamps = start + media time, published at that pace',
          applies=START),
    Param('encoding', 'rgb8', 'image encoding', choices=('rgb8', 'bgr8'), applies=START),
    Param('max_frames', 0, 'stop after this many frames (0: all)', (0, 100_000_000),
          applies=START),
    Param('reliable', False, 'reliable QoS instead of sensor-data (best effort)',
          applies=START),
    Param('max_width', 0, 'downscale wider frames to this width (0: never)', (0, 16384),
          applies=START),
    Param('wait_for_subscribers', 0, 'start once this many subscribers matched', (0, 1000),
          applies=START),
    Param('start_delay', 0.0, 'then wait this many seconds more', (0.0, 3600.0),
          applies=START),
)
TABLES = {'track_node': TRACK_NODE, 'image_source': IMAGE_SOURCE}
TRACKER_KEYS = [p.name for p in TRACK_NODE if p.tracker]


_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')


def camera_names(value: str) -> Tuple[List[str], str]:
    """Return (camera names, '') of the ``cameras`` parameter, or ([''], why not).

    Empty: one camera with no name (the plain topic names). Each name is a ROS name token
    (letters, digits, _; not starting with a digit), given once.
    """
    names = [n.strip() for n in str(value).split(',') if n.strip()]
    if not names:
        return [''], ''
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        shown = ', '.join(repr(b) for b in bad)
        return [''], f'camera names must be letters, digits and _, not starting with a ' \
            f'digit, got {shown}'
    if len(set(names)) != len(names):
        return [''], f'camera names must differ, got {value!r}'
    return names, ''


def table(node_name: str) -> Dict[str, Param]:
    return {p.name: p for p in TABLES[node_name]}


# ----------------------------------------------------------------- values
def coerce(param: Param, value: Any) -> Any:
    """Return ``value`` as ``param``'s type (an integer is fine for a float); raise ValueError."""
    kind = param.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = {bool: 'true or false', int: 'an integer', float: 'a number', str: 'a string'}
        raise ValueError(f'{param.name} must be {names[kind]}, got {value!r}')
    return value


def problem(param: Param, value: Any) -> Optional[str]:
    """Return why ``value`` is not valid for ``param``, or None."""
    try:
        value = coerce(param, value)
    except ValueError as exc:
        return str(exc)
    if param.tracker:
        return check_setting(param.name, value, param.kind)
    if param.choices and value not in param.choices:
        return f'{param.name} must be one of {", ".join(param.choices)}, got {value!r}'
    if param.limits is not None:
        low, high = param.limits
        if not (math.isfinite(value) and low <= value <= high):
            return f'{param.name} must be in [{low}, {high}], got {value!r}'
    return None


class Settings:
    """Validated parameter values by attribute (``s.backend``); unset tracker settings absent."""

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, '_values', dict(values))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def tracker_given(self) -> Dict[str, Any]:
        """The tracker settings given (at start-up or with ros2 param set)."""
        return {k: self._values[k] for k in TRACKER_KEYS if k in self._values}

    def tracker(self, model_own: TrackerConfig) -> TrackerConfig:
        """Return the settings in force: the model's own, with the given ones on top."""
        return dataclasses.replace(model_own, **self.tracker_given)

    def __setattr__(self, name, value):
        raise AttributeError('Settings are read-only; make new ones with apply_changes')

    def values(self) -> Dict[str, Any]:
        return dict(self._values)


def validate(values: Mapping[str, Any], rows: Sequence[Param] = TRACK_NODE) -> Settings:
    """Check every value against its row; raise ValueError listing every problem."""
    known = {p.name: p for p in rows}
    problems = [f'unknown parameter {k!r}' for k in values if k not in known]
    clean = {}
    for name, param in known.items():
        value = values.get(name, None if param.tracker else param.default)
        if value is None and param.tracker:
            continue                    # unset: the model's own value applies
        why = problem(param, value)
        if why:
            problems.append(why)
        else:
            clean[name] = coerce(param, value)
    if rows is TRACK_NODE and not problems:
        device = clean['device']
        if not (device in ('auto', 'cpu', 'cuda', 'tensorrt') or device.startswith('cuda:')):
            problems.append(f'device {device!r} is not auto, cpu, cuda, cuda:N or tensorrt')
        if not clean['class_id']:
            problems.append('class_id must not be empty')
    if problems:
        raise ValueError('; '.join(problems))
    if rows is TRACK_NODE:
        clean['model_path'] = clean['model_path'] or default_model_path()
    return Settings(clean)


def apply_changes(settings: Settings, changes: Mapping[str, Any], configured: bool,
                  rows: Sequence[Param] = TRACK_NODE) -> Settings:
    """Return the settings after run-time changes; raise ValueError saying why if refused."""
    known = {p.name: p for p in rows}
    for name in changes:
        param = known.get(name)
        if param is None:
            continue
        if param.applies == START:
            raise ValueError(f'{name} is read at start-up only')
        if configured and param.applies == CONFIGURE:
            raise ValueError(f'{name} takes effect on configure: deactivate and clean up the '
                             'node, set it, then configure again')
    values = settings.values()
    values.update({k: v for k, v in changes.items() if k in known and v is not None})
    return validate(values, rows)


def default_model_path() -> str:
    """$TRACK_MODEL, else the model installed with this package, else the repository's."""
    env = os.environ.get('TRACK_MODEL')
    if env:
        return env
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(pathlib.Path(get_package_share_directory('track_node')) / 'models')
    except (ImportError, LookupError, ValueError, OSError):   # OSError: no AMENT_PREFIX_PATH
        pass
    root = os.environ.get('TRACK_CORE_ROOT')
    if root:
        candidates.append(pathlib.Path(root) / 'models')
    for folder in candidates:
        if (folder / DEFAULT_MODEL_NAME).is_file():
            return str(folder / DEFAULT_MODEL_NAME)
    return str(candidates[-1] / DEFAULT_MODEL_NAME) if candidates else DEFAULT_MODEL_NAME


# ----------------------------------------------------------------- ROS side
def descriptor(param: Param):
    """Return the ParameterDescriptor of ``param`` (type, text, range, read-only)."""
    from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                    ParameterType)
    types = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
             float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}
    text = f'{param.description} (takes effect: {param.applies})'
    d = ParameterDescriptor(description=text, type=types[param.kind],
                            read_only=param.applies == START)
    if param.limits is not None and param.kind is float:
        d.floating_point_range = [FloatingPointRange(
            from_value=float(param.limits[0]), to_value=float(param.limits[1]), step=0.0)]
    elif param.limits is not None and param.kind is int:
        d.integer_range = [IntegerRange(from_value=int(param.limits[0]),
                                        to_value=int(param.limits[1]), step=1)]
    if param.choices:
        d.additional_constraints = 'one of: ' + ', '.join(param.choices)
    return d


def declare(node, rows: Sequence[Param]) -> Dict[str, str]:
    """Declare every row on ``node``; return {name: problem} for start-up values refused.

    Tracker settings are declared typed with no value (unset: the model's own value). A
    start-up value (``-p``, a params file) of the wrong type or out of range does not stop the
    node: an integer given for a float is taken as that float; anything else leaves the
    parameter at its default (or unset) and is returned, so the node can stay up and say why.
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
    refused = (InvalidParameterTypeException, InvalidParameterValueException)
    problems: Dict[str, str] = {}
    for param in rows:
        desc = descriptor(param)
        initial = _declared_type(param) if param.tracker else param.default
        try:
            node.declare_parameter(param.name, initial, desc)
            continue
        except refused:
            given = start_up_value(node, param.name)
        why = problem(param, given)
        if why is None:                 # e.g. an integer for a float: taken as that float
            try:
                node.declare_parameter(param.name, coerce(param, given), desc,
                                       ignore_override=True)
                continue
            except refused as exc:
                why = str(exc)
        problems[param.name] = why
        node.declare_parameter(param.name, initial, descriptor(param), ignore_override=True)
    return problems


def _declared_type(param: Param):
    from rclpy.parameter import Parameter
    return {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER,
            float: Parameter.Type.DOUBLE, str: Parameter.Type.STRING}[param.kind]


def start_up_value(node, name: str) -> Any:
    """Return the value ``name`` was given at start-up, of any type (None: not given).

    Read through the public API: declared dynamically typed, read, undeclared again.
    """
    from rcl_interfaces.msg import ParameterDescriptor
    node.declare_parameter(name, None, ParameterDescriptor(dynamic_typing=True))
    try:
        return node.get_parameter(name).value
    finally:
        node.undeclare_parameter(name)


def read(node, rows: Sequence[Param]) -> Dict[str, Any]:
    """Return the parameters' values; an unset tracker setting reads None."""
    from rclpy.exceptions import ParameterUninitializedException
    values = {}
    for p in rows:
        try:
            values[p.name] = node.get_parameter(p.name).value
        except ParameterUninitializedException:
            values[p.name] = None
    return values


def accept_integers_for_floats(node, rows: Sequence[Param]) -> bool:
    """Let ``ros2 param set`` give an integer for a float parameter (where rclpy can).

    Uses the pre-set callback (rclpy in Jazzy and later); returns False where it is missing,
    and such a change is then refused with rclpy's type message.
    """
    if not hasattr(node, 'add_pre_set_parameters_callback'):
        return False
    from rclpy.parameter import Parameter
    floats = {p.name for p in rows if p.kind is float}

    def widen(parameters):
        return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
                if p.name in floats and p.type_ == Parameter.Type.INTEGER else p
                for p in parameters]
    node.add_pre_set_parameters_callback(widen)
    return True


# ----------------------------------------------------------------- the YAML file
def yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f"'{value}'" if value == '' else value
    return repr(value)


def render_yaml(node_name: str) -> str:
    """Return the parameter file of ``node_name`` with every default, as config/ ships it.

    Tracker settings are written commented out: each model brings its own values (stored in
    the checkpoint), which a line here overrides once uncommented.
    """
    lines = [f'# Defaults of {node_name}, generated from track_node/params.py (do not edit by',
             f'# hand: python -m track_node.params {node_name} > config/{node_name}.yaml).',
             '# "run time": ros2 param set works while it runs; "configure": takes effect on '
             'the next',
             '# configure; "start": read at start-up. Ranges: ros2 param describe.',
             '# Keyed /**/NAME: it applies under any namespace (ros2 launch ... namespace:=X).',
             f'/**/{node_name}:', '  ros__parameters:']
    tracker_note = False
    for p in TABLES[node_name]:
        limits = f' [{p.limits[0]}, {p.limits[1]}]' if p.limits else ''
        choices = f' ({"|".join(p.choices)})' if p.choices else ''
        if p.tracker and not tracker_note:
            lines.append('    # Tracker settings: the model brings its own (track_core.runtime.'
                         'model_runtime);')
            lines.append('    # uncomment a line to override it. Shown: the library defaults.')
            tracker_note = True
        lead = '# ' if p.tracker else ''
        lines.append(f'    {lead}{p.name}: {yaml_value(p.default)}  # ({p.applies}){choices}'
                     f'{limits} {p.description}')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in TABLES:
        print(f'usage: python -m track_node.params {{{",".join(TABLES)}}}', file=sys.stderr)
        return 2
    sys.stdout.write(render_yaml(args[0]))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
