"""What the launch file decides before it starts anything (pure Python, testable without launch).

- a parameter file that is missing, unreadable, names parameters track_node does not have, or
  none of whose keys applies to the node's full name (namespace included: a file keyed
  ``track_node:`` is ignored by ROS 2 under ``namespace:=X``) is refused before any process
  starts;
- RViz is started only where rviz2 is installed (most robots are headless): otherwise the launch
  says so and carries on, instead of failing half-way and orphaning the node;
- the Fast DDS profile for large images is given to the launched processes unless the
  environment names one already.
"""

import os
import pathlib
import re
from typing import Dict, List, Mapping, Optional, Tuple

import yaml

from track_node import params

PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')
# Fast DDS 2.x (Humble, Jazzy) reads FASTRTPS_..., 3.x (Kilted on) FASTDDS_... and warns that
# the old name is deprecated.
OLD_NAME_DISTROS = ('humble', 'iron', 'jazzy')
PROFILE_NAME = 'fastdds_large_images.xml'


def full_name(node_name: str, namespace: str = '') -> str:
    """Return the node's fully qualified name, '/ns/name' (or '/name')."""
    ns = namespace.strip('/')
    return f'/{ns}/{node_name}' if ns else f'/{node_name}'


def key_applies(key: str, fqn: str) -> bool:
    """Return True when parameter-file key ``key`` applies to the node named ``fqn``.

    ROS 2's rule: a key is a node name, made absolute if it is not ('track_node' is
    '/track_node', the root namespace only); ``*`` stands for one name token, ``**`` for any
    number of them ('/**' applies to every node, '/**/track_node' to track_node in any
    namespace). Nested keys join with '/' (``tracker:`` -> ``track_node:`` is
    '/tracker/track_node').
    """
    pattern = [t for t in str(key).split('/') if t]
    tokens = [t for t in fqn.split('/') if t]

    def match(p, t):
        if not p:
            return not t
        if p[0] == '**':
            return any(match(p[1:], t[k:]) for k in range(len(t) + 1))
        return bool(t) and (p[0] == '*' or p[0] == t[0]) and match(p[1:], t[1:])
    return match(pattern, tokens)


_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')


def key_problem(key: str) -> str:
    """Return why rcl refuses ``key`` (a node's full name in a params file), or ''.

    rcl's parser: every namespace token and the node name are letters, digits and '_' not
    starting with a digit, or a whole-token wildcard ``*`` / ``**``; the name is not empty
    (no trailing '/'). A partial wildcard ('track_no*') is refused.
    """
    key = str(key)
    tokens = key.split('/')
    if key.startswith('/'):
        tokens = tokens[1:]
    if not tokens or not tokens[-1]:
        return f'key {key!r}: the node name is empty'
    for token in tokens:
        if token in ('*', '**'):
            continue
        if not token:
            return f"key {key!r}: an empty name token ('//')"
        if not _TOKEN.match(token):
            return (f'key {key!r}: {token!r} is not a name (letters, digits and _ not starting '
                    'with a digit, or a whole-token wildcard * or **)')
    return ''


def node_sections(data, prefix: str = '') -> List[Tuple[str, object]]:
    """Return [(full key, that node's ros__parameters)] of a params file's mapping.

    Keys nest as rcl reads them: a mapping without ``ros__parameters`` is a namespace level,
    its keys continue the name.
    """
    out = []
    for key, value in data.items():
        name = f'{prefix}/{key}' if prefix else str(key)
        if not isinstance(value, dict):
            out.append((name, None))
        elif 'ros__parameters' in value:
            out.append((name, value['ros__parameters']))
        else:
            out.extend(node_sections(value, name))
    return out


def params_file_problem(path: str, node_name: str = 'track_node', namespace: str = ''
                        ) -> Optional[str]:
    """Return why ``path`` cannot serve as ``node_name``'s parameter file, or None.

    ``namespace``: where the node will run; the keys must apply to its full name there. A file
    rcl would refuse (it then fails the node's start with a traceback) is refused here first.
    """
    file = pathlib.Path(path)
    if not file.is_file():
        return f'params_file {path!r} does not exist (or is not a file)'
    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return f'params_file {path!r} is not readable YAML: {exc}'
    if not isinstance(data, dict):
        return f'params_file {path!r} holds no parameters (expected a mapping)'
    sections = node_sections(data)
    for key, _ in sections:
        why = key_problem(key)
        if why:
            return f'params_file {path!r}: ROS 2 would refuse the file: {why}'
    fqn = full_name(node_name, namespace)
    applying = [(key, values) for key, values in sections if key_applies(key, fqn)]
    if not applying:
        keys = ', '.join(key for key, _ in sections) or 'none'
        return (f'params_file {path!r}: none of its keys ({keys}) applies '
                f'to {fqn}, so ROS 2 would ignore the file; key it /**/{node_name}: (any '
                f'namespace) or {fqn}:')
    rows = params.table(node_name)
    for key, values in applying:
        values = values if isinstance(values, dict) else {}
        unknown = sorted(set(values) - set(rows) - {'use_sim_time'})
        if unknown:
            return (f'params_file {path!r}: {node_name} has no parameter(s) '
                    f'{", ".join(unknown)}')
        problems = [why for name, value in values.items() if name in rows
                    for why in [params.problem(rows[name], value)] if why]
        if problems:
            return f'params_file {path!r}: ' + '; '.join(problems)
    return None


