"""The entry point's exit statuses: usage errors are one clean message (2), ``typer.Exit`` keeps its code."""

from __future__ import annotations

import pytest

from jonbu_cli.main import main


def test_usage_errors_exit_2_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'no-such-command'" in err and "Traceback" not in err
    assert main(["fetch", "AAPL", "--window", "0"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--window'" in err and "Traceback" not in err


def test_a_command_exit_code_is_kept(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    import jonbu_cli.main as cli_main

    tiny = typer.Typer()

    @tiny.command()
    def down() -> None:
        raise typer.Exit(3)  # what `health` does when the server is down (with 1)

    @tiny.command()
    def fine() -> None:
        pass

    monkeypatch.setattr(cli_main, "app", tiny)
    assert main(["down"]) == 3
    assert main(["fine"]) == 0
    # An unreachable server is one clean line and status 1.
    monkeypatch.undo()
    assert main(["health", "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
