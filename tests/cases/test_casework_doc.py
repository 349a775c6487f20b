"""docs/casework.md lists every case parameter with its shipped value, and every command it
shows exists with the options it uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer.main

from doudi.cases.parameters import case_parameters
from doudi.cli.main import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "casework.md"


def test_parameter_table_matches_the_file() -> None:
    text = DOC.read_text(encoding="utf-8").split("\n## 参数", 1)[1]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, flags=re.M))
    params = case_parameters()
    assert set(rows) == set(type(params).model_fields), "one row per parameter of parameters.yaml"
    for name, shown in rows.items():
        value = getattr(params, name).value
        if isinstance(value, int | str) and not isinstance(value, bool):
            assert shown.strip() == str(value), (
                f"docs/casework.md shows {name} = {shown.strip()}, file says {value}"
            )


def _commands(text: str) -> list[list[str]]:
    lines = re.findall(r"`(doudi (?:cases|users) [^`]+)`", text)
    lines += re.findall(r"^(doudi (?:cases|users) .+?)(?:\s+#.*)?$", text, flags=re.M)
    argvs = [shlex.split(line.replace("……", "x").replace("…", "x")) for line in lines]
    return [a for a in argvs if a[2] != "x"]  # "doudi cases …" in prose names the group


def test_every_command_shown_exists_with_its_options() -> None:
    root = typer.main.get_command(app)
    commands = _commands(DOC.read_text(encoding="utf-8"))
    assert len(commands) > 25
    for argv in commands:
        cmd: Any = root  # typer's (vendored) click commands; groups have ``commands``
        words = argv[1:]
        while hasattr(cmd, "commands") and words and words[0] in cmd.commands:
            cmd = cmd.commands[words.pop(0)]
        assert not hasattr(cmd, "commands"), f"{' '.join(argv)}: no such command"
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        used = {w for w in words if w.startswith("--")}
        assert used <= known, f"{' '.join(argv)}: unknown options {used - known}"
