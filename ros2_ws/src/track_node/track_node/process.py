"""Running a node as a process: spin until SIGINT or SIGTERM, then stop in order."""

import signal
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def run_until_signalled(make_node, args=None) -> None:
    """Init rclpy without its signal handlers, spin ``make_node()`` until signalled, stop.

    The executor is single-threaded on purpose (docs/frames-that-arrive.md).
    """
    init_without_signal_handlers(args)
    node = make_node()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin_until_signalled(node, executor)


def spin_until_signalled(node, executor) -> None:
    """Spin until SIGINT or SIGTERM; stop the worker before the context goes.

    rclpy's own handler would shut the context down while the worker may be publishing (an
    RCLError on Ctrl-C) and raise KeyboardInterrupt wherever the main thread is; here a signal
    only sets a flag, and a second one changes nothing.
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def init_without_signal_handlers(args=None) -> None:
    try:
        from rclpy.signals import SignalHandlerOptions
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except ImportError:          # older rclpy: its handlers stay; spin_until_signalled copes
        rclpy.init(args=args)
