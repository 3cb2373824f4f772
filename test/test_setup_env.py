"""make setup decides from what env.sh will provide, not from what the current shell has.

scripts/ros_prefixes.sh is sourced by scripts/setup.sh; here it runs in real bash against real
ament prefixes made in a temporary folder: a "system" ROS 2 whose setup.bash env.sh sources,
and another workspace that only the calling shell has sourced.
"""

import os
import pathlib
import subprocess

import pytest

HELPERS = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'ros_prefixes.sh'


def _prefix(root, *packages):
    index = root / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    for name in packages:
        (index / name).write_text('')
    return root


def _bash(script, env):
    return subprocess.run(['bash', '-c', f'source {HELPERS}; {script}'], env=env,
                          capture_output=True, text=True)


@pytest.fixture
def prefixes(tmp_path):
    system = _prefix(tmp_path / 'opt_ros', 'rclpy')
    foreign = _prefix(tmp_path / 'other_ws_install', 'vision_msgs')
    setup = tmp_path / 'setup.bash'
    setup.write_text(f'export AMENT_PREFIX_PATH={system}'
                     '${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}\n')
    return system, foreign, setup


@pytest.mark.parametrize('shell', ['clean', 'foreign workspace sourced'])
def test_a_vision_msgs_only_another_workspace_has_is_not_adopted(prefixes, shell):
    system, foreign, setup = prefixes
    env = {'PATH': os.environ['PATH'], 'HOME': os.environ.get('HOME', '/root')}
    if shell != 'clean':
        env['AMENT_PREFIX_PATH'] = str(foreign)
    out = _bash(f'p=$(system_prefixes {setup}); echo "$p"; '
                'prefix_provides "$p" vision_msgs && echo adopt || echo build', env)
    assert out.returncode == 0, out.stderr
    provided, decision = out.stdout.split()
    assert provided == str(system)         # what a fresh shell sourcing setup.bash gets
    assert decision == 'build'


def test_a_system_vision_msgs_is_adopted(prefixes, tmp_path):
    system, _, setup = prefixes
    (system / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'vision_msgs') \
        .write_text('')
    out = _bash(f'prefix_provides "$(system_prefixes {setup})" vision_msgs && echo adopt',
                {'PATH': os.environ['PATH']})
    assert out.stdout.strip() == 'adopt', out.stderr
