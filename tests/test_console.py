"""h1fault.console: one device parser, one progress-bar factory, the stderr console."""

from __future__ import annotations

import pytest
import torch
from rich.progress import DownloadColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from h1fault.console import byte_progress, err_console, make_progress, resolve_device
from h1fault.errors import H1FaultError


def test_auto_is_cuda_when_available_else_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "meta", "cuda:x", ""])
def test_bogus_device_is_a_one_line_error(name: str) -> None:
    with pytest.raises(H1FaultError, match="unknown --device") as exc:
        resolve_device(name)
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_gpu_is_a_one_line_error(name: str) -> None:
    with pytest.raises(H1FaultError, match="CUDA is not available") as exc:
        resolve_device(name)
    assert "\n" not in str(exc.value)


def test_progress_columns_follow_the_arguments() -> None:
    counting = make_progress(False, fields=("info",), elapsed=True)
    kinds = [type(c) for c in counting.columns]
    assert MofNCompleteColumn in kinds and TimeElapsedColumn in kinds
    assert DownloadColumn not in kinds
    assert any(isinstance(c, TextColumn) and "info" in c.text_format for c in counting.columns)
    assert counting.console is err_console and err_console.stderr
    kinds = [type(c) for c in make_progress(False, unit="bytes").columns]
    assert DownloadColumn in kinds and MofNCompleteColumn not in kinds
    with pytest.raises(ValueError, match="unit"):
        make_progress(unit="rows")  # type: ignore[arg-type]


def test_disabled_byte_progress_writes_nothing(capsys) -> None:
    with byte_progress("scan", 1000, enabled=False) as advance:
        advance(400)
        advance(600)
    assert capsys.readouterr() == ("", "")


def test_partial_collect_warning_keeps_the_path_literal(capsys) -> None:
    from h1fault.cli_common import print_partial_collect

    print_partial_collect("runs/[bold]raw.h5", 1234)
    err = capsys.readouterr().err
    # rich markup in a path is printed as written, not interpreted
    assert "runs/[bold]raw.h5 holds 1,234 steps" in err and "--allow-partial" in err
    assert err.startswith("interrupted: ")
