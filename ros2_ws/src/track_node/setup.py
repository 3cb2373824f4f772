from glob import glob

from setuptools import find_packages, setup

package_name = 'track_node'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + package_name + '/rviz', glob('rviz/*.rviz')),
        ('share/' + package_name + '/models', glob('models/*.safetensors')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='track_core maintainers',
    maintainer_email='maintainers@track-core.dev',
    description='ROS 2 node for the track_core single-object tracker.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'track_node = track_node.node:main',
            'image_source = track_node.image_source:main',
        ],
    },
)
