"""``scalesearch data prepare SPEC.yaml`` and ``scalesearch data show DOMAIN``: materialise a domain's shards,
and decode a few sequences back to what a person can check (images as PNG files, problems and text printed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from scalesearch.data import DOMAINS, DataError, make_domain, prepare
from scalesearch.data.domain import SPLITS, Domain

OK, BAD_INPUT = 0, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command, with ``prepare`` and ``show``, to a CLI's subparsers."""
    data = subparsers.add_parser("data", help="prepare and inspect the token shards of a data domain")
    commands = data.add_subparsers(dest="data_command", required=True)

    prep = commands.add_parser("prepare", help="materialise the shards of the domain a spec names (cached)")
    prep.add_argument("spec", type=Path, help="a YAML spec with a `domain: {name: ..., options: {...}}` section")
    prep.add_argument("--cache", type=Path, default=None, help="cache folder (default $SCALESEARCH_CACHE or "
                                                                "./.scalesearch/data)")
    prep.set_defaults(func=prepare_command)

    show = commands.add_parser("show", help="decode a few sequences of a domain: text printed, images as PNG")
    show.add_argument("domain", choices=sorted(DOMAINS))
    show.add_argument("--options", nargs="*", default=[], metavar="KEY=VALUE",
                      help="domain options; values are read as YAML (resolution=16, modules=[arithmetic])")
    show.add_argument("--split", default="heldout", help="train, heldout or one of the domain's eval splits")
    show.add_argument("--n", type=int, default=4, help="how many sequences")
    show.add_argument("--out", type=Path, default=Path("data-show"), help="folder for the PNG files")
    show.set_defaults(func=show_command)


def domain_section(spec_path: Path) -> tuple[str, dict[str, Any]]:
    """(name, options) of the spec's ``domain:`` section. Stands in for the spec loader (``scalesearch.spec``)."""
    try:
        spec = yaml.safe_load(spec_path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"{spec_path}: cannot read the spec ({err})") from err
    domain = spec.get("domain") if isinstance(spec, dict) else None
    if not isinstance(domain, dict) or not isinstance(domain.get("name"), str):
        raise DataError(f"{spec_path}: expected a section `domain: {{name: <one of {sorted(DOMAINS)}>, options: "
                        f"{{...}}}}`, found {domain!r}")
    options = domain.get("options") or {}
    if not isinstance(options, dict):
        raise DataError(f"{spec_path}: domain.options must be a mapping, found {options!r}")
    return domain["name"], options


def prepare_command(args: argparse.Namespace) -> int:
    try:
        name, options = domain_section(args.spec)
        domain = make_domain(name, **options)
        root = prepare(domain, args.cache)
    except DataError as err:
        print(f"error: {err}")
        return BAD_INPUT
    counts = ", ".join(f"{split} {n}" for split, n in _meta_counts(root).items())
    print(f"{name}: shards in {root} (sequences: {counts}; {domain.item_errors.count} bad items skipped)")
    return OK


def _meta_counts(root: Path) -> dict[str, int]:
    return json.loads((root / "meta.json").read_text())["sequences"]


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
        if args.split not in (*SPLITS, *domain.eval_splits()):
            raise DataError(f"{args.domain} has no split {args.split!r}; it has {[*SPLITS, *domain.eval_splits()]}")
        shown = show_sequences(domain, args.split, args.n, args.out)
    except DataError as err:
        print(f"error: {err}")
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
