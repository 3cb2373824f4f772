"""Offline compression: stage division, replacement training, losses, tasks and the trainer."""
