"""Find real material in ../shared/data (or TRACK_DATA_ROOT) for a test, or skip with why."""

import pytest

from track_core.data.build import data_root
from track_core.data.sequences import DataError


def shared(*parts):
    """Return the path ``parts`` under the data root; skip the test, saying why, without it."""
    try:
        path = data_root().joinpath(*parts)
    except DataError as exc:
        pytest.skip(f'no ../shared/data ({exc})')
    if not path.exists():
        pytest.skip(f'{path} is absent')
    return path
