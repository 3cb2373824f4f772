"""Start track_node (and optionally RViz) on a robot.

ros2 launch track_node track_node.launch.py image:=/camera/color/image_raw
    [params_file:=my.yaml] [namespace:=tracker] [use_sim_time:=true] [log_level:=debug]
    [rviz:=true]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory('track_node')
    params_file = LaunchConfiguration('params_file')
    image = LaunchConfiguration('image')
    namespace = LaunchConfiguration('namespace')
    use_sim_time = LaunchConfiguration('use_sim_time')
    log_level = LaunchConfiguration('log_level')
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'track_node.yaml'),
                              description='parameter file of track_node'),
        DeclareLaunchArgument('image', default_value='/image',
                              description='camera image topic to track on'),
        DeclareLaunchArgument('namespace', default_value='', description='node namespace'),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        DeclareLaunchArgument('log_level', default_value='info'),
        DeclareLaunchArgument('rviz', default_value='false', description='start RViz too'),
        Node(
            package='track_node',
            executable='track_node',
            name='track_node',
            namespace=namespace,
            parameters=[params_file, {'use_sim_time': use_sim_time}],
            remappings=[('image', image),
                        ('image/compressed', [image, '/compressed'])],
            arguments=['--ros-args', '--log-level', log_level],
            output='screen',
        ),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            arguments=['-d', os.path.join(share, 'rviz', 'track_node.rviz')],
            condition=IfCondition(LaunchConfiguration('rviz')),
        ),
    ])
