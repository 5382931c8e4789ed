"""The adaptive compute-optimal search: Ray Tune trials chosen by Optuna, stopped by the frontier scheduler."""

from scalesearch.search.run import SearchError, SearchOutcome, resume_search, run_search

__all__ = ["SearchError", "SearchOutcome", "resume_search", "run_search"]
