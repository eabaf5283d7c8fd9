"""Small-count suppression for every figure whistle shows: published statistics, survey results.

A count of 1 to k-1 could point at a person (the only contractor of a sector, the one report
from a small unit), so it is never shown as a number: ``suppress(count, k)`` turns it into
``Fewer(k)``, written ``<k`` in CSV and JSON and "fewer than k" on pages. k is the rules
file's ``[surveys] min_cell`` (default 5).

Hiding a small cell is not enough when totals are published too: ``total - the other cells``
would give it back. Figures are therefore protected as a system (``Figures``): every published
figure has a key, every published sum is an equation ``total = part + part + ...``, and
``Figures.protect()`` then

1. hides every count of 1..k-1 (primary suppression; shown as ``Fewer``);
2. for a sum marked ``group=True`` (the answers of a group of respondents) whose total is itself
   1..k-1, hides every part, zeros included: "3 responses, 0 said yes" would tell each of the
   three respondents' answer;
3. repeats until no equation has exactly one hidden figure: where it has one, the smallest
   visible figure of that equation is hidden as well (one that is never shown if there is
   one, else a non-zero one if there is any). A sum whose shown total is 0 needs nothing:
   counts are never negative, so every part is 0 and hiding one would protect nothing
   (complementary suppression; shown as ``Withheld``, since it may be large, and saying
   "fewer than k" of it would be false).

Figures that are never shown but could be computed from shown ones (the cases whose deadline
has not come yet = all cases - the cases due) are added with ``published=False``: they are
protected like the rest, so a small one cannot be derived either.

4. checks the system as a whole: with every shown figure known, no small figure may be
   computable from any combination of the sums (a row total minus a column total plus
   another row total, say, can give back a cell that no single sum does). Where one is, a
   further figure of a sum it takes part in is withheld, until none is.

Finally every complementary figure that turns out not to be needed is shown again, largest
first, if the system stays safe without it.

This stops exact disclosure by any linear combination of the published sums; it does not solve
the linear-programming problem of narrowing a hidden cell down to a range using the fact that
counts are never negative (the tables published here are small and share their margins).
"""

from __future__ import annotations

import math

from collections.abc import Hashable, Iterable

__all__ = ["Fewer", "Withheld", "suppress", "Figures", "Protected", "is_hidden", "DEFAULT_MIN_CELL"]

DEFAULT_MIN_CELL = 5


class Fewer(str):
    """A suppressed count: fewer than ``k`` (1 to k-1, or a 0 in a group smaller than k).
    Its text, in CSV and JSON, is ``<k``."""

    def __new__(cls, k: int) -> "Fewer":
        obj = super().__new__(cls, f"<{k}")
        obj.k = k
        return obj


class Withheld(str):
    """A count hidden so that a small one next to it cannot be computed from a total
    (complementary suppression). Its text, in CSV and JSON, is ``withheld``."""

    def __new__(cls) -> "Withheld":
        return super().__new__(cls, "withheld")


def is_hidden(value) -> bool:
    """True for a suppressed figure (``Fewer`` or ``Withheld``)."""
    return isinstance(value, (Fewer, Withheld))


def _check_count(count) -> int:
    if type(count) is not int:  # bool is an int subclass: refused
        raise TypeError(f"a count must be an int, got {type(count).__name__}")
    if count < 0:
        raise ValueError(f"a count cannot be negative, got {count}")
    return count


def _check_k(k) -> int:
    if type(k) is not int or k < 2:
        raise ValueError(f"k must be a whole number of at least 2, got {k!r}")
    return k


def suppress(count: int, k: int):
    """``count`` if it may be shown (0, or k and more), else ``Fewer(k)``.

    The one rule every published figure passes through (``Figures.protect`` uses it for the
    primary suppression); a figure that is part of a table with totals goes through
    ``Figures`` so that the complementary cells are hidden too.
    """
    count, k = _check_count(count), _check_k(k)
    return Fewer(k) if 0 < count < k else count


class Protected:
    """The outcome of ``Figures.protect``: look a figure up by its key."""

    def __init__(self, k: int, values: dict, hidden: set, small_groups: set):
        self.k = k
        self._values = values
        self._hidden = hidden
        self._small = small_groups

    def __getitem__(self, key: Hashable):
        """The figure to show: the count, ``Fewer(k)`` or ``Withheld()``."""
        value = self._values[key]
        if key not in self._hidden:
            return value
        if key in self._small or suppress(value, self.k) != value:
            return Fewer(self.k)
        return Withheld()

    def get(self, key: Hashable, default=None):
        """Like ``self[key]``, or ``default`` for an unknown key."""
        return self[key] if key in self._values else default

    def hidden(self, key: Hashable) -> bool:
        """True if the figure under ``key`` is not shown as a number."""
        return key in self._hidden

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values


