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

import fnmatch
import os
import pathlib
from typing import Dict, Mapping, Optional

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
    namespace).
    """
    pattern = [t for t in str(key).split('/') if t]
    tokens = [t for t in fqn.split('/') if t]

    def match(p, t):
        if not p:
            return not t
        if p[0] == '**':
            return any(match(p[1:], t[k:]) for k in range(len(t) + 1))
        return bool(t) and fnmatch.fnmatchcase(t[0], p[0]) and match(p[1:], t[1:])
    return match(pattern, tokens)


def params_file_problem(path: str, node_name: str = 'track_node', namespace: str = ''
                        ) -> Optional[str]:
    """Return why ``path`` cannot serve as ``node_name``'s parameter file, or None.

    ``namespace``: where the node will run; the keys must apply to its full name there.
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
    fqn = full_name(node_name, namespace)
    applying = [key for key in data if key_applies(key, fqn)]
    if not applying:
        return (f'params_file {path!r}: none of its keys ({", ".join(map(str, data))}) applies '
                f'to {fqn}, so ROS 2 would ignore the file; key it /**/{node_name}: (any '
                f'namespace) or {fqn}:')
    rows = params.table(node_name)
    for key in applying:
        section = data[key]
        values = (section or {}).get('ros__parameters', {}) if isinstance(section, dict) \
            else {}
        unknown = sorted(set(values) - set(rows) - {'use_sim_time'})
        if unknown:
            return (f'params_file {path!r}: {node_name} has no parameter(s) '
                    f'{", ".join(unknown)}')
        problems = [why for name, value in values.items() if name in rows
                    for why in [params.problem(rows[name], value)] if why]
        if problems:
            return f'params_file {path!r}: ' + '; '.join(problems)
    return None


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
