"""Training and evaluation data: sequence and still-image readers, pair sampling, synthesis."""

from track_core.data.sequences import DataError, find_sequences, read_boxes, Sequence

__all__ = ['DataError', 'find_sequences', 'read_boxes', 'Sequence']
