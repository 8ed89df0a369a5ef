"""What generate writes, byte for byte: the files are made with less held in memory (the
snapshot written as it is made, the written migration not read back), and must be what
the texts they were made from say."""

from __future__ import annotations

import json
from pathlib import Path

from trimtab import engine
from trimtab.config import load_config
from trimtab.migrations.folder import checksum, read_folder, sum_text
from trimtab.sources.snapshot import ZERO_ID, dump_snapshot, load_snapshot

SCHEMA = (
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
    "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL, feel mood, note text "
    "DEFAULT 'é∂');\n"
    "CREATE INDEX item_name ON item (name);\n"
    "CREATE TABLE part (id int PRIMARY KEY, item_id int REFERENCES item (id));\n"
)


def test_generated_files_are_their_texts_byte_for_byte(project: Path, db_url: str) -> None:
    (project / "schema.sql").write_text(SCHEMA)
    cfg = load_config(project, url=db_url)
    first = engine.generate(cfg)
    (project / "schema.sql").write_text(
        SCHEMA + "CREATE TABLE tag (id int PRIMARY KEY, label text);\n")
    second = engine.generate(cfg)
    assert first.migration is not None and second.migration is not None
    prev = ZERO_ID
    for result in (first, second):
        m = result.migration
        assert m is not None and m.snapshot is not None
        assert checksum(m.path.read_bytes()) == m.checksum
        data = m.snapshot.read_bytes()
        model, snap_id, prev_id = load_snapshot(data.decode(), str(m.snapshot))
        assert prev_id == prev
        assert data == dump_snapshot(model, id=snap_id, prev_id=prev_id).encode()
        prev = snap_id
    # What generate returned is what the folder reads now.
    folder = read_folder(cfg.migrations_dir)
    assert folder.migrations[-1] == second.migration
    assert folder.migrations[0] == first.migration
    assert (cfg.migrations_dir / "meta" / "trimtab.sum").read_text() == sum_text(folder)
    journal = json.loads((cfg.migrations_dir / "meta" / "_journal.json").read_text())
    assert [e["tag"] for e in journal["entries"]] == [m.tag for m in folder.migrations]
