"""``python -m wrnsearch`` runs the CLI."""

from wrnsearch.cli import entry

entry()
