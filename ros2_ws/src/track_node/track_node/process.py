"""Running a node as a process: spin until SIGINT or SIGTERM, then stop in order.

Signals only set a flag, from start to exit: a second (or tenth) Ctrl-C during the shutdown
changes nothing, and no KeyboardInterrupt can surface after it. With ``exit_with_parent`` the
kernel sends the node SIGTERM when the process that started it dies (Linux
``PR_SET_PDEATHSIG``), so a launch killed without passing the signal on leaves no orphan.
"""

import ctypes
import os
import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def run_until_signalled(make_node, args=None) -> None:
    """Init rclpy without its signal handlers, spin ``make_node()`` until signalled, stop.

    The executor is single-threaded on purpose (docs/frames-that-arrive.md).
    """
    init_without_signal_handlers(args)
    node = make_node()
    if node.has_parameter('exit_with_parent') and node.get_parameter('exit_with_parent').value:
        from track_node import STARTED_BY
        why = follow_parent(STARTED_BY)
        if why:
            node.get_logger().warning(f'exit_with_parent: {why}')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin_until_signalled(node, executor, restore=False)
    # Exiting: ignore the signals from here on. Python resets handlers it installed to the
    # default at finalisation, so a Ctrl-C arriving then would kill the process (exit -2);
    # an ignored signal it leaves alone.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if getattr(node, 'worker_alive', lambda: False)():
        # The worker is still inside native inference after the stop's wait: finalising the
        # interpreter under it aborts (std::terminate, exit -6). Nothing is left to publish
        # (the context is shut down): leave at once with success.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


PR_SET_PDEATHSIG = 1


def follow_parent(parent=None) -> str:
    """Ask for SIGTERM when the parent process dies; return why not ('' when done).

    ``parent``: the pid of the process that started this one, taken as early as possible
    (``track_node.STARTED_BY``); if it is no longer the parent, it has died already and the
    node stops now. None: the parent now.
    """
    if not sys.platform.startswith('linux'):
        return f'not available on {sys.platform}'
    parent = os.getppid() if parent is None else parent
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            return f'prctl failed: {os.strerror(ctypes.get_errno())}'
    except (OSError, AttributeError) as exc:
        return f'prctl unavailable: {exc}'
    if os.getppid() != parent:          # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    return ''


def spin_until_signalled(node, executor, restore: bool = True) -> None:
    """Spin until SIGINT or SIGTERM; stop the worker before the context goes.

    rclpy's own handler would shut the context down while the worker may be publishing (an
    RCLError on Ctrl-C) and raise KeyboardInterrupt wherever the main thread is; here a signal
    only sets a flag, and a second one changes nothing. ``restore``: put the previous handlers
    back afterwards (a process about to exit keeps the flag-setting ones, so a late signal
    cannot kill it half-way through its exit).
    """
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set() and rclpy.ok(context=executor.context):
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        node.stop_worker()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=executor.context)
        if restore:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def init_without_signal_handlers(args=None) -> None:
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:          # older rclpy: its handlers stay; spin_until_signalled copes
        rclpy.init(args=args)
