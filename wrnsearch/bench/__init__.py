"""Benchmarks behind ``wrnsearch bench ...``: each compares two ways side by side in one run.

The figures go to BENCHMARKS.md with the command that produced them and the machine it ran on
(:func:`machine_description`); tests never time anything.

- speed: analytic costing against building modules (:func:`bench_cost`), the trainer against a
  plain loop (:func:`bench_train`), a search's per-trial overhead against bare Tune
  (:func:`bench_overhead`), a sampler's proposal against the trials it has seen
  (:func:`bench_proposals`);
- search quality: a table recorded by the product itself (:func:`record_table`), the real
  searcher replayed on it in simulated time (:func:`bench_search`, :func:`replay` of one
  :class:`Method` on one seed), and the summary as text and plots (:func:`format_quality`).

Names load on first use (:mod:`wrnsearch.lazy`): a replay's worker processes import the replay,
not plotly or torch.
"""

from __future__ import annotations

from wrnsearch.lazy import lazy_exports

_EXPORTS = {
    "_costing_speed": ("bench_cost",),
    "_training_speed": ("bench_train",),
    "_forecast_accuracy": ("bench_forecast", "errors_summary"),
    "_overhead": ("bench_overhead",),
    "_readers": ("bench_readers",),
    "_proposal_speed": ("bench_proposals",),
    "_machine": ("cpu_model", "machine_description", "random_specs", "usable_cores"),
    "_recording": ("MACHINE_FILE", "record_table", "spearman"),
    "_table": ("Normalizer", "Table", "front_of", "load_table"),
    "_replay": ("Method", "bench_search", "compute_budget", "replay"),
    "_quality": ("format_quality", "quality_svg", "statistics", "summarize", "write_quality_html"),
    "_statistics": ("bootstrap", "paired_share"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
