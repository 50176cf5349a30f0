"""The documentation where a reader looks: a short README whose two commands are the ones CI runs,
links that lead somewhere, a guide per page, and reference pages that keep up with the code
(every command and option in docs/cli.md, every environment variable and meta key documented)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from funnelcast import cli

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
DOC_FILES = [README, *sorted(DOCS.rglob("*.md"))]
# The README's Quick start: CI and the tests run these lines as written.
QUICK_START = (
    "python3 -m pip install --quiet uv && python3 -m uv run streamlit run app.py   # the dashboard",
    "python3 -m pip install --quiet uv && python3 -m uv run pytest                 # the test suite",
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """Return markdown without its fenced code blocks and inline code (links there are text)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """Return the anchor GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """Return the anchors of a markdown file's headings."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def _sections(path: Path) -> dict[str, str]:
    """Return a markdown file's level-2 sections by title."""
    parts = re.split(r"^## (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_the_readme_is_short_and_keeps_its_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 120
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, flags=re.S)
    assert block is not None, "README has no Quick start code block"
    assert tuple(block.group(1).splitlines()) == QUICK_START


def test_ci_runs_the_readmes_test_command():
    command = QUICK_START[1].split("#")[0].strip()
    assert command in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_somewhere(doc):
    broken = []
    for target in LINK.findall(_prose(doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(REPO)}")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


def test_every_page_has_a_guide_the_readme_links():
    readme = README.read_text(encoding="utf-8")
    for page in sorted((REPO / "pages").glob("*.py")):
        guide = f"docs/guides/{page.stem.replace('_', '-')}.md"
        assert (REPO / guide).is_file(), f"{page.name} has no guide {guide}"
        assert f"({guide})" in readme, f"README does not link {guide}"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Yield (command path, its parser) for every command and sub-action under a parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def test_the_cli_reference_names_every_command_option_and_choice():
    sections = _sections(DOCS / "cli.md")
    whole = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = []
    for path, sub in _commands(cli.parser()):
        section = sections.get(path[0])
        if section is None:
            missing.append(f"no section '## {path[0]}'")
            continue
        if len(path) > 1 and f"`{path[1]}`" not in section:
            missing.append(" ".join(path))
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue  # sub-actions are checked as commands of their own
            names = action.option_strings or [action.dest.upper()]
            if not any(name in section for name in names):
                missing.append(f"{' '.join(path)} {names[0]}")
            for choice in action.choices or ():
                if f"{choice}" not in whole:
                    missing.append(f"{' '.join(path)} {names[0]} {choice}")
    assert not missing, "docs/cli.md does not document: " + ", ".join(missing)


def _table_keys(path: Path) -> set[str]:
    """Return the names in backticks in the first cell of a markdown file's table rows."""
    cells = re.findall(r"^\| ([^|]*)\|", path.read_text(encoding="utf-8"), flags=re.M)
    return {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}


def _source() -> str:
    """Return the package's and the dashboard's Python source, together."""
    files = [*sorted((REPO / "funnelcast").rglob("*.py")), REPO / "app.py"]
    files += sorted((REPO / "pages").glob("*.py"))
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def test_every_environment_variable_is_documented():
    names = set(re.findall(r"[\"']((?:FUNNELCAST|DUCKDB)_[A-Z_]+)[\"']", _source()))
    assert {"FUNNELCAST_DB", "FUNNELCAST_ENGINE"} <= names  # the scan finds them at all
    assert not sorted(names - _table_keys(DOCS / "configuration.md"))


def test_every_meta_key_the_code_reads_or_writes_is_documented():
    source = _source()
    keys = set(re.findall(r"[gs]et_meta\(\s*\w+,\s*\"([a-z_]+)\"", source))
    keys |= set(re.findall(r"^[A-Z_]*(?:META_KEY|FINGERPRINT) = \"([a-z_]+)\"", source, re.M))
    assert {"fiscal_year_start_month", "as_of", "handoff_sla_business_days"} <= keys
    assert not sorted(keys - _table_keys(DOCS / "data-model.md"))
