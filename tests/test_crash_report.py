"""The one error-report path: a one-line description and the traceback in a file, from every place that
catches an unexpected error (the CLI, a run, a data-set scene)."""

import tempfile
from pathlib import Path

from m2h_slam.app import dataset_eval
from m2h_slam.app.crash_report import describe, write_traceback
from m2h_slam.app.dataset_eval import EvalSettings, score_item
from m2h_slam.dataset_tools.items import DatasetItem


def _raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_describe_is_one_line_with_the_type():
    assert describe(ValueError("first line\nsecond line")) == "ValueError: first line"
    assert describe(KeyError()) == "KeyError"
    assert len(describe(RuntimeError("x" * 1000))) == len("RuntimeError: ") + 200


def test_write_traceback_to_a_given_file_and_to_a_temporary_one(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    error = _raised(ZeroDivisionError("boom"))
    assert write_traceback(error, tmp_path / "error.log") == f"traceback in {tmp_path / 'error.log'}"
    assert "ZeroDivisionError: boom" in (tmp_path / "error.log").read_text()
    where = write_traceback(error)
    temporary = Path(where.removeprefix("traceback in "))
    assert where.startswith("traceback in ") and temporary.parent == tmp_path / "temporary"
    assert "raise error" in temporary.read_text()
    (tmp_path / "file.txt").write_text("a file, not a folder")
    assert write_traceback(error, tmp_path / "file.txt" / "error.log") == "no log written"


def test_a_scene_that_fails_unexpectedly_is_reported_with_its_traceback(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise IndexError("index 7 is out of bounds")

    monkeypatch.setattr(dataset_eval, "_score_item", broken)
    item = DatasetItem("scene-1", tmp_path / "scene", "m2h")
    result = score_item(item, EvalSettings(gt_perception=True), str(tmp_path / "out"))
    log = tmp_path / "out" / "scenes" / "scene-1" / "error.log"
    assert result == {"name": "scene-1", "status": "failed",
                      "error": f"unexpected IndexError: index 7 is out of bounds; traceback in {log}"}
    assert "IndexError" in log.read_text()
