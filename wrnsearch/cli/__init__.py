"""The ``wrnsearch`` command line: a thin skin over the library.

Each command parses its options, calls the library and prints; one module per group of
commands (``_run_commands``: run, resume, dashboard; ``_front_commands``: pareto, report;
``_space_commands``, ``_model_command``, ``_plan_command``, ``_train_command``, ``_deploy_commands``,
``_cluster_commands``, ``_bench_commands``), registered on :func:`main` (``_group``), and the live
view of a search (``_live_view``). Every user error (a
:class:`~wrnsearch.errors.WRNSearchError` or a bad option) becomes one line per problem on
stderr and exit code 2 (1 for a search stopped by an unexpected error, whose traceback is in its
run's log); ``--debug`` adds the traceback. Only this package prints.
"""

from __future__ import annotations

# the commands register themselves on ``main``
from wrnsearch.cli import (  # noqa: E402, F401, I001
    _bench_commands,
    _cluster_commands,
    _deploy_commands,
    _front_commands,
    _model_command,
    _plan_command,
    _run_commands,
    _space_commands,
    _train_command,
)
from wrnsearch.cli._group import EXIT_USAGE, entry, main

__all__ = ["EXIT_USAGE", "entry", "main"]
