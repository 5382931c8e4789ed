"""What the domains share: reading user Parquet files and image folders, the shipped default images, the
train/held-out assignment by content, and cutting rows of tokens into blocks.

Every reader names the file and the row or item in its errors; a bad item goes to ``ItemErrors`` (reported,
counted, fatal only in strict mode) so one broken row does not sink a large source.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from scalesearch.data.domain import SPLITS, DataError, ItemErrors, Sequences

BLOCK_TOKENS = 1 << 20  # a domain yields its sequences in blocks of about this many tokens (8 MB as int64)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# Colour photographs inside the scikit-learn and scikit-image wheels (not fetched at run time): real scenes,
# portraits, objects, a telescope field and microscopy, so the default image domain holds natural statistics.
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
                  "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg")


def check_heldout_every(heldout_every: int, domain: str) -> None:
    if not isinstance(heldout_every, int) or heldout_every < 2:
        raise DataError(f"{domain}: heldout_every must be an integer >= 2 (1 in heldout_every items is held out), "
                        f"got {heldout_every!r}")


def in_split(content: bytes, split: str, heldout_every: int) -> bool:
    """Whether an item belongs to ``split`` ("train" or "heldout"). 1 in ``heldout_every`` items go to held-out,
    chosen by a hash of their content: identical items land in the same split, and the split of an item does
    not move when others are added."""
    if split not in SPLITS:
        raise DataError(f"no split {split!r} here; the splits are {SPLITS}")
    digest = int.from_bytes(hashlib.sha1(content).digest()[:8], "big")
    return (digest % heldout_every == 0) == (split == "heldout")


def rows_per_block(width: int) -> int:
    """How many sequences of ``width`` tokens make a block of about ``BLOCK_TOKENS``."""
    return max(1, BLOCK_TOKENS // width)


def blocks(rows: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[Sequences]:
    """Group (tokens, parts) rows of equal length into ``Sequences`` blocks of about ``BLOCK_TOKENS`` tokens."""
    tokens: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    for row_tokens, row_parts in rows:
        tokens.append(row_tokens)
        parts.append(row_parts)
        if len(tokens) == rows_per_block(len(row_tokens)):
            yield Sequences(np.stack(tokens).astype(np.int64), np.stack(parts).astype(np.uint8))
            tokens, parts = [], []
    if tokens:
        yield Sequences(np.stack(tokens).astype(np.int64), np.stack(parts).astype(np.uint8))


def source_identity(source: str, shipped: tuple[str, ...]) -> str | list[Any]:
    """A shipped source by its name, a user's file or folder by ``file_identity``."""
    return source if source in shipped else file_identity(source)


def file_identity(path: str | Path) -> list[Any]:
    """What the cache fingerprint knows of a user's file or folder: its path, size and modification time."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return [str(path), path.stat().st_size, path.stat().st_mtime_ns]


COLUMN_KINDS = {
    "bytes": ("encoded image bytes", lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t)),
    "integers": ("(nested) lists of integers",
                 lambda t: t != innermost_type(t) and pa.types.is_integer(innermost_type(t))),
    "strings": ("strings", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
}


def innermost_type(column_type: pa.DataType) -> pa.DataType:
    """The value type inside any nesting of lists (``list<list<uint8>>`` -> ``uint8``)."""
    while isinstance(column_type, (pa.ListType, pa.LargeListType, pa.FixedSizeListType)):
        column_type = column_type.value_type
    return column_type


def read_parquet(path: str | Path, columns: dict[str, tuple[str, ...]]) -> pa.Table:
    """The named columns of a user's Parquet file, each of one of the accepted kinds of ``COLUMN_KINDS``, or a
    ``DataError`` saying what is missing, broken or of the wrong type (a column has one type for all rows, so a
    wrong one is an error about the file, not a bad item)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such Parquet file")
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from err
    for column, kinds in columns.items():
        if column not in schema.names:
            raise DataError(f"{path}: no column {column!r}; the file has columns {schema.names}")
        column_type = schema.field(column).type
        if not any(COLUMN_KINDS[kind][1](column_type) for kind in kinds):
            expected = " or ".join(COLUMN_KINDS[kind][0] for kind in kinds)
            raise DataError(f"{path}: column {column!r} holds {column_type}, expected {expected}")
    try:
        return pq.read_table(path, columns=list(columns))
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: corrupt Parquet data ({err})") from err


