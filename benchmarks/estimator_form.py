"""What an estimator of the frontier owes to knowing the truth's form (issue 5).

    python benchmarks/estimator_form.py [--seeds 20] [--json]

On the simulator's truth (Chinchilla's additive ``L(N, D)``), Chinchilla's approach 3 fitted to the search's
learning curves is accurate from far less compute than the frontier fit (benchmarks/RESULTS.md). Is that the
search's design, or the estimator knowing the simulator's form? Here three estimators read the same designs of
runs under three truths with the same frontier exponents and nearly the same ``N_opt(C)``:

- **chinchilla**: the simulator's truth (``SimulateSpec``'s Besiroglu coefficients), ``beta`` 0.5126,
  ``alpha_C`` 0.1783;
- **kaplan**: Kaplan et al. (2020)'s non-additive form ``E + ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D``
  (``KnownLaw.kaplan_form``: ``gamma = alpha_D`` in ``KnownLaw``'s generalised mean) with ``E`` the same,
  ``alpha_N = 0.35``, ``alpha_D = 0.37`` (``beta`` 0.5139, ``alpha_C`` 0.1799), and ``N_c``, ``D_c`` set so that
  its ``N_opt(C)`` is within 10% of the simulator's from 1e17 to 1e21 FLOPs and its frontier loss within 1% at
  1e19;
- **cross**: ``E + x + y + sqrt(x y)`` with Chinchilla's terms ``x, y`` (``KnownLaw`` with ``kappa = 1``; ``A``,
  ``B`` divided by 1.5, which keeps ``N_opt`` within 4% of the simulator's), exponents as the simulator's, a form
  outside both estimators' families: what the mean's success owes to its family.

Designs: **ladder level 1**, the runs scalesearch's compute ladder has made when its second level is settled on
the search-efficiency benchmark (5 sizes 3e7..2.7e8, the two smallest capped at 1e18, the others at 1e19; each
also stops once the next larger size is 1% below it, as the frontier scheduler stops a trial); **grid**, 9 sizes
3e7..3e9 each trained to 1e21 (the paper's design: a form-free estimator should be right there). Noise as the
simulator's (0.3% per report, 0.2% per run), reports 8 a decade from 1e17. Estimators: the frontier fit
(``fit_law(..., "frontier")``, Henighan's, what scalesearch reports), approach 3 (``ChinchillaLaw``, with
``a`` and ``alpha_C`` as its ``beta`` and ``alpha_C``) and **mean**, approach 3 with the generalised mean's
``gamma`` free (``ChinchillaLaw(free_gamma=True)``, a form that holds the first two truths). Figures: bias and spread of
the errors over seeds, and the share of seeds within the search-efficiency benchmark's tolerances (beta 0.03,
alpha_C 0.02).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from scalesearch.fits import FitFailedError, FitInputError, fit_law
from scalesearch.fits.chinchilla import ChinchillaLaw
from scalesearch.fits.synthetic import KnownLaw
from scalesearch.spec import SimulateSpec

SIM = SimulateSpec()
TRUTHS = {
    "chinchilla": KnownLaw(E=SIM.E, A=SIM.A, B=SIM.B, alpha=SIM.alpha, beta=SIM.beta),
    "kaplan": KnownLaw.kaplan_form(E=SIM.E, N_c=1.84e8, D_c=3.56e9, alpha_N=0.35, alpha_D=0.37),
    # A, B / 1.5: at x = y the cross term adds half, and this keeps N_opt within 4% of the simulator's
    "cross": KnownLaw(E=SIM.E, A=SIM.A / 1.5, B=SIM.B / 1.5, alpha=SIM.alpha, beta=SIM.beta, kappa=1.0),
}
TOLERANCE = {"beta": 0.03, "alpha_C": 0.02}
C_MIN, C_MAX, PER_DECADE, MARGIN = 1e17, 1e21, 8, 0.01
DESIGNS = {  # sizes, caps, and whether a size stops once the next larger one is MARGIN below it
    "ladder level 1": (np.geomspace(3e7, 2.7e8, 5), [1e18, 1e18, 1e19, 1e19, 1e19], True),
    "grid": (np.geomspace(3e7, 3e9, 9), [C_MAX] * 9, False),
}


def stops(truth, sizes: np.ndarray, caps: list[float], off_frontier: bool,
          margin: float = MARGIN) -> list[float]:
    """Each size's last compute: its cap, or (``off_frontier``) where the next larger size is ``margin`` below
    it (noise-free)."""
    grid = np.geomspace(C_MIN, C_MAX, 801)
    ends = []
    for i, (n, cap) in enumerate(zip(sizes, caps)):
        if off_frontier and i + 1 < len(sizes):
            m = sizes[i + 1]
            behind = truth.loss(n, grid / (6 * n)) > (1 + margin) * truth.loss(m, grid / (6 * m))
            cap = min(cap, grid[np.argmax(behind)]) if behind.any() else cap
        ends.append(cap)
    return ends


def runs(truth, sizes: np.ndarray, ends: list[float], seed: int) -> pd.DataFrame:
    curves = truth.curves(sizes, C_MAX, PER_DECADE, noise=SIM.noise, rng=np.random.default_rng(seed), c_min=C_MIN,
                          run_noise=SIM.run_noise)
    end = dict(zip(sizes, ends))
    return curves[curves["compute"] <= curves["n_params"].map(end) * (1 + 1e-9)]


def frontier(table: pd.DataFrame) -> dict | None:
    try:
        fit = fit_law(table, "frontier")
    except (FitInputError, FitFailedError):
        return None
    return {name: fit.estimator.params_[name] for name in TOLERANCE} if fit.ok else None


def approach3_estimates(table: pd.DataFrame, free_gamma: bool = False) -> dict | None:
    """beta (``a``) and alpha_C of Chinchilla's approach 3 on every point of the curves (``tokens`` from compute
    where missing; ``free_gamma``: the generalised mean, fits/chinchilla.py), None where it cannot be fitted or
    is flagged."""
    tokens = table["tokens"] if "tokens" in table.columns else table["compute"] / (6 * table["n_params"])
    try:
        fit = ChinchillaLaw(free_gamma=free_gamma).fit(table["n_params"], tokens, table["loss"])
    except (FitInputError, FitFailedError):
        return None
    return {"beta": fit.params_["a"], "alpha_C": fit.params_["alpha_C"]} if fit.ok_ else None


ESTIMATORS = {"frontier": frontier, "approach 3": approach3_estimates,
              "mean": lambda table: approach3_estimates(table, free_gamma=True)}


def summary(truth, found: list[dict | None]) -> dict:
    target = {"beta": truth.beta_opt, "alpha_C": truth.alpha_c}
    err = {name: np.array([f[name] - target[name] if f else np.nan for f in found]) for name in TOLERANCE}
    within = np.all([np.abs(err[name]) <= TOLERANCE[name] for name in TOLERANCE], axis=0)  # NaN: False
    return {"fits": int(sum(f is not None for f in found)), "seeds": len(found), "accurate": float(within.mean()),
            **{f"{name}_bias": float(np.nanmean(e)) for name, e in err.items()},
            **{f"{name}_sd": float(np.nanstd(e)) for name, e in err.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="noise seeds per truth and design (default 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    figures = {}
    for truth_name, truth in TRUTHS.items():
        for design, (sizes, caps, off_frontier) in DESIGNS.items():
            ends = stops(truth, sizes, caps, off_frontier)
            tables = [runs(truth, sizes, ends, seed) for seed in range(args.seeds)]
            for estimator, read in ESTIMATORS.items():
                row = {"compute": float(sum(ends)), **summary(truth, [read(t) for t in tables])}
                figures[f"{truth_name} / {design} / {estimator}"] = row
                if not args.json:
                    print(f"{truth_name:10s} {design:15s} ({row['compute']:.3g} FLOPs) {estimator:10s}: "
                          f"beta {row['beta_bias']:+.4f} +- {row['beta_sd']:.4f}, "
                          f"alpha_C {row['alpha_C_bias']:+.4f} +- {row['alpha_C_sd']:.4f}, "
                          f"accurate on {row['accurate']:.0%} of {row['seeds']} seeds", flush=True)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
