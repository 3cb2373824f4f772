"""Evaluation: one-pass metrics, reports and plots (track-eval), speed benchmarks (track-bench).

The top of the core: may import every other part (runtime, foreign baselines, data, net);
nothing imports it.
"""
