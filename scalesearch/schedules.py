"""Learning-rate schedules as pure functions of the step, so a resumed job needs no scheduler state.

- ``henighan``: linear warm-up, then linear decay to ``final`` x peak (Henighan et al. 2020: to 1/10).
- ``cosine``: linear warm-up, then a cosine to ``final`` x peak over exactly the job's length (Chinchilla found
  a cycle longer than the run by more than 25% hurts).
- ``wsd``: warm-up, constant, then a linear cool-down over the last ``cooldown`` share of steps (warmup-stable-
  decay), whose stable phase lets one run be cooled down at several lengths.
"""

from __future__ import annotations

import math


def lr_at(step: int, total_steps: int, peak: float, schedule: str, warmup: float = 0.05, final: float = 0.1,
          cooldown: float = 0.2) -> float:
    """Learning rate at 0-based ``step`` of ``total_steps``; ``warmup`` and ``cooldown`` are shares of the steps."""
    warmup_steps = int(warmup * total_steps)
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if schedule == "wsd":
        decay_start = total_steps - max(1, int(cooldown * total_steps))
        progress = max(0.0, (step - decay_start) / max(1, total_steps - decay_start))
        return peak * (1 - (1 - final) * min(1.0, progress))
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "henighan":
        return peak * (1 - (1 - final) * progress)
    if schedule == "cosine":
        return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; use henighan, cosine or wsd")
