"""Data domains: each turns a source into token sequences with a named loss mask (see ``domain.py``)."""

from __future__ import annotations

import inspect
from typing import Any

from scalesearch.data.domain import DataError, Domain, Sequences
from scalesearch.data.image import ImageDomain
from scalesearch.data.mathematics import MathDomain
from scalesearch.data.shards import load_split, prepare
from scalesearch.data.text import TextDomain
from scalesearch.data.text_image import TextImageDomain
from scalesearch.data.video import VideoDomain
from scalesearch.data.vq import VQDomain

DOMAINS: dict[str, type[Domain]] = {domain.name: domain for domain in (
    TextDomain, ImageDomain, MathDomain, TextImageDomain, VideoDomain, VQDomain)}


def make_domain(name: str, **options: Any) -> Domain:
    """The domain called ``name`` built with ``options``; an unknown name or option is a clear error."""
    if name not in DOMAINS:
        raise DataError(f"unknown domain {name!r}; known domains: {', '.join(sorted(DOMAINS))}")
    try:
        inspect.signature(DOMAINS[name]).bind(**options)
    except TypeError as err:
        raise DataError(f"domain {name!r}: bad options {sorted(options)} ({err})") from err
    return DOMAINS[name](**options)


__all__ = ["DOMAINS", "DataError", "Domain", "Sequences", "load_split", "make_domain", "prepare"]
