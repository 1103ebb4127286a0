"""The fault matrix of ``tests/fault_matrix.py``, run as tests: the rows the report shows."""

from __future__ import annotations

import fault_matrix as faults
import pytest


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("fault", faults.MATRIX, ids=[fault.name for fault in faults.MATRIX])
async def test_fault_gives_the_typed_outcome_and_keeps_the_good_copy(
    fault: faults.Fault, warm: bool
) -> None:
    """Each fault yields its typed error (or data) after the expected requests; warm keeps data."""
    outcome = await faults.run_fault(fault, warm=warm)

    assert (outcome.got, outcome.requests) == outcome.expected, outcome.detail
    assert outcome.other_requests == []
    if warm:
        assert outcome.kept is True
        assert outcome.served_after == "data"
        if outcome.got != "data":
            assert outcome.stats.last_error is not None
            assert outcome.got in outcome.stats.last_error
