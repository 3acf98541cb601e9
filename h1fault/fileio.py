"""Output files without surprises: checked before any work, written atomically, and I/O failures
(disk full, read-only file system, permission) as one-line errors. No heavy imports here."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from h1fault.errors import H1FaultError

_ERRNO_TEXT = {
    errno.ENOSPC: "disk full (no space left on device)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a directory",
    errno.ENOENT: "no such file or directory",
}


def io_error_text(exc: BaseException) -> str:
    """One line for a failed read or write: a plain phrase for the common errnos (HDF5 buries the
    errno in its message as ``errno = 28``), else the first line of the message."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    for num, phrase in _ERRNO_TEXT.items():
        if code == num or f"errno = {num}," in text:
            return phrase
    if "PytorchStreamWriter failed" in text or "file write failed" in text:
        return "write failed (disk full or not writable?)"
    text = text.strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def check_output_file(
    path: str | Path, force: bool = False, *, suffixes: tuple[str, ...] = (), what: str = "--out"
) -> Path:
    """Refuse an output path before any work: a directory, a missing or unwritable folder, a
    wrong suffix, or an existing file without ``force``. Returns the path."""
    p = Path(path)
    if p.is_dir():
        raise H1FaultError(f"{what} {p} is a directory; give a file name")
    if suffixes and p.suffix.lower() not in suffixes:
        raise H1FaultError(f"{what} {p} must end in {' or '.join(suffixes)}")
    parent = p.parent
    if not parent.exists():
        raise H1FaultError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise H1FaultError(f"{parent} is not a folder")
    if p.exists() and not force:
        raise H1FaultError(f"{p} exists; pass --force to overwrite it")
    probe = temp_path(p)  # creating a file is the only honest test (read-only mounts, /proc, ...)
    try:
        open(probe, "xb").close()
        probe.unlink()
    except FileExistsError:
        pass
    except OSError as exc:
        raise H1FaultError(f"cannot write into {parent}: {io_error_text(exc)}") from None
    return p


def temp_path(path: Path) -> Path:
    """The hidden temporary name an output is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_output(path: str | Path, what: str = "write") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on any error
    delete it (an existing ``path`` is untouched) and turn I/O errors into one line."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError | RuntimeError) and not isinstance(exc, H1FaultError):
            raise H1FaultError(f"cannot {what} {path}: {io_error_text(exc)}") from exc
        raise


def write_bytes_atomic(path: str | Path, data: bytes | Callable[[], bytes]) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_output` with plain Python I/O (so a full
    disk is an ``OSError`` here, never an abort inside a C++ writer)."""
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data() if callable(data) else data)
        fh.flush()
    return path


def stale_temp_files(path: str | Path) -> list[Path]:
    """Temporary files of ``path`` (``.NAME.tmp-PID``) whose writing process is gone (killed)."""
    path = Path(path)
    out = []
    for cand in path.parent.glob(f".{path.name}.tmp-*"):
        pid = cand.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            out.append(cand)
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (recorded with the data or artifacts a checkpoint produced)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
