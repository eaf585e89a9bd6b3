"""Run the code blocks of a Markdown document verbatim, in order, as a user would.

Python blocks share one namespace per document; bash blocks run in ``bash -e`` in the
same folder. A block preceded by ``<!-- not-run: reason -->`` is skipped (the reason
is required): the set-up command, the test command itself, GPU-only or hours-long runs.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"(?P<marker><!--\s*not-run:(?P<reason>[^>]*)-->\s*\n)?```(?P<lang>[\w-]*)\n(?P<code>.*?)```", re.S)


@dataclass
class Block:
    lang: str
    code: str
    line: int
    skip_reason: str | None


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        reason = m.group("reason")
        out.append(Block(m.group("lang") or "text", m.group("code"), text[: m.start("code")].count("\n") + 1,
                         reason.strip() if reason is not None else None))
    return out


def run_document(path: Path, workdir: Path, venv_bin: Path) -> list[tuple[Block, str]]:
    """Run every runnable block of ``path`` in ``workdir``; returns (block, output) pairs."""
    ns: dict = {"__name__": "__readme__"}
    done = []
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for block in blocks(path):
            if block.skip_reason is not None:
                assert block.skip_reason, f"{path.name}:{block.line}: not-run needs a reason"
                continue
            if block.lang == "python":
                code = compile(block.code, f"{path.name}:{block.line}", "exec")
                exec(code, ns)  # noqa: S102 - our own documentation
                done.append((block, ""))
            elif block.lang in ("bash", "sh", "shell", "console"):
                from tests.conftest import SESSION_ENV

                env = {**SESSION_ENV, "PATH": f"{venv_bin}{os.pathsep}{SESSION_ENV['PATH']}"}
                proc = subprocess.run(["bash", "-e", "-c", block.code], cwd=workdir, env=env,
                                      capture_output=True, text=True, timeout=1800)
                assert proc.returncode == 0, (
                    f"{path.name}:{block.line} failed ({proc.returncode}):\n{block.code}\n"
                    f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
                )
                done.append((block, proc.stdout + proc.stderr))
    finally:
        os.chdir(old)
    return done
