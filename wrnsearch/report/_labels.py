"""Where the labels of the paper's results go on the error-vs-parameters plot, so that none overlaps
another label or another star (no plotly).

plotly sets a text label beside its marker whatever else is there, and the paper's WRNs of 10M to
50M parameters pile up into one unreadable block. Here each label is placed in pixels of the plot
area: above, below, right or left of its star, one row further out at a time, with a leader line
to the star when it is moved off it (:func:`place_labels`, a greedy placement).

The page lays the figure out in a column whose width the browser decides, and the legend under
the plot takes one to three rows of its height. Positions are linear in both: two boxes apart at
the narrowest plot area (:attr:`Geometry.min_width_px`), left one still on the left, stay apart
at every greater width; two boxes apart at both ends of the range of heights, on the same side,
are apart at every height between. :func:`overlaps` checks exactly that, and the tests check it
in the browser too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

LABEL_FONT_PX = 10
# a label's box: its text's line (plotly sets text 1.3 lines high) and the box's padding and border
_LINE = 1.3
_PAD_PX = 2.0
_GAP_PX = 2.0  # between two boxes
_MAX_ROWS = 10  # rows above and below a star tried before the least crowded is taken


class Geometry(NamedTuple):
    """The plot area the page gives the figure: the narrowest width (the page's two columns of a
    1,100 px window) and the range of heights (a 470 px figure, less its margins and one to three
    rows of legend)."""

    min_width_px: float = 420.0
    heights_px: tuple[float, float] = (260.0, 375.0)


class Box(NamedTuple):
    """A label's (or a star's) box: its anchor as fractions of the plot area (``u`` from the left,
    ``v`` from the top), its centre ``dx_px`` right of and ``dy_px`` below the anchor, its size in pixels."""

    u: float
    v: float
    width_px: float
    height_px: float
    dx_px: float = 0.0
    dy_px: float = 0.0


def label_size_px(text: str, font_px: float = LABEL_FONT_PX) -> tuple[float, float]:
    """The box a label takes, on the generous side: 0.64 em a character is wider than the digits and
    capitals of DejaVu Sans and Liberation Sans, the fonts plotly's sans-serif falls back to."""
    return 0.64 * font_px * len(text) + 2 * _PAD_PX, _LINE * font_px + 2 * _PAD_PX


def _apart(a: Box, b: Box, geometry: Geometry, gap: float = _GAP_PX) -> bool:
    """No overlap at any width from the narrowest up and at every height of the range."""
    need_x = (a.width_px + b.width_px) / 2 + gap
    apart_x = (a.u - b.u) * geometry.min_width_px + a.dx_px - b.dx_px  # a's centre right of b's, at the narrowest
    if (apart_x >= need_x and a.u >= b.u) or (apart_x <= -need_x and a.u <= b.u):
        return True
    need = (a.height_px + b.height_px) / 2 + gap
    gaps = [(a.v - b.v) * h + a.dy_px - b.dy_px for h in geometry.heights_px]
    return all(d >= need for d in gaps) or all(d <= -need for d in gaps)


def _inside(box: Box, geometry: Geometry) -> bool:
    """Within the plot area at every size (the narrowest width is the tightest)."""
    width, x = geometry.min_width_px, box.u * geometry.min_width_px + box.dx_px
    return (box.width_px / 2 <= x <= width - box.width_px / 2
            and all(box.height_px / 2 <= box.v * h + box.dy_px <= h - box.height_px / 2 for h in geometry.heights_px))


def overlaps(labels: Sequence[Box], stars: Sequence[Box], geometry: Geometry = Geometry()) -> list[tuple[int, str]]:
    """Each label that touches another label or a star (``(i, "label j")`` / ``(i, "star j")``), or
    leaves the plot area (``(i, "outside")``), somewhere in the geometry's range."""
    found = [(i, f"label {j}") for i, a in enumerate(labels) for j, b in enumerate(labels)
             if i < j and not _apart(a, b, geometry)]
    found += [(i, f"star {j}") for i, a in enumerate(labels) for j, s in enumerate(stars)
              if not _apart(a, s, geometry, gap=0.0)]
    return found + [(i, "outside") for i, a in enumerate(labels) if not _inside(a, geometry)]


