"""What the benchmark scripts share: the machine they ran on and their sections of RESULTS.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import duckdb

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """Return a one-line description of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def replace_section(section: str, lines: list[str]) -> None:
    """Replace one benchmark's section of RESULTS.md (it starts with `section`), keeping the rest."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    head, found, rest = old.partition(section)
    tail = ""
    if found:
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following >= 0 else ""
    RESULTS.write_text(head.rstrip() + "\n\n" + "\n".join(lines) + ("\n" + tail if tail else ""))
