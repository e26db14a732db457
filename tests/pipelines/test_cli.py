"""The joinedup command: bad options stop with a clear message and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--people", "-5"], "people: Input should be greater than or equal to 100"),
        (["--nights", "0"], "nights: Input should be greater than or equal to 1"),
        (["--set", "errors.typo=1.5"], "errors.typo: Input should be less than or equal to 1"),
        (
            ["--set", "nightly.move=-0.1"],
            "nightly.move: Input should be greater than or equal to 0",
        ),
        (["--set", "errors.tpyo=0.1"], "errors.tpyo: unknown key; did you mean 'typo'?"),
        (["--set", "typo"], "expected KEY=VALUE"),
    ],
)
def test_impossible_options_stop_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "w"
    assert main(["world", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_other_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["world", "--people", "200", "--out", str(tmp_path)]) == 2
    (refused,) = capsys.readouterr().err.splitlines()  # one line: no progress before it
    assert "not a joinedup world" in refused
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_bad_settings_file_names_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "world.yaml"
    cfg.write_text("errors:\n  nickname: 2\n")
    assert main(["world", "--config", str(cfg), "--out", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:2: errors.nickname: Input should be less than or equal to 1 (got 2)" in err
    assert not (tmp_path / "w").exists()


def test_settings_file_and_overrides_apply(tmp_path: Path) -> None:
    cfg = tmp_path / "world.yaml"
    cfg.write_text("errors:\n  nickname: 0.2\nnightly:\n  move: 0.05\n")
    out = tmp_path / "w"
    assert (
        main(
            [
                "world",
                "--config",
                str(cfg),
                "--set",
                "errors.typo=0.1",
                "--people",
                "300",
                "--nights",
                "2",
                "--seed",
                "9",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved = json.loads((out / "world.json").read_text())["config"]
    assert saved["errors"]["nickname"] == 0.2 and saved["errors"]["typo"] == 0.1
    assert saved["nightly"]["move"] == 0.05 and saved["people"] == 300 and saved["seed"] == 9


def test_demo_makes_then_reuses_the_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path))
    assert main(["demo", "--people", "1500", "--nights", "2"]) == 0
    first = capsys.readouterr().out
    assert "world: 1,500 people" in first
    assert "incidents in" in first and "a wrong token gets 401" in first
    assert (tmp_path / "world" / "world.json").is_file()
    assert "http://127.0.0.1:8000/" in first and "duty_manager" in first  # the inbox's sign-ins
    assert main(["demo", "--people", "1500", "--nights", "2"]) == 0
    again = capsys.readouterr().out
    assert "reusing" in again
    assert "users already exist" in again  # sign-ins are printed only once
