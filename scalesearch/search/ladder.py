"""The compute ladder: read the frontier from the bottom up, as IsoFLOP profiles and small grids do.

A frontier search with every trial allowed ``budget.flops`` from the start spends most of its compute on the
largest sizes, although the frontier's exponents are the same at every scale and the low compute range is cheap.
With ``search.ladder`` set, every trial is capped at ``state.cap``, first ``start_flops``. A level is
**settled** when, at its cap, the size that leads there is bracketed by a larger one (that reached the cap, or
was projected never to lead before it), or is itself at the range's hard limit, and the lead on the envelope
passed to a larger size at least ``crossings`` times within the level (since the cap below). A size within the
margin of the lead counts as leading, and a lead counts once no smaller trial still running can take it back
(``ComputeLadder.read``), so a level settles the same whatever the order in which concurrent trials report.
Then the cap rises by ``factor``, and:

- the range's lower end moves up to the leader (a smaller size is behind at the cap and falls further behind),
  its upper end grows by ``RANGE_STEP`` (range control at the refits grows it further);
- the trials at least as large as the leader that the cap stopped, or whose projection to the cap stopped, and
  that no larger model beats there, are **continued**: a new Tune trial with the same config and the keys
  ``CONTINUES``/``CONTINUES_AFTER`` extends the same curve (the simulator skips the reports made; a training
  job resumes from its Ray Train run's latest checkpoint). Retraining them would cost up to ``1/factor`` of the
  new level per size and, on the simulator, put identical curves in the fit. Pausing them (Tune's PAUSE) is not
  used: a paused trial keeps its slot in the searcher's concurrency limit, so a level whose trials all wait at
  the cap would hold the search still;
- new sizes, neither tried nor queued so far (``state.proposed``), are queued log-spaced at the initial ladder's
  ratio from the leader up to the range's top, with the leader's hyperparameters (the best known near there;
  Optuna sampling them instead made the frontier noisier: beta 0.03-0.15 off at the end on the benchmark's 3
  seeds), except a tuned learning rate, which follows ``lr_exponent`` from the leader's (``transfer_lr``).

Continuations and new sizes run smallest first, so that the frontier above the old cap grows upwards from where
it was settled (largest first, the snapshot after a rise had alpha_C 0.073 off on the benchmark's seed 0, 0.040
smallest first: until the next trial ends, one curve carries the frontier above the old cap). The searcher runs
the queue before asking Optuna again (search/searcher.py). Once the level at ``budget.flops`` is settled the
ladder has read the whole frontier and the search ends.
"""

from __future__ import annotations

import numpy as np

from scalesearch.search.control import RANGE_STEP
from scalesearch.search.state import AT_CAP, CONTINUES, CONTINUES_AFTER, PROJECTED, SAME_SIZE, SearchState
from scalesearch.spec import SearchSpec

EPS = 1e-9  # report points and caps are both products of floats: equal within this
GRID_PER_DECADE = 20  # where crossings are looked for, as the frontier fit's envelope does


def transfer_lr(spec: SearchSpec, config: dict, n_from: float, n_to: float) -> dict:
    """``config`` (tuned at ``n_from``) for a size ``n_to``: a tuned learning rate moves along N as
    ``N^lr_exponent``, kept within its search range (the range is the user's bound on it)."""
    r = spec.hyperparameters.get("lr")
    if spec.ladder is None or r is None or r.choices is not None or "lr" not in config:
        return config
    lr = config["lr"] * (n_to / n_from) ** spec.ladder.lr_exponent
    return {**config, "lr": float(min(max(lr, r.low), r.high))}


