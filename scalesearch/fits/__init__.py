"""Scaling-law fits: estimators, the compute frontier, bootstrap over runs, universality, forecasts.

Start from :func:`scalesearch.fits.laws.fit_law` (a law by name on a table) or the estimators
(:class:`ChinchillaLaw`, :class:`FrontierFit`, :class:`SizeFit`, :class:`PowerLawWithConstant`).
"""

from scalesearch.fits.bootstrap import BootstrapResult, Estimate, bootstrap_runs
from scalesearch.fits.chinchilla import ChinchillaLaw
from scalesearch.fits.frontier import FrontierFit, SizeFit, lower_envelope
from scalesearch.fits.inputs import FitFailedError, FitInputError, read_table, standardize
from scalesearch.fits.laws import LawFit, fit_law
from scalesearch.fits.powerlaw import PowerLawWithConstant, PurePowerLaw
from scalesearch.fits.synthetic import KnownLaw

__all__ = ["BootstrapResult", "ChinchillaLaw", "Estimate", "FitFailedError", "FitInputError", "FrontierFit",
           "KnownLaw", "LawFit", "PowerLawWithConstant", "PurePowerLaw", "SizeFit", "bootstrap_runs", "fit_law",
           "lower_envelope", "read_table", "standardize"]
