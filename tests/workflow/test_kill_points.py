"""Kill -9 at every step boundary of the spirometry and ECG pipelines (issue 18): nothing stranded, nothing twice.

The hook (``asalee_devices.crashpoint``, env ``ASALEE_TEST_KILL_AT_STEP=N``) kills ``spirometry record`` /
``ecg record`` (simulated devices, folder sink) at its N-th step boundary — before and after every temp write,
rename, outbox commit, send and acknowledgement — for N = 1..all. Then the practice restarts: ``outbox send`` (its
recovery pass first). An examination whose bundles were committed must be delivered by that alone; one killed
before the commit left only raw recordings (no results, nothing looking analysed), and recording it again (same
simulator, same content, same exam id) delivers it. In every case, at the end: one bundle file and one PDF per
delivered kind in the record folder (delivered exactly once), every outbox message acknowledged and none
duplicated, the examination folder complete (results identical to a replay), no temp file anywhere, and SQLite's
integrity check "ok".
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from asalee_devices.workflow.replay import replay

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {
    "spirometry": ["spirometry", "record", "--device", "sim://spirometer?speed=50", "--demo-patient", "--yes"],
    "ecg": ["ecg", "record", "--device", "sim://ecg12?speed=50", "--demo-patient", "--yes"],
}


def _run(args: list[str], out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ASALEE_")}
    return subprocess.run([sys.executable, "-m", "asalee_devices.cli.main", *args, "--out", str(out)]
                          if args[0] != "outbox" else
                          [sys.executable, "-m", "asalee_devices.cli.main", *args],
                          capture_output=True, text=True, timeout=300, cwd=out.parent,
                          env={**base, "PYTHONPATH": str(ROOT / "src"), **(env or {})})


def _config(out: Path) -> Path:
    cfg = out.parent / f"{out.name}.toml"
    cfg.write_text(f'outbox = "{out / "outbox.sqlite3"}"\n[sink]\ntype = "folder"\nfolder = "{out}"\n')
    return cfg


def _steps(kind: str, tmp: Path) -> list[str]:
    log = tmp / f"steps-{kind}.txt"
    proc = _run(COMMANDS[kind], tmp / f"count-{kind}", {"ASALEE_TEST_STEP_LOG": str(log)})
    assert proc.returncode == 0, proc.stderr
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()]


def _check(out: Path, kind: str) -> None:
    bundles = sorted(p.name for p in out.glob(f"*_{kind}_*.json"))
    pdfs = sorted(p.name for p in out.glob(f"*_{kind}_*.pdf"))
    assert len(bundles) == 1 and len(pdfs) == 1, (bundles, pdfs)
    temps = [str(p.relative_to(out)) for p in out.rglob(".tmp-*")]
    assert temps == [], temps
    db = sqlite3.connect(out / "outbox.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT exam_id, kind, state FROM messages").fetchall()
    finally:
        db.close()
    assert [r[2] for r in rows] == ["acknowledged"] and len({(r[0], r[1]) for r in rows}) == len(rows), rows
    (folder,) = [p for p in (out / "recordings").iterdir() if (p / "exam.json").is_file()]
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    assert replay(folder).identical
    assert folder.name in bundles[0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(COMMANDS))
def test_kill_at_every_step_boundary(tmp_path: Path, kind: str) -> None:
    steps = _steps(kind, tmp_path)
    by_recovery = by_rerecord = 0
    for n, label in enumerate(steps, start=1):
        out = tmp_path / f"{kind}-{n:02d}"
        killed = _run(COMMANDS[kind], out, {"ASALEE_TEST_KILL_AT_STEP": str(n)})
        assert killed.returncode in (-9, 137), (n, label, killed.returncode, killed.stderr)
        cfg = _config(out)
        sent = _run(["outbox", "send", "--config", str(cfg)], out)  # the restart: recovery, then send all
        if out.joinpath("outbox.sqlite3").exists() and any(out.glob(f"*_{kind}_*.json")):
            assert sent.returncode == 0, (n, label, sent.stdout, sent.stderr)
            by_recovery += 1
        else:
            # killed before the outbox commit: nothing may look analysed (no results, no message)
            results = list((out / "recordings").glob("*/results.json")) if (out / "recordings").is_dir() else []
            assert results == [], (n, label)
            again = _run(COMMANDS[kind], out)
            assert again.returncode == 0, (n, label, again.stdout, again.stderr)
            assert _run(["outbox", "send", "--config", str(cfg)], out).returncode == 0
            by_rerecord += 1
        _check(out, kind)
    print(f"\n{kind}: {len(steps)} kill points; delivered exactly once after restart + outbox send: "
          f"{by_recovery} by recovery alone, {by_rerecord} by recording again (killed before the outbox commit)")
    assert by_recovery + by_rerecord == len(steps)


def test_temp_names_outside_every_reader_pattern(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder-sink write interrupted before its rename leaves a name no record importer takes for a bundle."""
    import asalee_devices.files as files

    seen: list[str] = []

    def fail(src: str, dst: object) -> None:
        seen.append(Path(src).name)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError):
        files.atomic_write(tmp_path / "2026-11-23_ecg_x.json", b"{}")
    (name,) = seen
    print("temp name:", name)
    assert name.startswith(".tmp-") and name.endswith(".partial")
    assert not any(Path(name).match(p) for p in ("*.json", "*.pdf", "*.npz", "*.xml", "*.hea"))
    assert list(tmp_path.iterdir()) == []  # removed on the error path


def test_clean_temp_files_removes_only_orphans(tmp_path: Path) -> None:
    import time

    from asalee_devices.files import clean_temp_files

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "sub").mkdir()
    orphan = tmp_path / "sub" / f".tmp-{dead.stdout.strip()}-abc.partial"
    old_style = tmp_path / ".tmp-k3j4.json"  # written by the previous version (no pid)
    mine = tmp_path / f".tmp-{os.getpid()}-xyz.partial"  # a write in progress in this process
    keep = tmp_path / "results.json"
    for p in (orphan, old_style, mine, keep):
        p.write_bytes(b"x")
    assert clean_temp_files(tmp_path) == 2
    assert not orphan.exists() and not old_style.exists() and mine.exists() and keep.exists()
    assert clean_temp_files(tmp_path, now=time.time() + 7200) == 1 and not mine.exists()  # stale after an hour
