"""What the launch file decides before it starts anything (pure Python, testable without launch).

- a parameter file that is missing, unreadable or names parameters track_node does not have is
  refused before any process starts;
- RViz is started only where rviz2 is installed (most robots are headless): otherwise the launch
  says so and carries on, instead of failing half-way and orphaning the node;
- the Fast DDS profile for large images is given to the launched processes unless the
  environment names one already.
"""

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


def params_file_problem(path: str, node_name: str = 'track_node') -> Optional[str]:
    """Return why ``path`` cannot serve as ``node_name``'s parameter file, or None."""
    file = pathlib.Path(path)
    if not file.is_file():
        return f'params_file {path!r} does not exist (or is not a file)'
    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return f'params_file {path!r} is not readable YAML: {exc}'
    if not isinstance(data, dict):
        return f'params_file {path!r} holds no parameters (expected a mapping)'
    rows = params.table(node_name)
    for key, section in data.items():
        if not (str(key).rstrip('/').split('/')[-1] in (node_name, '**')):
            continue
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
