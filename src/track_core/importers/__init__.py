"""Importers of trackers trained elsewhere: their files in, this project's networks out.

Each reads its source file without executing pickled code and reports keys it could not match.
May import ``net`` and ``checkpoint``.
"""
