"""Offline training and compression: tasks, stages, replacement training, losses, the trainer.

May import ``net``, ``checkpoint``, ``data`` and ``foreign`` (CNN teachers); never ``eval``.
"""
