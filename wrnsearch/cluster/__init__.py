"""Beyond one machine: submit a search to a Ray cluster as a Ray job, and watch it.

- :mod:`~wrnsearch.cluster._submission`: :class:`SubmitOptions` and the job they make
  (:func:`build_submission`, pure: no cluster needed);
- :mod:`~wrnsearch.cluster._jobs`: the job server: :func:`submit_search`, status, logs, stop.

Whether the study is reachable from every node is checked by the search itself
(:mod:`wrnsearch.study`), and Ray's errors are explained by
:mod:`wrnsearch.search`: both sit below this package.
"""

from __future__ import annotations

from wrnsearch.cluster._jobs import (
    DEFAULT_DASHBOARD_ADDRESS,
    JobInfo,
    job_logs,
    job_status,
    list_jobs,
    normalize_address,
    stop_job,
    submit,
    submit_search,
    wait_for_job,
)
from wrnsearch.cluster._submission import Submission, SubmitOptions, build_submission, project_requirements

__all__ = [
    "DEFAULT_DASHBOARD_ADDRESS", "JobInfo", "Submission", "SubmitOptions", "build_submission", "job_logs", "job_status",
    "list_jobs", "normalize_address", "project_requirements", "stop_job", "submit", "submit_search", "wait_for_job",
]
