"""JSON-safe levels (issue 14, defect 7) as a property of the stock repository, on both
adapters: from levels at and near 2^53 - 1, random calls of ``apply`` are refused exactly when
their outcome would break a rule -- a floor, the guard on ``available``, or a level or a growing
item total beyond the limit -- and a refused call changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory_core._checks import MAX_QUANTITY
from inventory_core.errors import InsufficientStock, InvalidOperation, LimitExceeded
from inventory_core.memory.store import InMemoryStore
from inventory_core.ports import UnitOfWork, WarehouseStockQuery
from inventory_core.stock import MAX_TOTAL, LocationChange, WarehouseChange
from inventory_pg import PgStore
from inventory_pg.testing import open_test_store

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Roles, not rows: each example maps them to new ids, so examples on one database never meet.
A, B, VIRTUAL = "a", "b", "virtual"  # stock-holding a in east, b in west; a virtual location
EAST, WEST = "east", "west"
HOLDS = {A: True, B: True, VIRTUAL: False}

Call = tuple[str, int, int, bool]
"""A change of a row: (role, on hand or delta, reserved delta, guard available)."""
State = tuple[dict[str, int], dict[str, tuple[int, int]]]


class Levels:
    """One item's levels in a store, under ids of its own."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self.unit_of_work = unit_of_work
        self.item = uuid4()
        self.ids = {role: uuid4() for role in (A, B, VIRTUAL, EAST, WEST)}
        self.roles = {uuid: role for role, uuid in self.ids.items()}

    def state(self) -> State:
        with self.unit_of_work() as uow:
            levels = uow.stock.on_hand([(self.item, self.ids[loc]) for loc in HOLDS])
            warehouses = uow.stock.warehouse_levels(
                WarehouseStockQuery(item_id=self.item), now=NOW, after=None, limit=None
            )
        return (
            {loc: levels[(self.item, self.ids[loc])] for loc in HOLDS},
            {self.roles[w.warehouse_id]: (w.on_hand, w.reserved) for w in warehouses},
        )

    def apply(self, call: list[Call]) -> Exception | None:
        locations: list[LocationChange] = []
        warehouses: list[WarehouseChange] = []
        for role, first, second, guard in call:
            if role in HOLDS:
                locations.append(LocationChange(self.item, self.ids[role], first, HOLDS[role]))
            else:
                warehouses.append(
                    WarehouseChange(self.item, self.ids[role], first, second, guard_available=guard)
                )
        try:
            with self.unit_of_work() as uow:
                uow.stock.apply(locations, warehouses)
        except (LimitExceeded, InsufficientStock, InvalidOperation) as exc:
            return exc
        return None


def _after(state: State, call: list[Call]) -> tuple[State, bool]:
    """What ``call`` would leave, and whether the rules allow it: the specification, stated on
    the outcome (a change beyond the limit by itself is refused too)."""
    locations, warehouses = dict(state[0]), dict(state[1])
    allowed = True
    for role, first, second, guard in call:
        if role in HOLDS:
            new = locations[role] + first
            allowed &= not (HOLDS[role] and new < 0)
            allowed &= abs(new) <= MAX_TOTAL and abs(first) <= MAX_TOTAL
            locations[role] = new
        else:
            on_hand, reserved = warehouses.get(role, (0, 0))
            on_hand, reserved = on_hand + first, reserved + second
            allowed &= 0 <= on_hand <= MAX_TOTAL and 0 <= reserved <= MAX_TOTAL
            if guard and first - second < 0:
                allowed &= on_hand - reserved >= 0
            warehouses[role] = (on_hand, reserved)
    for part in (0, 1):  # the item's totals of on hand and reserved, where they grow
        before = sum(levels[part] for levels in state[1].values())
        after = sum(levels[part] for levels in warehouses.values())
        allowed &= after <= before or after <= MAX_TOTAL
    return (locations, warehouses), allowed


near = st.sampled_from([0, 1, 2, MAX_TOTAL - 2, MAX_TOTAL - 1, MAX_TOTAL])
deltas = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([MAX_TOTAL, -MAX_TOTAL, MAX_TOTAL + 1, -(MAX_TOTAL + 1), MAX_QUANTITY]),
    st.integers(-(2**54), 2**54),
)
# At most one change per row in a call (several add up, but the adapters' guard on available
# is judged per change in memory and per row on Postgres: not what this property is about).
calls = st.tuples(
    st.dictionaries(st.sampled_from(sorted(HOLDS)), deltas, max_size=3),
    st.dictionaries(
        st.sampled_from([EAST, WEST]), st.tuples(deltas, deltas, st.booleans()), max_size=2
    ),
).map(
    lambda t: (
        [(role, d, 0, False) for role, d in t[0].items()]
        + [(role, o, r, g) for role, (o, r, g) in t[1].items()]
    )
)


@pytest.fixture(scope="module")
def pg_store(database_url: str) -> Iterator[PgStore]:
    store = open_test_store(database_url, max_size=2)
    yield store
    store.close()


@given(east=near, west=near, virtual=near, reserved=near, calls=st.lists(calls, max_size=6))
def test_in_memory_apply_refuses_exactly_what_would_pass_the_limit(
    east: int, west: int, virtual: int, reserved: int, calls: list[list[Call]]
) -> None:
    _check(Levels(InMemoryStore().unit_of_work), (east, west, virtual, reserved), calls)


@pytest.mark.postgres
@given(east=near, west=near, virtual=near, reserved=near, calls=st.lists(calls, max_size=6))
def test_postgres_apply_refuses_exactly_what_would_pass_the_limit(
    pg_store: PgStore, east: int, west: int, virtual: int, reserved: int, calls: list[list[Call]]
) -> None:
    _check(Levels(pg_store.unit_of_work), (east, west, virtual, reserved), calls)


def _check(levels: Levels, start: tuple[int, int, int, int], calls: list[list[Call]]) -> None:
    east, west, virtual, reserved = start
    west = min(west, MAX_TOTAL - east)  # a consistent start: the item's total within the limit
    reserved = min(reserved, east)
    first = [
        (A, east, 0, False),
        (B, west, 0, False),
        (VIRTUAL, -virtual, 0, False),
        (EAST, east, reserved, True),
        (WEST, west, 0, True),
    ]
    assert levels.apply(first) is None
    for call in calls:
        before = levels.state()
        expected, allowed = _after(before, call)
        refused = levels.apply(call)
        assert (refused is None) == allowed, (call, refused)
        assert levels.state() == (expected if allowed else before)
        if isinstance(refused, LimitExceeded):  # it tells the truth about the level it names
            assert refused.item_id == levels.item
            role = None if refused.location_id is None else levels.roles[refused.location_id]
            part = 0 if refused.level == "on_hand" else 1
            if role in HOLDS:
                current = before[0][role]
            elif role is not None:
                current = before[1][role][part]
            else:
                current = sum(level[part] for level in before[1].values())
            assert refused.current == current
            assert max(abs(refused.current + refused.change), abs(refused.change)) > MAX_TOTAL
        locations, warehouses = levels.state()
        assert all(abs(level) <= MAX_TOTAL for level in locations.values())
        for part in (0, 1):
            assert sum(level[part] for level in warehouses.values()) <= MAX_TOTAL


def test_the_ids_of_an_example_are_its_own() -> None:
    # What lets the Postgres examples share a database without a reset each.
    first, second = Levels(InMemoryStore().unit_of_work), Levels(InMemoryStore().unit_of_work)
    assert first.item != second.item
    assert not set(first.ids.values()) & set(second.ids.values())
    assert isinstance(first.ids[A], UUID)
