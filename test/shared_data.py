"""Find real material in ../shared/data (or TRACK_DATA_ROOT) for a test, or skip with why."""

import pytest

from track_core.data.build import find_shared


def shared(*parts):
    """Return the path ``parts`` under the data root; skip the test, saying why, without it."""
    path, why = find_shared(*parts)
    if path is None:
        pytest.skip(why)
    return path
