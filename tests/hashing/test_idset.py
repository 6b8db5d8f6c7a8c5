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


_TAG = st.integers(-(2**31), 2**31 - 1)
_TAGGED_OPS = st.lists(
    st.one_of(st.tuples(st.just("add"), _ID, _TAG), st.tuples(st.just("discard"), _ID, _TAG)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.dictionaries(_ID, _TAG, max_size=30),
    ops=_TAGGED_OPS,
    merge_above=st.integers(0, 5),
    probes=st.lists(_ID),
)
def test_tags_follow_their_ids_as_a_python_dict_would(
    base: dict[int, int], ops: list[tuple[str, int, int]], merge_above: int, probes: list[int]
) -> None:
    """A tagged set is a dict id -> tag where adding an id already there keeps its tag."""
    shuffled = list(reversed(base.items()))
    ids = IdSet(
        np.array([i for i, _ in shuffled], dtype=np.int64),
        np.array([t for _, t in shuffled], dtype=np.int64),
        merge_above=merge_above,
    )
    model = dict(base)
    for op, value, tag in ops:
        if op == "add":
            ids.add(value, tag)
            model.setdefault(value, tag)
        else:
            ids.discard(value)
            model.pop(value, None)
        assert len(ids) == len(model) and ids.tag_of(value) == model.get(value)
    for value in [*probes, *base, *(v for _, v, _ in ops)]:
        assert ids.tag_of(value) == model.get(value) and (value in ids) == (value in model)
    array, tags = ids.to_arrays()
    assert tags is not None and tags.dtype == np.int32
    assert list(zip(array.tolist(), tags.tolist(), strict=True)) == sorted(model.items())
    ids.merge()
    assert ids.pending == 0 and [ids.tag_of(v) for v in model] == list(model.values())


def test_an_id_back_with_another_tag_takes_the_new_one() -> None:
    ids = IdSet(np.array([1, 2]), np.array([10, 20]))
    ids.discard(2)
    ids.add(2, 21)
    assert ids.tag_of(2) == 21 and len(ids) == 2 and ids.to_arrays()[1].tolist() == [10, 21]  # type: ignore[union-attr]
    ids.discard(2)
    assert 2 not in ids and ids.tag_of(2) is None and len(ids) == 1
    ids.add(2, 20)
    assert ids.tag_of(2) == 20 and ids.pending == 0  # as it was in the array


def test_tags_take_four_bytes_an_id_and_an_untagged_set_has_none() -> None:
    tagged = IdSet(np.arange(1000), np.full(1000, 7), merge_above=10)
    assert tagged.tagged and tagged.nbytes == 8000 and tagged.tag_of(999) == 7
    untagged = IdSet(np.arange(1000))
    assert not untagged.tagged and untagged.tag_of(5) is None and untagged.to_arrays()[1] is None
    with pytest.raises(ValueError):
        untagged.add(1001, 3)
    with pytest.raises(ValueError):
        tagged.add(1001)
    with pytest.raises(ValueError):
        tagged.add(1001, 2**31)
    with pytest.raises(ValueError):
        IdSet(np.arange(3), np.arange(2))
    empty = IdSet(tagged=True)
    empty.add(5, 1)
    assert empty.tag_of(5) == 1 and empty.to_arrays()[1].tolist() == [1]  # type: ignore[union-attr]


def test_adopted_tags_are_used_as_they_are_and_checked() -> None:
    base = compact_ids(np.array([1, 3, 5]))
    tags = np.array([4, 5, 6], dtype=np.int32)
    ids = IdSet.adopt(base, tags)
    assert ids.to_arrays()[1] is tags and ids.tag_of(3) == 5 and ids.tag_of(4) is None
    for bad in (np.array([4, 5, 6], dtype=np.int64), np.array([4, 5], dtype=np.int32)):
        with pytest.raises(ValueError):
            IdSet.adopt(base, bad)


def test_a_lookup_never_converts_the_whole_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """The id is searched as a scalar of the array's type: numpy would otherwise copy the
    array to a common type first, at every lookup (1.4 ms at 1M ids)."""
    searched: list[object] = []
    real = np.searchsorted

    def spy(array: np.ndarray, value: object, *args: object, **kwargs: object) -> object:
        searched.append((array.dtype, getattr(value, "dtype", type(value))))
        return real(array, value, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(np, "searchsorted", spy)
    for base in (np.array([1, 3, 5]), np.array([3, 2**40])):
        ids = IdSet(base, np.zeros(len(base), dtype=np.int32))
        assert 3 in ids and ids.tag_of(3) == 0 and 4 not in ids and 2**70 not in ids
    assert searched and all(array == value for array, value in searched)
