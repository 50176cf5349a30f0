"""A real-looking lead export with no creation date: funnelcast.demo.export's X Education-like
file less its "Created On" column, so 37 columns, "Select" for blank, the lead id under an export
header the importer must recognise ("Prospect ID", or another given), and no date at all."""

from __future__ import annotations

from pathlib import Path

from funnelcast.demo import export

COLUMNS = 37  # the export's 38 less "Created On"


def write_undated_export(
    folder: Path, leads: int = 9_000, id_header: str = "Prospect ID", seed: int = 17
) -> Path:
    """Write the export without its date column (the id column renamed to id_header) as
    leads-export.csv in folder; return its path."""
    frame, _ = export.export_frames(leads, seed)
    frame = frame.drop("Created On").rename({"Prospect ID": id_header})
    assert frame.width == COLUMNS and "Select" in frame["Specialization"].to_list()
    path = Path(folder) / "leads-export.csv"
    frame.write_csv(path)
    return path
