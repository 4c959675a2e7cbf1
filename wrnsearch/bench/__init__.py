"""Benchmarks behind ``wrnsearch bench ...``: each compares two ways side by side in one run.

The figures go to BENCHMARKS.md with the command that produced them and the machine it ran on;
tests never time anything. One module per benchmark: :mod:`~wrnsearch.bench.cost`,
:mod:`~wrnsearch.bench.train`, :mod:`~wrnsearch.bench.overhead`; search quality is
:mod:`~wrnsearch.bench.record` (a recorded table), :mod:`~wrnsearch.bench.replay` (the searcher
on it in simulated time) and :mod:`~wrnsearch.bench.quality` (medians, quartiles, plots).
"""

from __future__ import annotations

from wrnsearch.bench.cost import bench_cost
from wrnsearch.bench.machine import machine_description, random_specs
from wrnsearch.bench.overhead import bench_overhead
from wrnsearch.bench.train import bench_train

__all__ = ["bench_cost", "bench_overhead", "bench_train", "machine_description", "random_specs"]
