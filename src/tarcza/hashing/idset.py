"""A compact set of signal ids: a sorted numpy array plus small Python sets of changes.

The matcher must know which signal ids its PDQ index holds (applying a change from the log is
idempotent only if it can tell), and at ten million signals a Python ``set[int]`` costs about
0.6 GB and seconds to build. :class:`IdSet` keeps instead:

- ``base``: the ids as a sorted, duplicate-free array, 4 bytes an id when every id fits in
  32 bits (else 8); it may be memory-mapped from a saved snapshot and is never written;
- ``added`` (ids not in ``base``) and ``removed`` (ids of ``base`` no longer in the set): the
  changes since, merged into a new ``base`` once they hold more than ``merge_above`` ids.

A *tagged* set also keeps one int32 per id (the matcher's: the signal's bank), ``tags``, an
array aligned with ``base`` (4 bytes an id, memory-mapped with it), and ``added`` then maps each
added id to its tag. Adding an id already there keeps its tag.

Membership is a Python set lookup, then a binary search of ``base`` (O(log n)); adding or
removing one id, or reading its tag, costs the same. This module is pure (numpy only).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_MERGE_ABOVE", "IdSet", "compact_ids"]

#: Changes kept in the Python sets before they are merged into the sorted array.
DEFAULT_MERGE_ABOVE: Final[int] = 65_536

_U32_MAX: Final = (1 << 32) - 1
_I32: Final = np.iinfo(np.int32)
_I64: Final = np.iinfo(np.int64)


def compact_ids(ids: npt.ArrayLike) -> npt.NDArray[Any]:
    """``ids`` sorted, without duplicates, as uint32 when they all fit (else int64)."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids must be a 1-d array, not shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, not {arr.dtype}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint32)
    if not bool(np.all(arr[1:] > arr[:-1])):
        arr = np.unique(arr)
    if int(arr[0]) >= 0 and int(arr[-1]) <= _U32_MAX:
        return arr.astype(np.uint32, copy=False)
    if arr.dtype == np.uint64 and int(arr[-1]) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return arr.astype(np.int64, copy=False)


