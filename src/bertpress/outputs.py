"""Writing results so that a failed run leaves nothing half-written, and nothing is lost."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import BertpressError


def check_output(
    path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> None:
    """Refuse an output folder whose replacement would lose something.

    A non-empty folder needs ``overwrite``. ``inputs`` are everything the run reads (model,
    teacher, data, text, recipe): a folder that is one of them or holds one is refused even then,
    and so is a non-empty folder inside an input folder, since replacing either deletes input
    files. A new folder inside an input folder deletes nothing and is allowed. ``inputs`` that are
    not existing local paths (hub ids, aliases such as "minilm") cannot be harmed and are ignored.
    Callers check before a long run, so that a refusal costs nothing.
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise BertpressError(f"output {path} is a file, not a folder; choose another path")
    if final.is_dir():
        here, local = final.resolve(), _local_inputs(inputs)
        held = next((source for source in local if here == source or here in source.parents), None)
        if held is not None:
            raise BertpressError(
                f"output folder {path} is, or holds, input {held}: replacing it would delete that input; choose another"
            )
        if any(final.iterdir()):
            holder = next((source for source in local if source in here.parents), None)
            if holder is not None:
                raise BertpressError(
                    f"output folder {path} lies inside input {holder}: replacing it would delete part of that input; "
                    "choose another"
                )
            if not overwrite:
                raise BertpressError(f"output folder {path} exists and is not empty; pass --overwrite to replace it")
    check_writable(final, f"cannot create output folder {final}")


def _local_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """The ``inputs`` that exist on disk, links resolved."""
    return [Path(source).resolve() for source in inputs if Path(source).exists()]


def check_writable(final: Path, cannot: str) -> None:
    """``final`` can be created: its nearest existing ancestor is a folder we may write in.
    ``cannot`` begins the refusal, e.g. "cannot create output folder X"."""
    ancestor = next(parent for parent in final.absolute().parents if parent.exists())
    if not ancestor.is_dir():
        raise BertpressError(f"{cannot}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BertpressError(f"{cannot}: no permission to write in {ancestor}")


@contextmanager
def atomic_dir(
    path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    ``overwrite`` and ``inputs`` are as for ``check_output``, which runs before anything is made.
    """
    check_output(path, overwrite=overwrite, inputs=inputs)
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; outputs follow the umask
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    follow_umask(staging)
    if final.exists():
        # The old folder goes only once the new one is in place: a crash between leaves both.
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    final = Path(path)
    if final.is_dir():
        raise BertpressError(f"cannot write JSON to {path}: it is a folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # a failed dump leaves no stray temporary file
        raise


def follow_umask(folder: Path) -> None:
    """Give everything under ``folder`` the modes the umask gives a new file or folder.

    Some writers do not follow it: safetensors makes its files private (0600), and copies of
    folders made in a private temporary folder keep its 0700.
    """
    umask = _umask()
    for parent, folders, files in os.walk(folder):
        for names, mode in ((folders, 0o777), (files, 0o666)):
            for path in (Path(parent, name) for name in names):
                if not path.is_symlink():  # a link's own mode means nothing; its target is not ours
                    os.chmod(path, mode & ~umask)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
