"""Scaling-law fits: estimators, the compute frontier, bootstraps, universality, forecasts and interpretation.

Start from :func:`fit_law` (a law by name on a table), :func:`frontier_estimate` (the frontier of the learning
curves so far, for the adaptive search) or the estimators (:class:`ChinchillaLaw`, :class:`FrontierFit`,
:class:`SizeFit`, :class:`PowerLawWithConstant`).
"""

from scalesearch.fits.bootstrap import BootstrapResult, Estimate, bootstrap_runs
from scalesearch.fits.chinchilla import ChinchillaLaw
from scalesearch.fits.curve_bootstrap import bootstrap_frontier
from scalesearch.fits.during_search import FrontierEstimate, frontier_estimate
from scalesearch.fits.forecast import entropy_and_kl, needed_for_reducible_loss
from scalesearch.fits.frontier import FrontierFit, SizeFit, lower_envelope
from scalesearch.fits.inputs import FitFailedError, FitInputError, read_table, standardize
from scalesearch.fits.laws import LawFit, fit_law
from scalesearch.fits.math_extrapolation import MathMetrics, extrapolation_vs_training
from scalesearch.fits.multimodal import CaptionMetrics, mutual_information
from scalesearch.fits.powerlaw import PowerLawWithConstant, PurePowerLaw
from scalesearch.fits.synthetic import KnownLaw
from scalesearch.fits.universality import universality_test

__all__ = ["BootstrapResult", "CaptionMetrics", "ChinchillaLaw", "Estimate", "FitFailedError", "FitInputError",
           "FrontierEstimate", "FrontierFit", "KnownLaw", "LawFit", "MathMetrics", "PowerLawWithConstant",
           "PurePowerLaw", "SizeFit", "bootstrap_frontier", "bootstrap_runs", "entropy_and_kl",
           "extrapolation_vs_training", "fit_law", "frontier_estimate", "lower_envelope", "mutual_information",
           "needed_for_reducible_loss", "read_table", "standardize", "universality_test"]