class Figures:
    """Counts with keys, and the sums between them; ``protect()`` decides what is shown."""

    def __init__(self, k: int):
        self.k = _check_k(k)
        self.values: dict = {}
        self.published: set = set()
        self.equations: list[tuple[Hashable, tuple]] = []
        self.groups: set = set()  # indexes of equations whose small totals hide all their parts

    def add(self, key: Hashable, count: int, *, published: bool = True) -> Hashable:
        """Record a figure (again: the same count, or ValueError). Returns ``key``."""
        count = _check_count(count)
        if key in self.values and self.values[key] != count:
            raise ValueError(f"figure {key!r} given as {self.values[key]} and as {count}")
        self.values[key] = count
        if published:
            self.published.add(key)
        return key

    def sums_to(self, total: Hashable, parts: Iterable[Hashable], *, group: bool = False) -> None:
        """Record that ``total`` is the sum of ``parts`` (all already added). ``group``: the
        parts are how a group of respondents answered, so when the group is smaller than k
        none of them is shown, not even a 0."""
        parts = tuple(parts)
        for key in (total, *parts):
            if key not in self.values:
                raise KeyError(f"figure {key!r} was not added")
        if sum(self.values[p] for p in parts) != self.values[total]:
            raise ValueError(f"the parts of {total!r} do not add up to it")
        if parts:
            if group:
                self.groups.add(len(self.equations))
            self.equations.append((total, parts))

    def protect(self) -> Protected:
        """Primary, small-group and complementary suppression (see the module docstring)."""
        k, values = self.k, self.values
        hidden = {key for key, value in values.items() if 0 < value < k}
        small_groups: set = set()
        while True:
            self._one_equation_at_a_time(hidden, small_groups)
            required = {key for key, value in values.items() if 0 < value < k} | small_groups
            exposed = self.computable(hidden) & required
            if not exposed:
                break
            hidden.add(min(self._shown_around(exposed, hidden), key=self._cost))
        # The picks depend on the order equations are visited: show again, largest first, every
        # complementary figure that turns out not to be needed.
        for key in sorted(hidden - required, key=lambda key: (-values[key], repr(key))):
            hidden.discard(key)
            if self.computable(hidden) & required:
                hidden.add(key)
        return Protected(k, dict(values), hidden, small_groups)

    def _shown_around(self, exposed: set, hidden: set) -> list:
        """Shown figures to hide next: those of the sums an exposed figure is in; if all of
        theirs are hidden already (x = S1 - S2 through sums whose every figure is hidden
        but S1 and S2), those of the sums reached through hidden figures, step by step."""
        reached, frontier = set(), set(exposed)
        while frontier:
            reached |= frontier
            sums = [(total, *parts) for total, parts in self.equations if frontier & {total, *parts}]
            shown = [key for members in sums for key in members if key not in hidden]
            if shown:
                return shown
            frontier = {key for members in sums for key in members} - reached
        return [key for key in self.values if key not in hidden]  # (the exposed are then in no sum)

    def _cost(self, key) -> tuple:
        """What hiding ``key`` costs: a figure that is never shown costs nothing; then a small
        non-zero one."""
        return key in self.published, self.values[key] == 0, self.values[key], repr(key)

    def _one_equation_at_a_time(self, hidden: set, small_groups: set) -> None:
        """Steps 2 and 3 of the module docstring, until nothing changes (``hidden`` and
        ``small_groups`` grow in place)."""
        k, values = self.k, self.values
        changed = True
        while changed:
            changed = False
            for n, (total, parts) in enumerate(self.equations):
                if n in self.groups and 0 < values[total] < k:  # a small group: no part shown, not even 0
                    for part in parts:
                        if part not in hidden:
                            hidden.add(part)
                            small_groups.add(part)
                            changed = True
                members = (total, *parts)
                unknown = [key for key in members if key in hidden]
                if len(unknown) != 1 or (total not in hidden and values[total] == 0):
                    continue
                visible = [key for key in members if key not in hidden]
                if not visible:
                    continue
                hidden.add(min(visible, key=self._cost))
                changed = True

    def computable(self, hidden: set) -> set:
        """The hidden figures that the shown ones and the sums determine exactly.

        Each sum, with its shown figures moved to the known side, is a linear equation in the
        hidden ones; a hidden figure is determined when some combination of the equations
        leaves it alone, that is, when its unit vector lies in their row space. Gaussian
        elimination to reduced row echelon form, in exact integers (rows scaled by their gcd):
        the figure is determined exactly when its pivot row has no other entry.
        """
        rows = []
        for total, parts in self.equations:
            row: dict = {}
            for key, sign in ((total, 1), *((part, -1) for part in parts)):
                if key in hidden:
                    row[key] = row.get(key, 0) + sign
            row = {key: c for key, c in row.items() if c}
            if row:
                rows.append(row)
        pivots: dict = {}  # key -> its reduced row
        for row in rows:
            for key, prow in pivots.items():  # reduce by every pivot found so far
                if key in row:
                    row = _combine(row, prow, key)
            if not row:
                continue
            key = min(row, key=repr)
            for other, orow in list(pivots.items()):  # keep earlier pivot rows reduced
                if key in orow:
                    pivots[other] = _combine(orow, row, key)
            pivots[key] = row
        return {key for key, row in pivots.items() if len(row) == 1}


def _combine(row: dict, pivot_row: dict, key) -> dict:
    """``row`` with ``key`` eliminated by ``pivot_row``, in integers divided by their gcd."""
    a, b = pivot_row[key], row[key]
    out = {k: a * c for k, c in row.items()}
    for k, c in pivot_row.items():
        out[k] = out.get(k, 0) - b * c
    out = {k: c for k, c in out.items() if c}
    g = math.gcd(*out.values()) if out else 1
    return {k: c // g for k, c in out.items()}