class ComputeLadder:
    """Raises ``state.cap`` once the level below it is settled and queues the next level's trials."""

    def __init__(self, spec: SearchSpec, c_max: float, margin: float):
        self.search, self.spec, self.c_max, self.margin = spec, spec.ladder, c_max, margin
        self.limit_high = spec.limits[1]
        sizes = spec.ladder_sizes
        self.ratio = (sizes[0] / sizes[-1]) ** (1.0 / (len(sizes) - 1)) if sizes[0] > sizes[-1] else RANGE_STEP

    def reached_cap(self, state: SearchState, spent: float) -> bool:
        return state.cap < self.c_max and spent >= state.cap * (1 - EPS)

    def floor(self, state: SearchState) -> float:
        """The cap of the level below (0 at the first level)."""
        return self.spec.start_flops * self.spec.factor ** (state.level - 1) if state.level else 0.0

    def read(self, state: SearchState) -> None:
        """Record who leads at each point of the level's grid (``GRID_PER_DECADE`` a decade down from the cap to
        the cap below, or the first report), and who is within ``margin`` of the lead there, where no smaller
        model can take that lead back any more (``SearchState.open_below``); where one still can, the point
        keeps what was read there before. So the level's reading does not depend on the order in which
        concurrent trials report, and does not wait for a moment at which no trial runs (a new one starts
        whenever one ends). A size within the margin leads as much as the one 0.3% below it: which of two
        neighbouring sizes is lowest at the cap is the noise's choice, and counting only the lowest held a
        level whose N_opt lay between them for 40 trials in 1 run of 4 (N_opt(1e18) = 8.5e7 between 5.2e7 and
        9e7 in tests/search/test_ladder.py)."""
        curves = [c for c in state.curves.values() if len(c.compute) > 1]
        if not curves:
            return
        low = max(self.floor(state), min(c.compute[0] for c in curves))
        j = np.arange(int(np.floor(GRID_PER_DECADE * np.log10(state.cap / low) + EPS)) + 1)
        grid = state.cap * 10.0 ** (-j / GRID_PER_DECADE)
        leads = state.leading(grid, within=self.margin)
        known = [i for i, lead in enumerate(leads) if lead]
        for i, still_open in zip(known, state.open_below([leads[i][0] for i in known], grid[known], self.margin)):
            if not still_open:
                state.settled_leads[int(j[i])] = leads[i]

    def leader(self, state: SearchState) -> str | None:
        """The trial with the lowest loss at the cap among those that reached it, as last read (``read``)."""
        return state.settled_leads.get(0, [None])[0]

    def settled(self, state: SearchState) -> bool:
        """N_opt at the cap bracketed from above, and enough crossings within the level (module docstring)."""
        self.read(state)
        leader = self.leader(state)
        if leader is None:
            return False
        n_lead, reasons = state.curves[leader].n_params, state.stop_reasons
        # At the hard limit nothing larger will come, but that brackets the leader only if it is there itself.
        bracketed = n_lead * SAME_SIZE >= self.limit_high or any(
            c.n_params > n_lead * SAME_SIZE and (c.spent >= state.cap * (1 - EPS)
                                                  or reasons.get(cid, "").startswith(PROJECTED))
            for cid, c in state.curves.items())
        return bracketed and self.crossings(state) >= self.spec.crossings

    def crossings(self, state: SearchState) -> int:
        """How many times the lead on the envelope passes to a larger size within the level (from the cap below,
        or the first report, to the cap): the distinct sizes leading somewhere there (or within the margin of
        the lead), less one, as ``read`` last recorded them. Read from the curves, not from stops: a smaller
        model that reached the cap before the larger one got there was crossed all the same."""
        leading = sorted({state.curves[cid].n_params for lead in state.settled_leads.values() for cid in lead})
        return sum(b > a * SAME_SIZE for a, b in zip(leading, leading[1:]))

    def update(self, state: SearchState) -> bool:
        """Raise the cap if the level is settled; True if it rose. Settled at the top, the search ends."""
        if not self.settled(state):
            return False
        if state.cap >= self.c_max:
            state.finished = state.finished or (f"the compute ladder is settled at budget.flops {self.c_max:.3g}: "
                                                "N_opt bracketed there, the frontier below read level by level")
            return False
        leader = state.curves[self.leader(state)]
        state.cap, state.level = min(self.c_max, state.cap * self.spec.factor), state.level + 1
        state.settled_leads.clear()  # the next level is read anew, on its own grid
        lo, hi = state.n_range
        state.n_range = (max(lo, leader.n_params), min(self.limit_high, hi * RANGE_STEP))
        continued = sorted((cid for cid, c in state.curves.items()
                            if c.n_params >= leader.n_params
                            and state.stop_reasons.get(cid, "").startswith((AT_CAP, PROJECTED))
                            and state.dominated(cid, self.margin, SAME_SIZE) is None),
                           key=lambda cid: state.curves[cid].n_params)
        for cid in continued:
            del state.stop_reasons[cid]
            state.queued.append({**state.curves[cid].config, CONTINUES: cid,
                                 CONTINUES_AFTER: state.curves[cid].spent})
        sizes = [*(c.n_params for c in state.curves.values()), *state.proposed]  # tried, running or queued
        tuned = {k: v for k, v in leader.config.items() if k not in ("n_params", CONTINUES, CONTINUES_AFTER)}
        top = int(np.floor(np.log(state.n_range[1] / leader.n_params) / np.log(self.ratio) + EPS))
        for n in leader.n_params * self.ratio ** np.arange(1, top + 1):
            n = min(float(n), state.n_range[1])
            if all(max(n, s) / min(n, s) > SAME_SIZE for s in sizes):
                state.queued.append({**transfer_lr(self.search, tuned, leader.n_params, n), "n_params": n})
                state.proposed.add(n)
                sizes.append(n)
        return True
