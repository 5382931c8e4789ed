"""The small estimator API all laws share: ``fit`` returns self, fitted values end in ``_``, ``predict``."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from scalesearch.fits.optimize import FitDiagnostics


class FittedLaw(ABC):
    """A law with named parameters. Subclasses set ``params_`` (name -> value) and ``diagnostics_`` in ``fit``."""

    param_names: tuple[str, ...] = ()
    params_: dict[str, float]
    diagnostics_: FitDiagnostics

    @property
    def converged_(self) -> bool:
        return self.diagnostics_.converged

    @property
    def ok_(self) -> bool:
        """Converged, no parameter on a bound, best start inside the grid, optimiser moved."""
        return self.diagnostics_.ok

    @abstractmethod
    def predict(self, *x: np.ndarray) -> np.ndarray:
        """The law's value at ``x``."""

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(unfitted)"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({shown}, ok={self.ok_})"
