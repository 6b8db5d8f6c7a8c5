"""The matcher's compact id set behaves as a Python set under any sequence of changes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tarcza.hashing.idset import IdSet, compact_ids

# Ids around both edges that matter: 0 and the uint32 limit (an id above it makes the array int64).
_ID = st.one_of(
    st.integers(0, 40),
    st.integers(2**32 - 20, 2**32 + 20),
    st.integers(-(2**63), 2**63 - 1),
)
_OPS = st.lists(st.tuples(st.sampled_from(["add", "discard"]), _ID), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    base=st.lists(_ID, max_size=30),
    ops=_OPS,
    merge_above=st.integers(0, 5),
    probes=st.lists(_ID),
)
def test_any_changes_leave_it_equal_to_a_python_set(
    base: list[int], ops: list[tuple[str, int]], merge_above: int, probes: list[int]
) -> None:
    ids = IdSet(np.array(base, dtype=np.int64), merge_above=merge_above)
    model = set(base)
    for op, value in ops:
        if op == "add":
            ids.add(value)
            model.add(value)
        else:
            ids.discard(value)
            model.discard(value)
        assert len(ids) == len(model)
        assert (value in ids) == (value in model)
        assert ids.pending <= merge_above  # merged into the array once over the bound
    for value in [*probes, *base, *(v for _, v in ops)]:
        assert (value in ids) == (value in model)
    assert ids.to_array().tolist() == sorted(model)
    ids.merge()
    assert ids.pending == 0 and ids.to_array().tolist() == sorted(model) and len(ids) == len(model)


def test_ids_that_fit_take_four_bytes_each_and_others_eight() -> None:
    small = IdSet(np.arange(1000, 0, -1))
    assert small.to_array().dtype == np.uint32 and small.nbytes == 4000
    assert 1000 in small and 0 not in small and -1 not in small and 2**40 not in small
    big = IdSet(np.array([3, 2**40]))
    assert big.to_array().dtype == np.int64 and 2**40 in big and 3 in big
    big.discard(2**40)
    big.merge()
    assert big.to_array().dtype == np.uint32 and big.to_array().tolist() == [3]


def test_an_unchanged_set_hands_back_its_array_without_a_copy() -> None:
    base = compact_ids(np.array([5, 1, 3, 3]))
    assert base.tolist() == [1, 3, 5]
    ids = IdSet.adopt(base)
    assert ids.to_array() is base
    ids.add(2)
    assert ids.to_array().tolist() == [1, 2, 3, 5] and base.tolist() == [1, 3, 5]


@pytest.mark.parametrize(
    "array",
    [np.array([1, 3, 2], dtype=np.uint32), np.array([1, 1], dtype=np.int64), np.zeros(2, np.int32)],
)
def test_adopting_an_array_that_is_not_sorted_uint32_or_int64_is_refused(
    array: np.ndarray,
) -> None:
    with pytest.raises(ValueError):
        IdSet.adopt(array)


def test_non_integers_are_never_members() -> None:
    ids = IdSet(np.array([1, 2]))
    assert "1" not in ids and 1.0 not in ids and None not in ids and np.int64(2) in ids
