"""Node parameters: declared once (with descriptors), validated, mapped to the core config.

Crop sizes and normalisation are never parameters: they come from the checkpoint.
"""

from dataclasses import dataclass, fields, replace
import os
import pathlib
from typing import Any, Dict, List, Tuple

from track_core.runtime import TrackerConfig

DEFAULT_MODEL_NAME = 'default.safetensors'

# name: (default, description, read_only_while_configured)
PARAMETERS: Dict[str, Tuple[Any, str, bool]] = {
    'model_path': ('', 'track_core checkpoint (.safetensors); empty: the installed default '
                   'model', True),
    'backend': ('onnx', 'inference backend: torch or onnx', True),
    'device': ('cpu', 'auto, cpu, cuda, cuda:N (torch) or cpu, cuda, tensorrt (onnx)', True),
    'threads': (0, 'CPU threads for inference; 0: the library default', True),
    'class_id': ('target', 'class_id of the hypothesis in each Detection2D', False),
    'debug_image': (True, 'publish debug_image (only computed while someone subscribes)', False),
    'use_compressed': (False, 'also subscribe to image/compressed', True),
    'best_effort': (True, 'sensor-data QoS (best effort; also receives reliable publishers)',
                    True),
    'frame_cache_size': (30, 'recent frames kept for set_target requests with a stamp', True),
    'max_frame_age': (1.0, 'seconds; older frames are dropped and counted (0: never)', False),
    'diagnostics_period': (1.0, 'seconds between /diagnostics messages', True),
    'prefer_cv_bridge': (True, 'use cv_bridge for images when it works; else NumPy', True),
    'lost_threshold': (TrackerConfig.lost_threshold, 'score under which a frame counts as '
                       'low-confidence', False),
    'lost_frames': (TrackerConfig.lost_frames, 'low-confidence frames in a row before LOST',
                    False),
    'recover_threshold': (TrackerConfig.recover_threshold, 'score that re-acquires a LOST '
                          'target', False),
    'search_growth': (TrackerConfig.search_growth, 'search region growth per frame while LOST',
                      False),
    'max_search_scale': (TrackerConfig.max_search_scale, 'largest search region while LOST, '
                         'as a multiple of the normal one', False),
    'hann_window': (TrackerConfig.hann_window, 'motion prior on the score map while tracking',
                    False),
    'update_interval': (TrackerConfig.update_interval, 'frames between template updates '
                        '(0: never)', False),
    'update_threshold': (TrackerConfig.update_threshold, 'score needed for a template update',
                         False),
    'size_penalty': (TrackerConfig.size_penalty, 'rank boxes that change scale or aspect '
                     'down (0: off)', False),
    'size_smoothing': (TrackerConfig.size_smoothing, 'weight of the previous box size, 0..1',
                       False),
    'size_by_confidence': (TrackerConfig.size_by_confidence, 'low-score frames change the box '
                           'size less', False),
    'max_targets': (TrackerConfig.max_targets, 'targets tracked at once', False),
}
TRACKER_KEYS = [f.name for f in fields(TrackerConfig)]


@dataclass(frozen=True)
class NodeSettings:
    model_path: str
    backend: str
    device: str
    threads: int
    class_id: str
    debug_image: bool
    use_compressed: bool
    best_effort: bool
    frame_cache_size: int
    max_frame_age: float
    diagnostics_period: float
    prefer_cv_bridge: bool
    tracker: TrackerConfig


def default_model_path() -> str:
    """$TRACK_MODEL, else the model installed with this package, else the repository's."""
    env = os.environ.get('TRACK_MODEL')
    if env:
        return env
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(pathlib.Path(get_package_share_directory('track_node')) / 'models')
    except (ImportError, LookupError, ValueError):
        pass
    root = os.environ.get('TRACK_CORE_ROOT')
    if root:
        candidates.append(pathlib.Path(root) / 'models')
    for folder in candidates:
        if (folder / DEFAULT_MODEL_NAME).is_file():
            return str(folder / DEFAULT_MODEL_NAME)
    return str(candidates[-1] / DEFAULT_MODEL_NAME) if candidates else DEFAULT_MODEL_NAME


def settings_from_values(values: Dict[str, Any]) -> NodeSettings:
    """Validate parameter values; raise ValueError listing every problem."""
    problems: List[str] = []
    if values['backend'] not in ('torch', 'onnx'):
        problems.append(f"backend must be 'torch' or 'onnx', got {values['backend']!r}")
    device = values['device']
    if not (device in ('auto', 'cpu', 'cuda', 'tensorrt') or device.startswith('cuda:')):
        problems.append(f'device {device!r} is not auto, cpu, cuda, cuda:N or tensorrt')
    if values['threads'] < 0:
        problems.append('threads must be >= 0')
    if values['frame_cache_size'] < 1:
        problems.append('frame_cache_size must be >= 1')
    if values['max_frame_age'] < 0:
        problems.append('max_frame_age must be >= 0')
    if values['diagnostics_period'] <= 0:
        problems.append('diagnostics_period must be > 0')
    if not values['class_id']:
        problems.append('class_id must not be empty')
    tracker = None
    try:
        tracker = TrackerConfig(**{k: values[k] for k in TRACKER_KEYS})
    except (TypeError, ValueError) as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError('; '.join(problems))
    return NodeSettings(
        model_path=values['model_path'] or default_model_path(),
        backend=values['backend'], device=device, threads=values['threads'],
        class_id=values['class_id'], debug_image=values['debug_image'],
        use_compressed=values['use_compressed'], best_effort=values['best_effort'],
        frame_cache_size=values['frame_cache_size'], max_frame_age=values['max_frame_age'],
        diagnostics_period=values['diagnostics_period'],
        prefer_cv_bridge=values['prefer_cv_bridge'], tracker=tracker)


def declare(node) -> None:
    """Declare every parameter with its descriptor (type from the default)."""
    from rcl_interfaces.msg import ParameterDescriptor
    for name, (default, description, read_only) in PARAMETERS.items():
        suffix = ' (takes effect on configure)' if read_only else ' (can change at run time)'
        node.declare_parameter(name, default, ParameterDescriptor(
            description=description + suffix))


def read(node) -> Dict[str, Any]:
    return {name: node.get_parameter(name).value for name in PARAMETERS}


def apply_changes(settings: NodeSettings, changes: Dict[str, Any], configured: bool
                  ) -> NodeSettings:
    """Return the settings after run-time changes; raise ValueError saying why if refused."""
    for name in changes:
        if name not in PARAMETERS:
            continue
        if configured and PARAMETERS[name][2]:
            raise ValueError(f'{name} takes effect on configure: deactivate and clean up the '
                             'node, set it, then configure again')
    values = {f.name: getattr(settings, f.name) for f in fields(NodeSettings)
              if f.name != 'tracker'}
    values.update({k: getattr(settings.tracker, k) for k in TRACKER_KEYS})
    values.update({k: v for k, v in changes.items() if k in PARAMETERS})
    new = settings_from_values(values)
    return replace(new, model_path=settings.model_path if not changes.get('model_path')
                   else new.model_path)
