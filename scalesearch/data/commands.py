"""``scalesearch data prepare SPEC.yaml`` and ``scalesearch data show DOMAIN``: materialise a domain's shards,
and decode a few sequences back to what a person can check (images as PNG files, problems and text printed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from scalesearch.data import DOMAINS, DataError, make_domain, prepare
from scalesearch.data.domain import Domain
from scalesearch.data.shards import read_meta
from scalesearch.spec import SpecError, load_spec

OK, BAD_INPUT = 0, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command, with ``prepare`` and ``show``, to a CLI's subparsers."""
    data = subparsers.add_parser("data", help="prepare and inspect the token shards of a data domain")
    commands = data.add_subparsers(dest="data_command", required=True)

    prep = commands.add_parser("prepare", help="materialise the shards of the domain a spec names (cached)")
    prep.add_argument("spec", type=Path, help="a job or search spec; its `domain:` section is prepared")
    prep.add_argument("--cache", type=Path, default=None, help="cache folder (default $SCALESEARCH_CACHE or "
                                                                "./.scalesearch/data)")
    prep.set_defaults(func=prepare_command)

    show = commands.add_parser("show", help="decode a few sequences of a domain: text printed, images as PNG")
    show.add_argument("domain", choices=sorted(DOMAINS))
    show.add_argument("--options", nargs="*", default=[], metavar="KEY=VALUE",
                      help="domain options; values are read as YAML (resolution=16, modules=[arithmetic])")
    show.add_argument("--split", default="heldout", help="train, heldout or one of the domain's eval splits "
                                                          "(math: interpolate, extrapolate, sweep_s01..sweep_s19)")
    show.add_argument("--n", type=int, default=4, help="how many sequences")
    show.add_argument("--out", type=Path, default=Path("data-show"), help="folder for the PNG files")
    show.set_defaults(func=show_command)


def prepare_command(args: argparse.Namespace) -> int:
    try:
        section = load_spec(args.spec).domain
        domain = make_domain(section.name, **section.options)
        root = prepare(domain, args.cache)
        meta = read_meta(root)
    except (DataError, SpecError) as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_INPUT
    counts = ", ".join(f"{split} {n}" for split, n in meta["sequences"].items())
    dropped = sum(meta["dropped_as_in_train"].values())
    print(f"{section.name}: shards in {root}\n  sequences: {counts}\n  {meta['skipped_items']} bad source items "
          f"skipped, {dropped} held-out sequences dropped as copies of train ones")
    return OK


def parse_options(pairs: list[str]) -> dict[str, Any]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(f"option {pair!r}: expected KEY=VALUE")
        options[key] = yaml.safe_load(value)
    return options


def show_command(args: argparse.Namespace) -> int:
    try:
        domain = make_domain(args.domain, **parse_options(args.options))
        if args.split not in domain.splits():
            raise DataError(f"{args.domain} has no split {args.split!r}; it has {domain.splits()}")
        shown = show_sequences(domain, args.split, args.n, args.out)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_INPUT
    print(f"{args.domain} ({args.split}): vocab {domain.vocab_size}, seq_len {domain.seq_len}, parts "
          f"{domain.parts}; {shown} sequences shown")
    return OK


def show_sequences(domain: Domain, split: str, n: int, out: Path) -> int:
    """Print the first ``n`` sequences of ``split`` decoded; write their pictures, if any, to ``out``."""
    shown = 0
    for block in domain.generate(split):
        for tokens in block.tokens[: n - shown]:
            print(f"--- {split} #{shown}\n{domain.decode(tokens)}")
            picture = domain.pixels(tokens)
            if picture is not None:
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"{domain.name}-{split}-{shown}.png"
                scale = max(1, 128 // picture.shape[0])  # enlarged so an 8x8 image can be seen
                Image.fromarray(np.kron(picture, np.ones((scale, scale, 1), np.uint8))).save(path)
                print(f"(image written to {path})")
            shown += 1
        if shown == n:
            break
    return shown
