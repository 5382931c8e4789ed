"""The adaptive compute-optimal search: Ray Tune trials chosen by Optuna, stopped by the frontier scheduler.

The entry points are in ``scalesearch.search.run`` (``run_search``, ``resume_search``). This package file imports
nothing: every Tune trial process imports ``search.trials``, and importing the driver's side with it (MLflow,
the fits library, SciPy) added about 2.5 s to each trial's start.
"""
