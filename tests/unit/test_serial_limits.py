"""The bound on serial numbers per request: refused as a whole, before anything is written."""

from __future__ import annotations

from uuid import UUID

import pytest

from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.contract.invariants import snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import ValidationError
from inventory_core.lots import MAX_SERIALS, MAX_SERIALS_PER_REQUEST, Tracking
from inventory_core.services.counts import CountStock
from inventory_core.services.movements import LineRequest, PostMovement


def _receipt(item: UUID, bin_id: UUID, lines: int) -> PostMovement:
    return PostMovement(
        "receipt",
        [
            LineRequest(
                item,
                MAX_SERIALS,
                to_location_id=bin_id,
                serials=[f"SN-{n}-{k}" for k in range(MAX_SERIALS)],
            )
            for n in range(lines)
        ],
    )


def test_a_request_listing_more_serials_than_the_bound_is_refused_and_writes_nothing() -> None:
    h = Harness(InMemoryContractAdapter())
    item = h.item(tracking=Tracking.SERIAL)
    bin_id = h.bin(h.warehouse())
    lines = MAX_SERIALS_PER_REQUEST // MAX_SERIALS
    before = snapshot(h)
    with pytest.raises(ValidationError) as refused:
        h.inventory.execute(h.admin, _receipt(item, bin_id, lines + 1))
    assert [e.path for e in refused.value.errors] == ["$.lines"]
    assert str(MAX_SERIALS_PER_REQUEST) in refused.value.errors[0].message
    assert snapshot(h) == before
    # At the bound it posts.
    movement = h.inventory.execute(h.admin, _receipt(item, bin_id, lines))
    assert sum(len(line.serials) for line in movement.lines) == MAX_SERIALS_PER_REQUEST


def test_a_count_lists_a_whole_bin_beyond_one_lines_serials() -> None:
    h = Harness(InMemoryContractAdapter())
    item = h.item(tracking=Tracking.SERIAL)
    bin_id = h.bin(h.warehouse())
    h.inventory.execute(h.admin, _receipt(item, bin_id, 2))  # 2,000 serials in the bin
    found = [*[f"SN-{n}-{k}" for n in range(2) for k in range(MAX_SERIALS)][1:], "SN-NEW"]
    result = h.inventory.execute(
        h.admin, CountStock([CountLine(item, bin_id, len(found), serials=found)])
    )
    assert result.movement is not None
    assert sorted(
        (line.serials, line.to_location_id == bin_id) for line in result.movement.lines
    ) == [
        (("SN-0-0",), False),
        (("SN-NEW",), True),
    ]
    with pytest.raises(ValidationError) as refused:
        h.inventory.execute(
            h.admin,
            CountStock(
                [
                    CountLine(
                        item,
                        bin_id,
                        MAX_SERIALS_PER_REQUEST + 1,
                        serials=[f"X-{n}" for n in range(MAX_SERIALS_PER_REQUEST + 1)],
                    )
                ]
            ),
        )
    assert [e.path for e in refused.value.errors] == ["$.lines[0].serials"]
