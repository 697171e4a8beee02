"""The status view's last-hour sparkline: one character a minute, scaled to the busiest."""

from __future__ import annotations

from pyexperimenter.views.sparkline import sparkline


def test_scaled_to_the_largest_and_a_single_row_still_shows() -> None:
    assert sparkline([0, 1, 4, 8]) == " ▁▄█"
    assert sparkline([0, 1, 1000])[1] == "▁"


def test_nothing_finished_is_blank_of_the_same_width() -> None:
    assert sparkline([0] * 60) == " " * 60
    assert sparkline([]) == ""