def parquet_metadata(path: str | Path) -> dict[str, str]:
    """The key-value metadata of a Parquet file's schema, decoded (``vocab_size`` of pre-tokenised codes)."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items()}


def as_array(value: object, where: str, errors: ItemErrors, shape: tuple[int, ...] | None = None,
             ndim: int | None = None) -> np.ndarray | None:
    """A Parquet cell holding integers (nested lists, or a flat list reshaped to ``shape``) as an array, or None
    after reporting why it cannot be one. Floats are refused, not cast: pixels scaled to [0, 1] would
    silently become black images."""
    if value is None:
        errors.report(where, "is null, expected an array")
        return None
    try:
        array = np.asarray(value)
        if array.size == 0:
            raise ValueError("it is empty")
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"holds {array.dtype} values, expected integers")
        if shape is not None and array.ndim == 1:
            array = array.reshape(shape)
    except ValueError as err:
        errors.report(where, f"cannot be read as an array{f' of shape {shape}' if shape else ''} ({err})")
        return None
    if (shape is not None and array.shape != shape) or (ndim is not None and array.ndim != ndim):
        errors.report(where, f"has shape {array.shape}, expected {shape or f'{ndim} dimensions'}")
        return None
    return array


def decode_image(value: object, where: str, errors: ItemErrors) -> np.ndarray | None:
    """An image cell as H x W x 3 uint8: encoded bytes (PNG, JPEG, ...) or a uint8 array (H x W x 3, or flat
    of length 3 s^2 for a square image). None after reporting what is wrong with it."""
    if isinstance(value, (bytes, bytearray)):
        try:
            with Image.open(io.BytesIO(value)) as image:
                return np.asarray(image.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError) as err:
            errors.report(where, f"cannot be decoded as an image ({err})")
            return None
    array = as_array(value, where, errors)
    if array is None:
        return None
    if array.ndim == 1:
        side = math.isqrt(array.size // 3)
        if 3 * side * side != array.size:
            errors.report(where, f"a flat array of {array.size} values is not a square RGB image (3 s^2 values)")
            return None
        array = array.reshape(side, side, 3)
    if array.ndim != 3 or array.shape[2] != 3 or array.min(initial=0) < 0 or array.max(initial=0) > 255:
        errors.report(where, f"expected H x W x 3 values in [0, 255], found shape {array.shape}, range "
                             f"[{array.min(initial=0)}, {array.max(initial=0)}]")
        return None
    return array.astype(np.uint8)


def open_image_file(path: Path, errors: ItemErrors) -> np.ndarray | None:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        errors.report(str(path), f"cannot be decoded as an image ({err})")
        return None


def iter_images(source: str | Path, column: str, errors: ItemErrors) -> Iterator[tuple[str, np.ndarray]]:
    """(name, H x W x 3 uint8) for each image of a folder (files by sorted name) or a Parquet column."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{source}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        for path in files:
            pixels = open_image_file(path, errors)
            if pixels is not None:
                yield str(path), pixels
        return
    table = read_parquet(source, {column: ("bytes", "integers")})
    for row, value in enumerate(table.column(column).to_pylist()):
        pixels = decode_image(value, f"{source} row {row} column {column!r}", errors)
        if pixels is not None:
            yield f"{source}:{row}", pixels


def resize(image: np.ndarray | Image.Image, size: int, box: tuple[int, int, int, int] | None = None
           ) -> np.ndarray:
    """The square ``box`` (left, top, right, bottom; default the whole image) resampled to ``size`` x ``size``
    with antialiasing: a box-filter reduction by an integer factor, then Lanczos (PIL's ``reducing_gap``)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=2.0))


def package_folder(package: str, *parts: str) -> Path:
    """A data folder inside an installed package, found without importing the package (slow for these)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the default images come from the package {package!r}, which is not installed")
    return Path(spec.submodule_search_locations[0]).joinpath(*parts)


@functools.cache
def shipped_photographs() -> tuple[tuple[str, Image.Image], ...]:
    """(name, RGB image) of the colour photographs shipped inside the scikit-learn and scikit-image wheels;
    a missing package is an error, not a silently smaller default."""
    paths = ([package_folder("sklearn", "datasets", "images", name) for name in SKLEARN_PHOTOS]
             + [package_folder("skimage", "data", name) for name in SKIMAGE_PHOTOS])
    photos = []
    for path in paths:
        with Image.open(path) as image:
            photos.append((path.name, image.convert("RGB")))
    return tuple(photos)


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits as RGB images (n x 8 x 8 x 3 uint8, ink white on black) and
    their labels: real 8x8 images with a known class, for downstream classification and captions."""
    from sklearn.datasets import load_digits

    data = load_digits()
    grey = np.rint(data.images * (255 / 16)).astype(np.uint8)
    images, labels = np.repeat(grey[..., None], 3, axis=-1), data.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by every caller (cached)
    return images, labels
