"""`joinedup link evaluate --run`: a `link files` run judged against the analyst's labels,
without a warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from linkfiles import judged_run

from pipelines.cli import main


def test_a_link_files_run_is_judged_against_its_own_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = judged_run(tmp_path)
    capsys.readouterr()
    # No warehouse anywhere: the run's folder is all it reads.
    monkeypatch.setenv("JOINEDUP_DATA", str(tmp_path / "nothing-here"))
    assert main(["link", "evaluate", "--run", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"30 labelled pairs; run {out}'s" in printed
    # The 20 matches linked, the 10 family pairs not: precision and recall 1.
    assert "pairs at 0.9: precision 1.0000  recall 1.0000" in printed
    assert f"links kept at run {out}'s threshold 0.9" in printed
    assert f"persons (clusters) of run {out}: precision 1.0000  recall 1.0000" in printed
    # Labels given on the command line instead; a folder that is not a run, refused.
    (tmp_path / "two.csv").write_text(
        "unique_id_l,unique_id_r,label\n" + (tmp_path / "judged.csv").read_text().split("\n", 1)[1]
    )
    assert main(["link", "evaluate", "--run", str(out), "--labels", str(tmp_path / "two.csv")]) == 0
    assert main(["link", "evaluate", "--run", str(tmp_path)]) == 2
    assert "not the output of `joinedup link files`" in capsys.readouterr().err