class IdSet:
    """A set of int64 ids with ``in``, ``add``, ``discard`` and ``len``, and with ``tags`` one
    int32 per id (``tag_of``); see the module."""

    def __init__(
        self,
        base: npt.ArrayLike | None = None,
        tags: npt.ArrayLike | None = None,
        *,
        tagged: bool | None = None,
        merge_above: int = DEFAULT_MERGE_ABOVE,
    ) -> None:
        """The ids of ``base`` (any order; sorted and deduplicated here unless already so) and,
        when ``tags`` is given (or ``tagged``), their tags, in the same order (an id given
        twice keeps its first)."""
        if merge_above < 0:
            raise ValueError("merge_above is a number of ids, at least 0")
        self.merge_above = merge_above
        ids = np.zeros(0, dtype=np.int64) if base is None else np.asarray(base)
        self._tags: npt.NDArray[np.int32] | None = None
        if tags is None and tagged:
            if ids.size:
                raise ValueError("a tagged set's ids need their tags")
            tags = np.zeros(0, dtype=np.int32)
        if tags is None:
            self._base = compact_ids(ids)
        else:
            values = _as_tags(tags)
            if ids.ndim != 1 or values.shape != ids.shape:
                raise ValueError(f"{ids.shape} ids but {values.shape} tags")
            if ids.size and ids.ndim == 1 and bool(np.all(ids[1:] > ids[:-1])):
                self._base, self._tags = compact_ids(ids), values  # sorted already: no copy
            elif ids.size:
                unique, first = np.unique(ids, return_index=True)
                self._base, self._tags = compact_ids(unique), values[first]
            else:
                self._base, self._tags = compact_ids(ids), np.zeros(0, dtype=np.int32)
        self._added: dict[int, int] = {}
        self._removed: set[int] = set()

    @classmethod
    def adopt(
        cls,
        base: npt.NDArray[Any],
        tags: npt.NDArray[Any] | None = None,
        *,
        merge_above: int = DEFAULT_MERGE_ABOVE,
    ) -> IdSet:
        """An IdSet over ``base`` (and ``tags``) as they are (e.g. memory-mapped): ``base`` must
        be a sorted, duplicate-free uint32 or int64 array, ``tags`` int32 of the same length,
        else ValueError. Checking reads ``base`` once."""
        if base.ndim != 1 or base.dtype not in (np.dtype(np.uint32), np.dtype(np.int64)):
            raise ValueError(f"the ids are {base.dtype}{base.shape}, not sorted uint32/int64")
        if base.size > 1 and not bool(np.all(base[1:] > base[:-1])):
            raise ValueError("the ids are not sorted without duplicates")
        if tags is not None and (tags.dtype != np.dtype(np.int32) or tags.shape != base.shape):
            raise ValueError(f"the tags are {tags.dtype}{tags.shape}, not int32{base.shape}")
        made = cls(merge_above=merge_above)
        made._base = base
        made._tags = tags
        return made

    # -- reading -------------------------------------------------------------------------------

    @property
    def tagged(self) -> bool:
        """Whether the set keeps a tag per id."""
        return self._tags is not None

    def _at(self, value: int) -> int:
        """Where ``value`` is in ``base``, or -1."""
        base = self._base
        if base.size == 0:
            return -1
        if base.dtype == np.uint32 and not 0 <= value <= _U32_MAX:
            return -1
        if not _I64.min <= value <= _I64.max:
            return -1
        # Searched as a scalar of the array's own type: given a Python int, numpy would first
        # convert the whole array (1.4 ms at 1M ids instead of 3 us).
        at = int(np.searchsorted(base, base.dtype.type(value)))
        return at if at < base.size and int(base[at]) == value else -1

    def _in_base(self, value: int) -> bool:
        return self._at(value) >= 0

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | np.integer):
            return False
        number = int(value)
        if number in self._added:
            return True
        if number in self._removed:
            return False
        return self._in_base(number)

    def tag_of(self, value: int) -> int | None:
        """The tag of id ``value``; None when it is not in the set or the set is not tagged."""
        tags = self._tags
        if tags is None:
            return None
        number = int(value)
        tag = self._added.get(number)
        if tag is not None:
            return tag
        if number in self._removed:
            return None
        at = self._at(number)
        return None if at < 0 else int(tags[at])

    def __len__(self) -> int:
        return int(self._base.size) - len(self._removed) + len(self._added)

    def __iter__(self) -> Iterator[int]:
        return iter(self.to_array().tolist())

    def __repr__(self) -> str:
        return (
            f"IdSet({len(self)} ids{' tagged' if self.tagged else ''}: {self._base.size} in the "
            f"array, {len(self._added)} added, {len(self._removed)} removed since)"
        )

    @property
    def pending(self) -> int:
        """Changes held in the Python sets (not yet merged into the array)."""
        return len(self._added) + len(self._removed)

    @property
    def nbytes(self) -> int:
        """Bytes of the sorted array and its tags (the Python sets excluded: at most
        ``merge_above``)."""
        return int(self._base.nbytes) + (0 if self._tags is None else int(self._tags.nbytes))

    def to_array(self) -> npt.NDArray[Any]:
        """Every id, sorted, as uint32 when they all fit (else int64); the array itself (not a
        copy) when nothing changed since it was made."""
        return self.to_arrays()[0]

    def to_arrays(self) -> tuple[npt.NDArray[Any], npt.NDArray[np.int32] | None]:
        """:meth:`to_array` and the tags aligned with it (None when the set is not tagged)."""
        base, tags = self._base, self._tags
        if not self._added and not self._removed:
            return base, tags
        if self._removed:
            gone = np.fromiter(self._removed, dtype=np.int64, count=len(self._removed))
            kept = ~np.isin(base, gone)
            base = base[kept]
            tags = None if tags is None else tags[kept]
        if not self._added:
            return compact_ids(base), tags
        extra = np.fromiter(self._added, dtype=np.int64, count=len(self._added))
        order = np.argsort(extra)
        extra = extra[order]
        wide = base.astype(np.int64)
        # Added ids are never in what is left of ``base``: inserted in place, in one pass.
        at = np.searchsorted(wide, extra)
        ids = compact_ids(np.insert(wide, at, extra))
        if tags is None:
            return ids, None
        values = np.fromiter(self._added.values(), dtype=np.int32, count=len(self._added))
        return ids, np.insert(tags, at, values[order])

    # -- changing ------------------------------------------------------------------------------

    def add(self, value: int, tag: int | None = None) -> None:
        """Add ``value`` (nothing happens when it is there already), with its ``tag`` (given
        exactly when the set is tagged: else ValueError)."""
        number = int(value)
        if (tag is None) == self.tagged:
            raise ValueError("a tagged set's ids have a tag, an untagged set's none")
        if tag is not None and not _I32.min <= tag <= _I32.max:
            raise ValueError(f"a tag is an int32, not {tag}")
        if number in self._added:
            return
        if number in self._removed:
            if tag is None or tag == self.tag_in_base(number):
                self._removed.discard(number)
                return
            # Back with another tag: the array's entry stays removed, the id is added anew.
        elif self._in_base(number):
            return
        self._added[number] = 0 if tag is None else int(tag)
        self._merge_if_due()

    def tag_in_base(self, value: int) -> int | None:
        """The tag the sorted array holds for ``value`` (even if removed since), or None."""
        at = self._at(int(value))
        return None if at < 0 or self._tags is None else int(self._tags[at])

    def discard(self, value: int) -> None:
        """Remove ``value`` (nothing happens when it is not there)."""
        number = int(value)
        if number in self._added:
            del self._added[number]
        elif number not in self._removed and self._in_base(number):
            self._removed.add(number)
            self._merge_if_due()

    def merge(self) -> None:
        """Fold the pending changes into a new sorted array."""
        if self.pending:
            self._base, self._tags = self.to_arrays()
            self._added.clear()
            self._removed.clear()

    def _merge_if_due(self) -> None:
        if self.pending > self.merge_above:
            self.merge()


def _as_tags(tags: npt.ArrayLike) -> npt.NDArray[np.int32]:
    values = np.asarray(tags)
    if values.size and values.dtype.kind not in "iu":
        raise TypeError(f"tags must be integers, not {values.dtype}")
    if values.size and (int(values.min()) < _I32.min or int(values.max()) > _I32.max):
        raise ValueError("tags must fit in int32")
    return values.astype(np.int32, copy=False)
