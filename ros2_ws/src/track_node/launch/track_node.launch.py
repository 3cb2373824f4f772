"""Start track_node (and optionally RViz) on a robot.

ros2 launch track_node track_node.launch.py image:=/camera/color/image_raw
    [depth:=/camera/aligned_depth_to_color/image_raw] [detections:=/yolo/detections]
    [params_file:=my.yaml]
    [namespace:=tracker] [use_sim_time:=true] [log_level:=debug] [rviz:=true]

Before anything starts, a params_file that is missing, that rcl would refuse, names unknown
parameters or has no key that applies to the node under its namespace is refused, and so is an
input remapped onto one of the node's own outputs (launch_checks.remappings);
rviz:=true without rviz2 installed carries on without it (and says so); the Fast DDS profile
for large images is used unless the environment names one (track_node/launch_checks.py).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from track_node import launch_checks


def _start(context):
    share = get_package_share_directory('track_node')
    params_file = LaunchConfiguration('params_file').perform(context)
    namespace = LaunchConfiguration('namespace').perform(context)
    problem = launch_checks.params_file_problem(params_file, 'track_node', namespace)
    if problem:
        raise RuntimeError(problem)          # nothing has been started yet
    remaps = launch_checks.remappings(
        LaunchConfiguration('image').perform(context),
        LaunchConfiguration('depth').perform(context),
        LaunchConfiguration('detections').perform(context), namespace)
    actions = [SetEnvironmentVariable(name, value) for name, value in
               launch_checks.middleware_environment(share).items()]
    actions.append(Node(
        package='track_node',
        executable='track_node',
        name='track_node',
        namespace=LaunchConfiguration('namespace'),
        # exit_with_parent: a launch killed without passing the signal on leaves no orphan
        parameters=[params_file, {'use_sim_time': LaunchConfiguration('use_sim_time'),
                                  'exit_with_parent': True}],
        remappings=remaps,
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        output='screen',
    ))
    if LaunchConfiguration('rviz').perform(context).lower() in ('true', '1', 'yes'):
        if launch_checks.package_available('rviz2'):
            actions.append(Node(package='rviz2', executable='rviz2', name='rviz2',
                                arguments=['-d', os.path.join(share, 'rviz',
                                                              'track_node.rviz')]))
        else:
            actions.append(LogInfo(msg='rviz:=true, but rviz2 is not installed here: carrying '
                                   'on without it (view debug_image from another machine)'))
    return actions


def generate_launch_description():
    share = get_package_share_directory('track_node')
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'track_node.yaml'),
                              description='parameter file of track_node'),
        DeclareLaunchArgument('image', default_value='/image',
                              description='camera image topic to track on'),
        DeclareLaunchArgument('depth', default_value='',
                              description='registered depth topic (with use_depth: true in '
                              'the params file); its camera_info is the sibling topic; '
                              'empty: depth/image in the namespace'),
        DeclareLaunchArgument('detections', default_value='',
                              description="a detector's Detection2DArray (with use_detector: "
                              'true in the params file); empty: detector/detections in the '
                              "namespace (never the node's own detections output)"),
        DeclareLaunchArgument('namespace', default_value='', description='node namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        DeclareLaunchArgument('log_level', default_value='info'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='start RViz too (skipped where rviz2 is missing)'),
        OpaqueFunction(function=_start),
    ])
