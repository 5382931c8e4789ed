"""Coverage of the bootstrap-over-runs 95% CIs of alpha_C and beta on curves from a known law.

Run: python benchmarks/fits_coverage.py [--seeds 200] [--resamples 100] [--noise 0.003] [--jobs N]
For each seed: Chinchilla-law curves for 11 sizes (1e6..1e9, a factor 2 apart), the frontier fit, its bootstrap;
counts how often the CI contains the closed-form truth (alpha beta/(alpha+beta), beta/(alpha+beta)).
"""

import argparse

import numpy as np
from joblib import Parallel, delayed

from scalesearch.fits.laws import fit_law
from scalesearch.fits.synthetic import KnownLaw

LAW = KnownLaw.from_chinchilla()


def one_seed(seed: int, resamples: int, noise: float) -> dict[str, float]:
    curves = LAW.curves(np.geomspace(1e6, 1e9, 11), c_max=1e20, points_per_decade=10, noise=noise,
                        rng=np.random.default_rng(seed), c_min=1e14)
    estimates = fit_law(curves, "frontier", resamples, seed=seed).estimates()
    return {"alpha_C": estimates["alpha_C"].contains(LAW.alpha_c), "beta": estimates["beta"].contains(LAW.beta_opt),
            "alpha_C_value": estimates["alpha_C"].value, "beta_value": estimates["beta"].value}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.003)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    rows = Parallel(n_jobs=args.jobs)(delayed(one_seed)(s, args.resamples, args.noise) for s in range(args.seeds))
    for name, truth in (("alpha_C", LAW.alpha_c), ("beta", LAW.beta_opt)):
        covered = np.mean([r[name] for r in rows])
        values = np.array([r[f"{name}_value"] for r in rows])
        print(f"{name}: coverage {covered:.3f} over {args.seeds} seeds (truth {truth:.4f}, mean estimate "
              f"{values.mean():.4f}, sd {values.std():.4f})")


if __name__ == "__main__":
    main()
