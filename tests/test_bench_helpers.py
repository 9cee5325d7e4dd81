"""The pure helpers of bench/peers.py: tiled parcel keys and the goal verdicts (no database)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import parcel_files
        import peers_report
        yield parcel_files, peers_report
    finally:
        sys.path.remove(str(BENCH))


def test_tile_zero_is_the_sample(bench_modules):
    parcel_files, _ = bench_modules
    assert parcel_files.tile_key("12416000100002______", 1, 2, 0) == (
        "12416000100002______", 1, 2)
    assert parcel_files.tile_offset(0) == (0.0, 0.0)


def test_tiled_keys_are_unique_and_agree_with_their_fields(bench_modules):
    parcel_files, _ = bench_modules
    tiles = 1_000_000 // 3800 + 1
    keys = set()
    for t in range(tiles):
        key, flur, zae = parcel_files.tile_key("124160011007630002__", 11, 763, t)
        assert len(key) == 20 and key[6:9] == f"{flur:03d}" and key[9:14] == f"{zae:05d}"
        keys.add(key)
    assert len(keys) == tiles


def test_tiles_stay_in_brandenburg(bench_modules):
    parcel_files, _ = bench_modules
    offsets = [parcel_files.tile_offset(t) for t in range(1_000_000 // 3800 + 1)]
    # The sample spans 451.5-457.5 km E, 5731.5-5737.5 km N; Brandenburg 250-500, 5680-5950.
    assert min(451_500 + dx for dx, _ in offsets) >= 250_000
    assert 5_680_000 <= min(5_731_500 + dy for _, dy in offsets)
    assert max(5_737_500 + dy for _, dy in offsets) <= 5_950_000
    assert len(set(offsets)) == len(offsets)


def test_goal_verdicts(bench_modules):
    _, report = bench_modules
    assert report.api_goal(1.25) == "met (1.25x)"
    assert report.api_goal(0.8) == "not met: 0.80x, needs +50% requests per second"
    assert report.api_goal(None) == "not measured"
    assert report.etl_goal(1.0) == "met (1.00x)"
    assert report.etl_goal(4.0) == "not met: 4.00x, 75% of the time to cut"
