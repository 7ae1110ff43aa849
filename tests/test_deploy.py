"""The deployment examples in deploy/ are valid: the systemd unit (systemd-analyze) and the crontab."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cronsim import CronSim

from aggregator.ops.cli import main
from tests.conftest import PROJECT

DEPLOY = PROJECT / "deploy"


def _cli_accepts(args: list[str]) -> None:
    """Parse `aggregator ARGS` with the real CLI definition (no command runs)."""
    command = main.get_command(None, args[0])  # type: ignore[arg-type]
    assert command is not None, args[0]
    command.make_context(args[0], list(args[1:]))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "aggregator.service").read_text("utf-8")
    # The unit names /srv paths and a service user; point them at this machine to let verify check them.
    local = (unit.replace("/srv/aggregator/.venv/bin/aggregator", str(Path(sys.executable).parent / "aggregator"))
             .replace("User=aggregator", "User=root").replace("WorkingDirectory=/srv/aggregator",
                                                              "WorkingDirectory=%s" % tmp_path))
    path = tmp_path / "aggregator.service"
    path.write_text(local, "utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "aggregator.service" in line]
    assert result.returncode == 0 and not problems, result.stderr
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    _cli_accepts(shlex.split(exec_start.split("=", 1)[1])[1:])


def test_crontab_lines_parse() -> None:
    lines = [line for line in (DEPLOY / "aggregator.cron").read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    jobs = [line for line in lines if "=" not in line.split()[0]]
    assert jobs
    for job in jobs:
        fields = job.split(None, 5)
        next(CronSim(" ".join(fields[:5]), datetime.now(UTC)))
        command = shlex.split(fields[5].split(">>")[0])
        aggregator = command.index(next(word for word in command if word.endswith("bin/aggregator")))
        _cli_accepts(command[aggregator + 1:])