# Topics track_node publishes (relative to its namespace): no input may be remapped onto one.
OUTPUTS = ('detections', 'detections_3d', 'debug_image')


def absolute(topic: str, namespace: str = '') -> str:
    """Return ``topic`` as a full name: relative names are in ``namespace``."""
    if topic.startswith('/'):
        return '/' + topic.strip('/')
    ns = namespace.strip('/')
    return f'/{ns}/{topic.strip("/")}' if ns else f'/{topic.strip("/")}'


def remappings(image: str, depth: str = '', detections: str = '', namespace: str = ''
               ) -> List[Tuple[str, str]]:
    """Return the launch's remappings of track_node's inputs to the given topics.

    ``image``: the camera topic (its ``/compressed`` sibling too); ``depth``: the registered
    depth topic (its ``camera_info`` sibling too), '' leaves depth/image as it is;
    ``detections``: the detector's output, '' leaves detector/detections as it is. An input
    remapped onto one of the node's own outputs (in ``namespace``) is a ValueError saying so.
    """
    out = [('image', image), ('image/compressed', image.rstrip('/') + '/compressed')]
    if depth:
        out += [('depth/image', depth),
                ('depth/camera_info', depth.rsplit('/', 1)[0] + '/camera_info')]
    if detections:
        out.append(('detector/detections', detections))
    mine = {absolute(o, namespace) for o in OUTPUTS}
    for name, topic in out:
        if absolute(topic, namespace) in mine:
            raise ValueError(f'{name} remapped to {topic!r}: that is an output of track_node '
                             'itself; give the topic its producer publishes')
    return out


def split_list(text: str) -> List[str]:
    """Return the items of a comma-separated launch argument ('' -> [])."""
    return [item.strip() for item in str(text).split(',') if item.strip()]


def camera_remappings(cameras: str, images: str, depths: str = '', detections: str = '',
                      namespace: str = '') -> List[Tuple[str, str]]:
    """Return the remappings of a several-camera node: each camera's inputs to its topics.

    ``cameras``: 'front,rear'; ``images`` (and ``depths``, ``detections`` where used): the
    topics in the same order, one per camera. Each camera's inputs are ``<camera>/image``,
    ``<camera>/depth/image``, ``<camera>/detector/detections``; as for one camera, no input
    may be remapped onto an output of the node (ValueError says which).
    """
    names = split_list(cameras)
    lists = {'images': split_list(images), 'depths': split_list(depths),
             'detections': split_list(detections)}
    for what, items in lists.items():
        if items and len(items) != len(names):
            raise ValueError(f'{what}: {len(items)} topics for {len(names)} cameras '
                             f'({", ".join(names)}); give one per camera, in that order')
    out = []
    outputs = {absolute(f'{n}/{o}', namespace) for n in names for o in OUTPUTS}
    for k, name in enumerate(names):
        remaps = remappings(lists['images'][k] if lists['images'] else f'/{name}/image',
                            lists['depths'][k] if lists['depths'] else '',
                            lists['detections'][k] if lists['detections'] else '', namespace)
        for source, topic in remaps:
            if absolute(topic, namespace) in outputs:
                raise ValueError(f'{name}/{source} remapped to {topic!r}: that is an output '
                                 'of track_node itself; give the topic its producer publishes')
            out.append((f'{name}/{source}', topic))
    return out


def rviz_config(base: str, cameras: List[str], namespace: str = '') -> str:
    """Return the RViz config ``base`` (YAML) with one debug-image display per camera."""
    config = yaml.safe_load(base)
    displays = config['Visualization Manager']['Displays']
    image = next(d for d in displays if d.get('Class') == 'rviz_default_plugins/Image')
    others = [d for d in displays if d is not image]
    views = []
    for name in cameras:
        view = yaml.safe_load(yaml.safe_dump(image))
        view['Name'] = f'{name} debug image'
        view['Topic']['Value'] = absolute(f'{name}/debug_image', namespace)
        views.append(view)
    config['Visualization Manager']['Displays'] = views + others
    return yaml.safe_dump(config, sort_keys=False)


def package_available(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Return True when an ament prefix on AMENT_PREFIX_PATH registers package ``name``."""
    for prefix in environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix and (pathlib.Path(prefix) / 'share' / 'ament_index' / 'resource_index' /
                       'packages' / name).is_file():
            return True
    return False


def middleware_environment(share: str, environ: Mapping[str, str] = os.environ
                           ) -> Dict[str, str]:
    """Return the variables to set so launched processes use the large-image profile."""
    profile = os.path.join(share, 'config', PROFILE_NAME)
    if environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') != 'rmw_fastrtps_cpp':
        return {}
    if any(environ.get(v) for v in PROFILE_VARIABLES):
        return {}                               # the user's own profile wins
    variable = profile_variable(environ.get('ROS_DISTRO', ''))
    return {variable: profile}


def profile_variable(distro: str) -> str:
    """Return the variable naming a Fast DDS profile file for ROS 2 ``distro``."""
    return PROFILE_VARIABLES[1] if distro in OLD_NAME_DISTROS else PROFILE_VARIABLES[0]
