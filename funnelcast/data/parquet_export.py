"""The Parquet copy of a database: each canonical table written to OUT/TABLE/data.parquet.

DuckDB writes it alone (no Spark, no sqlglot): the base install can export; the Spark engine
(funnelcast.data.spark_engine, the optional `spark` extra) reads what this writes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from funnelcast.data import db


def export_parquet(
    db_path: str | Path, out_dir: str | Path, *, replace: bool = False
) -> dict[str, int]:
    """Write each canonical table of a DuckDB file to OUT_DIR/TABLE/data.parquet; return the
    rows per table. The directory is written beside, then moved into place."""
    out = Path(out_dir)
    if out.exists() and not replace:
        raise db.FunnelcastError(
            f"{out} already exists; choose another directory or pass --replace"
        )
    con = db.connect(db_path, read_only=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".parquet-", dir=out.parent))
    try:
        counts = {}
        for table in db.CANONICAL_TABLES:
            folder = staging / table
            folder.mkdir()
            # the relation API writes the file: no path goes into SQL text
            relation = con.table(table)
            relation.write_parquet(str(folder / "data.parquet"), compression="zstd")
            counts[table] = relation.count("*").fetchall()[0][0]
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        con.close()
        if staging.exists():
            shutil.rmtree(staging)
    return counts
