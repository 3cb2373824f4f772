"""Training and evaluation data: sequence and still-image readers, pair sampling, synthesis.

May import ``net`` (configs) and ``runtime`` (the crops and normalisation the runtime uses);
never ``train`` or ``eval``.
"""

from track_core.data.sequences import DataError, find_sequences, read_boxes, Sequence

__all__ = ['DataError', 'find_sequences', 'read_boxes', 'Sequence']
