"""The documentation covers the tool: every `pyexp` command and option is in docs/cli.md,
every configuration key (with its default) in docs/configuration.md, and the site builds
without a single warning."""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from support.paths import ROOT

from pyexperimenter import config as config_module
from pyexperimenter.cli import main
from pyexperimenter.config import grids as grids_format
from pyexperimenter.config import native as native_format

DOCS = ROOT / "docs"


def mentioned(text: str, word: str) -> bool:
    """`word` appears as a whole token (not inside a longer option or identifier)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def commands() -> list[tuple[str, click.Command]]:
    return sorted(main.commands.items())


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = []
    for flag in [o for p in main.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts]:
        if flag not in ("-h", "--help") and not mentioned(text, flag):
            missing.append(f"pyexp {flag}")
    for name, command in commands():
        if not re.search(rf"^#+ .*pyexp {name}\b", text, re.MULTILINE) and not (name == "completion" and "## Shell completion" in text):
            missing.append(f"section for pyexp {name}")
        section = _section(text, name)
        for param in command.params:
            if isinstance(param, click.Option):
                for flag in param.opts + param.secondary_opts:
                    if flag not in ("-h", "--help") and not mentioned(section, flag):
                        missing.append(f"pyexp {name} {flag}")
            elif isinstance(param, click.Argument) and param.name:
                shown = {param.name.upper(), "DIR" if param.name == "directory" else param.name.upper()}
                if not any(mentioned(section, s) for s in shown):
                    missing.append(f"pyexp {name} argument {param.name.upper()}")
    assert not missing, f"not documented in docs/cli.md: {missing}"


def _section(text: str, command: str) -> str:
    """The part of cli.md about one command (its own heading up to the next one)."""
    heading = "## Shell completion" if command == "completion" else f"## pyexp {command}"
    start = text.find(heading)
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def native_keys() -> set[str]:
    """Every key the native format accepts, read from config/native.py and config/grids.py
    themselves: their key sets, and every key their readers look up by name."""
    trees = [ast.parse(Path(m.__file__).read_text()) for m in (native_format, grids_format)]
    keys: set[str] = set(native_format.NATIVE_TOP) | set(native_format.SLURM_KEYS) | {grids_format.ZIP_KEY}
    for sub in (node for tree in trees for node in ast.walk(tree)):
        if isinstance(sub, ast.Set):
            keys |= {e.value for e in sub.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in ("get", "positive", "section") and sub.args
                and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str)):
            keys.add(sub.args[0].value)
    return keys


def test_every_config_key_is_in_the_configuration_reference() -> None:
    keys = native_keys()
    assert {"name", "function", "max_attempts", "url", "partition", "start", "stop", "step", "zip"} <= keys
    text = (DOCS / "configuration.md").read_text()
    missing = sorted(k for k in keys if f"`{k}`" not in text and f"{k}:" not in text)
    assert not missing, f"config keys not documented in docs/configuration.md: {missing}"


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _row(text: str, key: str) -> str:
    match = re.search(rf"^\| `{re.escape(key)}` \|.*$", text, re.MULTILINE)
    assert match, f"docs/configuration.md has no table row for `{key}`"
    return match.group(0)


def test_defaults_in_the_configuration_reference_are_the_real_ones() -> None:
    text = (DOCS / "configuration.md").read_text()
    experiment_keys = ("max_attempts", "heartbeat_seconds", "retry_delay_seconds", "n_jobs", "result_timestamps")
    for field in dataclasses.fields(config_module.ExperimentConfig):
        if field.name in experiment_keys:
            assert f"`{_fmt(field.default)}`" in _row(text, field.name), field.name
    stale = _row(text, "stale_after_seconds")
    assert "4 x `heartbeat_seconds`" in stale
    for field in dataclasses.fields(config_module.SlurmConfig):
        row = _row(text, field.name)
        if field.default not in (None, ()):
            assert f"`{_fmt(field.default)}`" in row, (field.name, field.default, row)


def test_pyexperimenter_format_keys_are_in_the_docs() -> None:
    text = (DOCS / "configuration.md").read_text() + (DOCS / "migrating.md").read_text()
    for key in ("PY_EXPERIMENTER", "provider", "database", "keyfields", "resultfields", "result_timestamps",
                "logtables", "Custom", "n_jobs", "CREDENTIALS", "server"):
        assert key in text, key


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert page.name in nav, f"{page.name} is not in mkdocs.yml's nav"
    for name in re.findall(r":\s*([\w-]+\.md)\s*$", nav, re.MULTILINE):
        assert (DOCS / name).is_file(), f"mkdocs.yml lists {name}, which does not exist"


def test_the_site_builds_without_warnings(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        mkdocs = Path(shutil.which("mkdocs") or "")
    if not mkdocs.name or not mkdocs.exists():
        pytest.importorskip("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (tmp_path / "site" / "cli" / "index.html").is_file()


def test_readme_keeps_its_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/quickstart.sh" in readme
    assert "bash scripts/test.sh" in readme
