"""Shared fixtures: small, fast versions of the domains, and a throw-away cache folder."""

from __future__ import annotations

import pytest

from scalesearch.data.mathematics import MathDomain


@pytest.fixture(scope="session")
def small_math() -> MathDomain:
    return MathDomain(train_problems=3000, heldout_problems=300, eval_problems=100)