def _places(star: Box, width_px: float, height_px: float, geometry: Geometry) -> list[tuple[float, float]]:
    """Offsets (x, y) of a label's centre from its star, nearest first: above, below, right, left,
    then each of them one row further out. Above and below, a label near the plot's left or right
    edge is moved along to stay inside it."""
    x = star.u * geometry.min_width_px
    fit = max(0.0, width_px / 2 - x) - max(0.0, x + width_px / 2 - geometry.min_width_px)
    above = star.height_px / 2 + _GAP_PX + height_px / 2
    beside = star.width_px / 2 + _GAP_PX + width_px / 2
    row = height_px + _GAP_PX
    return [place for r in range(_MAX_ROWS) for place in (
        (fit, -above - r * row), (fit, above + r * row), (beside, -r * row), (-beside, -r * row),
        (beside, r * row), (-beside, r * row))]


# orders in which the greedy placement visits the stars (as keys of a star): from the right, from the
# left, from the bottom, from the top; the placement with the fewest conflicts, then the shortest
# leader lines, wins
_ORDERS = (lambda s: (-s.u, -s.v), lambda s: (-s.u, s.v), lambda s: (s.u, -s.v), lambda s: (-s.v, s.u),
           lambda s: (s.v, s.u))


def place_labels(stars: Sequence[Box], sizes: Sequence[tuple[float, float]], geometry: Geometry = Geometry(),
                 markers: Sequence[Box] = ()) -> list[tuple[float, float]]:
    """The offset (x, y) of each star's label's centre from the star, in pixels, down positive (as
    plotly's ``ax`` and ``ay``).

    Greedy: star after star, each label in the nearest place where it touches no label placed
    before, no star and no edge of the plot, and covers as few of the other ``markers`` (the
    trials) as it can; where there is no such place (a crowd bigger than the plot), in the place
    with the fewest conflicts. Several orders of the stars are tried.
    """
    def score(labels: list[Box]) -> tuple[int, int, float]:
        covered = sum(not _apart(b, m, geometry, gap=0.0) for b in labels for m in markers)
        return (len(overlaps(labels, stars, geometry)), covered,
                sum(math.hypot(b.dx_px, b.dy_px) for b in labels))

    tries = [_greedy(stars, sizes, geometry, markers, sorted(range(len(stars)), key=lambda i: order(stars[i])))
             for order in _ORDERS]
    best = min(tries, key=score) if tries else []
    return [(b.dx_px, b.dy_px) for b in best]


def _greedy(stars: Sequence[Box], sizes: Sequence[tuple[float, float]], geometry: Geometry,
            markers: Sequence[Box], order: Sequence[int]) -> list[Box]:
    """Each star's label, placed in ``order``, each where it conflicts least with those before (a
    conflict outweighs any number of markers covered)."""
    placed: dict[int, Box] = {}
    for i in order:
        star, (width, height) = stars[i], sizes[i]
        least, chosen = math.inf, Box(star.u, star.v, width, height)
        for dx, dy in _places(star, width, height, geometry):
            box = Box(star.u, star.v, width, height, dx, dy)
            conflicts = (sum(not _apart(box, other, geometry) for other in placed.values())
                         + sum(not _apart(box, s, geometry, gap=0.0) for s in stars) + (not _inside(box, geometry)))
            cost = conflicts * (len(markers) + 1) + sum(not _apart(box, m, geometry, gap=0.0) for m in markers)
            if cost < least:
                least, chosen = cost, box
            if not cost:
                break
        placed[i] = chosen
    return [placed[i] for i in range(len(stars))]
