"""scalesearch: adaptive compute-optimal model-size search on Ray and MLflow."""

__version__ = "0.1.0"
