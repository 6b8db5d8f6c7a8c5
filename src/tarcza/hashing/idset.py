"""A compact set of signal ids: a sorted numpy array plus small Python sets of changes.

The matcher must know which signal ids its PDQ index holds (applying a change from the log is
idempotent only if it can tell), and at ten million signals a Python ``set[int]`` costs about
0.6 GB and seconds to build. :class:`IdSet` keeps instead:

- ``base``: the ids as a sorted, duplicate-free array, 4 bytes an id when every id fits in
  32 bits (else 8); it may be memory-mapped from a saved snapshot and is never written;
- ``added`` (ids not in ``base``) and ``removed`` (ids of ``base`` no longer in the set): the
  changes since, merged into a new ``base`` once they hold more than ``merge_above`` ids.

Membership is a Python set lookup, then a binary search of ``base`` (O(log n)); adding or
removing one id costs the same. This module is pure (numpy only).
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
    """A set of int64 ids with ``in``, ``add``, ``discard`` and ``len`` (see the module)."""

    def __init__(
        self, base: npt.ArrayLike | None = None, *, merge_above: int = DEFAULT_MERGE_ABOVE
    ) -> None:
        """The ids of ``base`` (any order; sorted and deduplicated here unless already so)."""
        if merge_above < 0:
            raise ValueError("merge_above is a number of ids, at least 0")
        self.merge_above = merge_above
        self._base = compact_ids(np.zeros(0, dtype=np.int64) if base is None else base)
        self._added: set[int] = set()
        self._removed: set[int] = set()

    @classmethod
    def adopt(cls, base: npt.NDArray[Any], *, merge_above: int = DEFAULT_MERGE_ABOVE) -> IdSet:
        """An IdSet over ``base`` as it is (e.g. memory-mapped): it must be a sorted,
        duplicate-free uint32 or int64 array, else ValueError. Checking reads it once."""
        if base.ndim != 1 or base.dtype not in (np.dtype(np.uint32), np.dtype(np.int64)):
            raise ValueError(f"the ids are {base.dtype}{base.shape}, not sorted uint32/int64")
        if base.size > 1 and not bool(np.all(base[1:] > base[:-1])):
            raise ValueError("the ids are not sorted without duplicates")
        made = cls(merge_above=merge_above)
        made._base = base
        return made

    # -- reading -------------------------------------------------------------------------------

    def _in_base(self, value: int) -> bool:
        base = self._base
        if base.size == 0:
            return False
        if base.dtype == np.uint32 and not 0 <= value <= _U32_MAX:
            return False
        at = int(np.searchsorted(base, value))
        return at < base.size and int(base[at]) == value

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | np.integer):
            return False
        number = int(value)
        if number in self._added:
            return True
        if number in self._removed:
            return False
        return self._in_base(number)

    def __len__(self) -> int:
        return int(self._base.size) - len(self._removed) + len(self._added)

    def __iter__(self) -> Iterator[int]:
        return iter(self.to_array().tolist())

    def __repr__(self) -> str:
        return (
            f"IdSet({len(self)} ids: {self._base.size} in the array, "
            f"{len(self._added)} added, {len(self._removed)} removed since)"
        )

    @property
    def pending(self) -> int:
        """Changes held in the Python sets (not yet merged into the array)."""
        return len(self._added) + len(self._removed)

    @property
    def nbytes(self) -> int:
        """Bytes of the sorted array (the Python sets excluded: at most ``merge_above``)."""
        return int(self._base.nbytes)

    def to_array(self) -> npt.NDArray[Any]:
        """Every id, sorted, as uint32 when they all fit (else int64); the array itself (not a
        copy) when nothing changed since it was made."""
        if not self._added and not self._removed:
            return self._base
        base = self._base
        if self._removed:
            gone = np.fromiter(self._removed, dtype=np.int64, count=len(self._removed))
            base = base[~np.isin(base, gone)]
        if self._added:
            extra = np.fromiter(self._added, dtype=np.int64, count=len(self._added))
            return compact_ids(np.concatenate([base.astype(np.int64), extra]))
        return compact_ids(base)

    # -- changing ------------------------------------------------------------------------------

    def add(self, value: int) -> None:
        """Add ``value`` (nothing happens when it is there already)."""
        number = int(value)
        if number in self._removed:
            self._removed.discard(number)
        elif number not in self._added and not self._in_base(number):
            self._added.add(number)
            self._merge_if_due()

    def discard(self, value: int) -> None:
        """Remove ``value`` (nothing happens when it is not there)."""
        number = int(value)
        if number in self._added:
            self._added.discard(number)
        elif number not in self._removed and self._in_base(number):
            self._removed.add(number)
            self._merge_if_due()

    def merge(self) -> None:
        """Fold the pending changes into a new sorted array."""
        if self.pending:
            self._base = self.to_array()
            self._added.clear()
            self._removed.clear()

    def _merge_if_due(self) -> None:
        if self.pending > self.merge_above:
            self.merge()
