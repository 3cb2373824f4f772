"""Evaluation: speed benchmark (and, later, one-pass evaluation on real sequences)."""
