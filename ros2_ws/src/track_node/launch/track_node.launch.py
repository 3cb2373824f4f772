"""Start track_node (and optionally RViz) on a robot.

ros2 launch track_node track_node.launch.py image:=/camera/color/image_raw
    [depth:=/camera/aligned_depth_to_color/image_raw] [detections:=/yolo/detections]
ros2 launch track_node track_node.launch.py cameras:=front,rear \
    image:=/front/color/image_raw,/rear/color/image_raw
    [params_file:=my.yaml]
    [namespace:=tracker] [use_sim_time:=true] [log_level:=debug] [rviz:=true]

Before anything starts, a params_file that is missing, that rcl would refuse, names unknown
parameters or has no key that applies to the node under its namespace is refused, and so is an
input remapped onto one of the node's own outputs (launch_checks.remappings);
rviz:=true without rviz2 installed carries on without it (and says so); the Fast DDS profile
for large images is used unless the environment names one (track_node/launch_checks.py).
"""

import os
import tempfile

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
    cameras = LaunchConfiguration('cameras').perform(context)
    image = LaunchConfiguration('image').perform(context)
    depth = LaunchConfiguration('depth').perform(context)
    detections = LaunchConfiguration('detections').perform(context)
    if launch_checks.split_list(cameras):       # several cameras: one topic each, in order
        images = '' if image == '/image' else image     # the default: /<camera>/image each
        remaps = launch_checks.camera_remappings(cameras, images, depth, detections, namespace)
    else:
        remaps = launch_checks.remappings(image, depth, detections, namespace)
    actions = [SetEnvironmentVariable(name, value) for name, value in
               launch_checks.middleware_environment(share).items()]
    actions.append(Node(
        package='track_node',
        executable='track_node',
        name='track_node',
        namespace=LaunchConfiguration('namespace'),
        # exit_with_parent: a launch killed without passing the signal on leaves no orphan
        parameters=[params_file, {'use_sim_time': LaunchConfiguration('use_sim_time'),
                                  'exit_with_parent': True, 'cameras': cameras}],
        remappings=remaps,
        arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
        output='screen',
    ))
    if LaunchConfiguration('rviz').perform(context).lower() in ('true', '1', 'yes'):
        if launch_checks.package_available('rviz2'):
            config = os.path.join(share, 'rviz', 'track_node.rviz')
            names = launch_checks.split_list(cameras)
            if names:                   # one debug image per camera
                with open(config) as f:
                    text = launch_checks.rviz_config(f.read(), names, namespace)
                handle, config = tempfile.mkstemp(prefix='track_node_', suffix='.rviz')
                with os.fdopen(handle, 'w') as f:
                    f.write(text)
            actions.append(Node(package='rviz2', executable='rviz2', name='rviz2',
                                arguments=['-d', config]))
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
        DeclareLaunchArgument('cameras', default_value='',
                              description='several cameras served by one model: front,rear '
                              '(then image, depth and detections list one topic per camera, '
                              'in that order)'),
        DeclareLaunchArgument('image', default_value='/image',
                              description='camera image topic to track on (with cameras: '
                              'one per camera, comma-separated)'),
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
