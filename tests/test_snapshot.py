"""Snapshot JSON <-> model (sources/snapshot.py): exact round trips of hand-built models that
set every field of every class, and of the introspected model of every fixture schema;
defaults left out; malformed snapshots rejected with the file and the place named."""

from __future__ import annotations

import dataclasses
import io
import json
import typing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from trimtab import __version__
from trimtab.errors import SchemaError
from trimtab.model import (
    Collation,
    Column,
    CompositeType,
    Constraint,
    Domain,
    DomainCheck,
    EnumType,
    Extension,
    Function,
    Grant,
    Identity,
    Index,
    Model,
    OutsideKey,
    Owner,
    Policy,
    Schema,
    Sequence,
    Table,
    Trigger,
    View,
    make_model,
)
from trimtab.sources import snapshot
from trimtab.sources.introspect import introspect
from trimtab.sources.snapshot import (
    SNAPSHOT_VERSION,
    ZERO_ID,
    SnapshotFormatError,
    dump_snapshot,
    file_head,
    file_id,
    load_snapshot,
    model_from_dict,
    model_to_dict,
    snapshot_id,
    trimtab_head,
    write_snapshot,
)
from trimtab.sources.sqlfile import read_source_file

ROOT = Path(__file__).parent.parent
FIXTURE_FILES = sorted((ROOT / "fixtures" / "diff").glob("*/after.sql")) + sorted(
    (ROOT / "fixtures" / "structural").glob("*.sql")
)
DRIZZLE_SNAPSHOT = Path(__file__).parent / "data" / "drizzle-folder" / "meta" / "0000_snapshot.json"

GRANTS = (Grant("app_reader", "SELECT", grantable=True), Grant("PUBLIC", "USAGE"))


def full_model() -> Model:
    """Every class of the model, every field set to something other than its default."""
    trigger = Trigger(
        name="t_audit",
        definition="CREATE TRIGGER t_audit AFTER INSERT ON app.t FOR EACH ROW EXECUTE "
        "FUNCTION app.audit()",
        enabled="D",
        function=("app", "audit"),
        comment="audits",
    )
    index = Index(
        name="t_lower_idx",
        definition="CREATE UNIQUE INDEX t_lower_idx ON app.t USING btree (lower(name), id)",
        unique=True,
        columns=("", "id"),
        clustered=True,
        comment="case-insensitive",
        parent=("app", "parent_idx"),
        valid=False,
    )
    table = Table(
        schema="app",
        name="t",
        columns=(
            Column(
                name="id",
                type="bigint",
                not_null=True,
                default="nextval('app.s'::regclass)",
                identity=Identity(
                    always=True, start=10, increment=2, min_value=5, max_value=1000,
                    cache=20, cycle=True, sequence="item_ids",
                ),
                generated="(id * 2)",
                generated_virtual=True,
                collation='"C"',
                storage="MAIN",
                compression="lz4",
                statistics=500,
                comment="the key ∂ é 'quoted' \"double\"\nnewline",
                grants=(Grant("app_writer", "UPDATE"),),
                type_ref=("app", "mood"),
                inherited=True,
            ),
            Column("name", "text"),
        ),
        constraints=(
            Constraint(
                name="t_ref_fkey",
                kind="f",
                definition="FOREIGN KEY (ref) REFERENCES app.u(id) NOT VALID",
                columns=("ref",),
                ref_table=("app", "u"),
                ref_columns=("id",),
                validated=False,
                comment="fk",
                inherited=True,
                index_parent=("app", "parent_key"),
            ),
        ),
        indexes=(index,),
        triggers=(trigger,),
        policies=(
            Policy(
                name="own_rows",
                command="SELECT",
                permissive=False,
                roles=("app_reader", "app_writer"),
                using="(owner = CURRENT_USER)",
                with_check="(owner = CURRENT_USER)",
                comment="rls",
            ),
        ),
        partition_key="RANGE (id)",
        partition_of=("app", "parent"),
        partition_bound="FOR VALUES FROM (1) TO (10)",
        inherits=(("app", "base"), ("app", "base2")),
        unlogged=True,
        rls_enabled=True,
        rls_forced=True,
        replica_identity="f",
        options=("fillfactor=70", "autovacuum_enabled=false"),
        comment="a table",
        grants=GRANTS,
    )
    return make_model(
        [
            Schema("app", comment="application", grants=GRANTS),
            Extension("btree_gist", "public", "1.7", comment="gist"),
            Collation("app", "german", provider="i", locale="de-u-ks-level2",
                      lc_collate="de_DE", lc_ctype="de_DE", deterministic=False,
                      rules="&a < b", comment="sorts"),
            EnumType("app", "mood", ("sad", "ok", "happy"), comment="feelings", grants=GRANTS),
            Domain(
                schema="app",
                name="posint",
                base_type="integer",
                not_null=True,
                default="1",
                collation='"C"',
                checks=(DomainCheck("posint_check", "CHECK ((VALUE > 0))"),),
                comment="positive",
                grants=GRANTS,
            ),
            CompositeType("app", "address", (("street", "text"), ("city", 'text COLLATE "C"')),
                          comment="postal", grants=(Grant("app_reader", "USAGE"),)),
            Sequence(
                schema="app",
                name="s",
                data_type="integer",
                start=5,
                increment=-1,
                min_value=-100,
                max_value=100,
                cache=3,
                cycle=True,
                owned_by=("app", "t", "id"),
                unlogged=True,
                comment="seq",
                grants=GRANTS,
            ),
            table,
            Table("app", "u"),
            View(
                schema="app",
                name="v",
                definition=" SELECT t.id\n   FROM app.t;",
                materialized=True,
                columns=(("id", "bigint"),),
                options=("security_barrier=true",),
                indexes=(dataclasses.replace(index, name="v_idx", parent=None),),
                depends_on=(("table", "app", "t"), ("function", "app", "f", "a integer")),
                column_deps=(("app", "t", "id"),),
                triggers=(dataclasses.replace(trigger, name="v_trg"),),
                comment="view",
                grants=GRANTS,
            ),
            Function(
                schema="app",
                name="f",
                identity_args="a integer",
                kind="f",
                definition="CREATE OR REPLACE FUNCTION app.f(a integer)\n RETURNS integer\n"
                " LANGUAGE sql\nAS $function$ SELECT a $function$\n",
                result="integer",
                arg_names_types="a integer DEFAULT 1",
                depends_on=(("type", "app", "mood"),),
                comment="fn",
                grants=GRANTS,
            ),
            Function("app", "f", "a text", "p", "CREATE PROCEDURE ..."),
        ],
        owners=(Owner(("table", "app", "t"), "app_owner"),),
        unmanaged=("3 event triggers", "1 foreign table"),
        outside_keys=(OutsideKey("billing", "subs", "subs_plan_fkey", ("app", "t"), ("id",)),),
        server_version=180001,
    )


# --------------------------------------------------------------------------------------
# Every class and field


def _classes() -> set[type]:
    """Every dataclass reachable from Model's type hints."""
    seen: set[type] = set()

    def visit(tp: Any) -> None:
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            if tp in seen:
                return
            seen.add(tp)
            for hint in typing.get_type_hints(tp).values():
                visit(hint)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(Model)
    return seen


def _set_fields(value: Any, out: set[tuple[str, str]]) -> None:
    """(class, field) of every field that holds a non-default value somewhere in value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                       else f.default)
            if v != default:
                out.add((type(value).__name__, f.name))
            _set_fields(v, out)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _set_fields(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _set_fields(v, out)


def test_the_hand_built_model_sets_every_field_of_every_class() -> None:
    # A field added to the model must be added to full_model() (and so be round-tripped).
    classes = _classes()
    assert {Model, Table, Column, Identity, Grant, DomainCheck} <= classes
    every = {(c.__name__, f.name) for c in classes for f in dataclasses.fields(c)}
    covered: set[tuple[str, str]] = set()
    _set_fields(full_model(), covered)
    assert every - covered == set()


def test_round_trip_of_every_class_and_field() -> None:
    model = full_model()
    data = model_to_dict(model)
    assert model_from_dict(data) == model
    # Through the JSON text as well.
    text = dump_snapshot(model, id="b", prev_id="a")
    assert load_snapshot(text, "s.json") == (model, "b", "a")
    # Keys are rebuilt from the objects.
    again = model_from_dict(json.loads(json.dumps(data)))
    assert set(again.functions) == {("function", "app", "f", "a integer"),
                                    ("function", "app", "f", "a text")}
    assert type(again.types[("type", "app", "posint")]) is Domain
    assert isinstance(again.tables[("table", "app", "t")].inherits[0], tuple)


@pytest.mark.parametrize(
    "obj",
    [
        Schema("s"),
        Extension("e", "public", "1.0"),
        EnumType("s", "e", ()),
        Domain("s", "d", "text"),
        CompositeType("s", "c", ()),
        Sequence("s", "q"),
        Table("s", "t", columns=(Column("c", "int"),),
              constraints=(Constraint("k", "p", "PRIMARY KEY (c)"),),
              indexes=(Index("i", "CREATE INDEX i ON s.t USING btree (c)"),),
              triggers=(Trigger("g", "CREATE TRIGGER g ..."),),
              policies=(Policy("p", "ALL"),)),
        View("s", "v", "SELECT 1"),
        Function("s", "f", "", "f", "CREATE FUNCTION ..."),
    ],
    ids=lambda o: type(o).__name__,
)
def test_round_trip_with_defaults_only(obj: Any) -> None:
    model = make_model([obj])
    data = model_to_dict(model)
    assert model_from_dict(data) == model


def test_defaults_are_left_out() -> None:
    assert model_to_dict(Model()) == {}
    assert model_from_dict({}) == Model()
    model = make_model([Table("public", "t", columns=(Column("id", "integer", not_null=True),
                                                      Column("note", "text")))])
    assert model_to_dict(model) == {
        "tables": [
            {
                "schema": "public",
                "name": "t",
                "columns": [
                    {"name": "id", "type": "integer", "not_null": True},
                    {"name": "note", "type": "text"},
                ],
            }
        ]
    }
    # Policy.roles defaults to ("PUBLIC",): left out when so, written when it differs.
    assert "roles" not in model_to_dict(make_model([Table("s", "t", policies=(
        Policy("p", "ALL"),))]))["tables"][0]["policies"][0]
    assert model_to_dict(make_model([Table("s", "t", policies=(
        Policy("p", "ALL", roles=()),))]))["tables"][0]["policies"][0]["roles"] == []


def test_union_values_carry_a_kind_tag() -> None:
    data = model_to_dict(full_model())
    kinds = {t["name"]: t["kind"] for t in data["types"]}
    assert kinds == {"mood": "enum_type", "posint": "domain", "address": "composite_type"}
    assert all(next(iter(t)) == "kind" for t in data["types"])  # written first


def test_output_is_deterministic_and_sorted() -> None:
    a = make_model([Table("public", "b"), Table("public", "a"), Table("aaa", "z"),
                    Schema("zz"), Schema("aa")])
    b = make_model([Schema("aa"), Schema("zz"), Table("aaa", "z"), Table("public", "a"),
                    Table("public", "b")])
    assert dump_snapshot(a, id="x", prev_id=ZERO_ID) == dump_snapshot(b, id="x", prev_id=ZERO_ID)
    data = model_to_dict(a)
    assert [(t["schema"], t["name"]) for t in data["tables"]] == [
        ("aaa", "z"), ("public", "a"), ("public", "b")]
    assert [s["name"] for s in data["schemas"]] == ["aa", "zz"]


def test_snapshot_text() -> None:
    model = full_model()
    text = dump_snapshot(model, id="11111111-1111-1111-1111-111111111111", prev_id=ZERO_ID)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    doc = json.loads(text)
    assert list(doc) == ["id", "prevId", "version", "dialect", "trimtab", "model"]
    assert doc["id"] == "11111111-1111-1111-1111-111111111111"
    assert doc["prevId"] == ZERO_ID
    assert doc["version"] == SNAPSHOT_VERSION == 1
    assert doc["dialect"] == "postgresql"
    assert doc["trimtab"] == __version__
    assert doc["model"] == model_to_dict(model)
    assert '\n  "model": {\n    "schemas": [\n' in text  # indent=2
    assert '"values": ["sad", "ok", "happy"]' in text  # short scalar lists on one line
    assert "∂ é" in text  # UTF-8 kept readable


def test_snapshot_written_object_by_object_is_the_text_of_the_whole_dict() -> None:
    """dump_snapshot encodes and writes one object at a time: byte for byte the text of
    model_to_dict's whole document, which earlier snapshots were written from."""
    model = full_model()
    doc = {"id": "b", "prevId": "a", "version": SNAPSHOT_VERSION, "dialect": "postgresql",
           "trimtab": __version__, "model": model_to_dict(model)}
    assert dump_snapshot(model, id="b", prev_id="a") == snapshot._to_json(doc, "") + "\n"
    assert dump_snapshot(Model(), id="b", prev_id="a") == snapshot._to_json(
        {**doc, "model": model_to_dict(Model())}, "") + "\n"


@pytest.mark.parametrize("chunk", [1, 200, 1 << 20])
def test_snapshot_written_to_a_file_is_the_text_byte_for_byte(chunk: int) -> None:
    """write_snapshot (what generate writes, in pieces of about ``chunk`` characters) gives
    the bytes of dump_snapshot's text, whatever the size of the pieces."""
    model = full_model()
    writes: list[bytes] = []

    class Out(io.BytesIO):
        def write(self, b: Any) -> int:
            writes.append(bytes(b))
            return super().write(b)

    out = Out()
    write_snapshot(model, out, id="b", prev_id="a", chunk=chunk)
    assert out.getvalue() == dump_snapshot(model, id="b", prev_id="a").encode()
    assert (len(writes) > 2) == (chunk < 1000)  # written as it is made, not at the end
    empty = io.BytesIO()
    write_snapshot(Model(), empty, id="b", prev_id="a", chunk=chunk)
    assert empty.getvalue() == dump_snapshot(Model(), id="b", prev_id="a").encode()


@pytest.mark.parametrize("ids", [("b", "a"), ('q"uo\\te', "ü/\u2028"), (ZERO_ID, "x")])
def test_snapshot_id_reads_the_head_as_written(ids: tuple[str, str]) -> None:
    text = dump_snapshot(full_model(), id=ids[0], prev_id=ids[1])
    assert trimtab_head(text) == ids
    assert snapshot_id(text, "s.json") == ids[0]


@pytest.mark.parametrize("layout", [
    lambda doc: json.dumps(doc, separators=(",", ":")),  # compact: parsed whole
    lambda doc: json.dumps({k: doc[k] for k in reversed(list(doc))}, indent=2),
])
def test_snapshot_id_of_a_reformatted_snapshot(layout: Any) -> None:
    text = layout(json.loads(dump_snapshot(full_model(), id="b", prev_id="a")))
    assert trimtab_head(text) is None
    assert snapshot_id(text, "s.json") == "b"


def test_snapshot_file_id_from_its_head(tmp_path: Path) -> None:
    """generate reads the last snapshot's id from the file's first bytes: the rest (28 MB
    at 10,000 tables) is not read, so bytes that would not decode there do not matter."""
    path = tmp_path / "0001_snapshot.json"
    text = dump_snapshot(full_model(), id="b", prev_id="a")
    path.write_bytes(text.encode() + b"\xff" * 10)
    assert file_head(path) == ("b", "a")
    assert file_id(path) == "b"
    with pytest.raises(SchemaError, match="not UTF-8"):  # what reading it whole says
        snapshot_id(read_source_file(path, strip_bom=False), str(path))


@pytest.mark.parametrize("ids", [("ü" * 3000, "a"), ("x" * 5000, "é∂")])
def test_snapshot_file_id_past_the_head(tmp_path: Path, ids: tuple[str, str]) -> None:
    """An envelope longer than the bytes read first (a character cut at their end), or
    one written otherwise, is read whole."""
    path = tmp_path / "0001_snapshot.json"
    path.write_text(dump_snapshot(Model(), id=ids[0], prev_id=ids[1]), encoding="utf-8")
    assert file_head(path) is None
    assert file_id(path) == ids[0]
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=4))
    assert file_id(path) == ids[0]
    path.write_text("{not json")
    with pytest.raises(SchemaError, match="is not valid JSON"):
        file_id(path)


def test_snapshot_id_of_another_version_is_an_error() -> None:
    text = dump_snapshot(full_model(), id="b", prev_id="a").replace(
        '"version": 1,', '"version": 2,', 1)
    assert trimtab_head(text) is None
    with pytest.raises(SchemaError, match="snapshot version 2"):
        snapshot_id(text, "s.json")


def test_inconsistent_mapping_key_is_refused() -> None:
    model = Model(tables={("table", "public", "wrong"): Table("public", "t")})
    with pytest.raises(SnapshotFormatError, match=r"model.tables\[0\]: keyed"):
        model_to_dict(model)


# --------------------------------------------------------------------------------------
# Malformed snapshots


def _snapshot(**changes: Any) -> str:
    doc = json.loads(dump_snapshot(full_model(), id="b", prev_id="a"))
    for k, v in changes.items():
        if v is None:
            doc.pop(k)
        else:
            doc[k] = v
    return json.dumps(doc)


def _error(text: str) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        load_snapshot(text, "migrations/meta/0003_snapshot.json")
    assert info.value.file == "migrations/meta/0003_snapshot.json"
    assert "migrations/meta/0003_snapshot.json" in str(info.value)
    return info.value


def test_not_json() -> None:
    e = _error('{"id": "a",\n  "prevId": }')
    assert "not valid JSON" in e.message
    assert (e.line, e.column) == (2, 13)


def test_not_an_object() -> None:
    assert "expected a JSON object" in _error("[1, 2]").message


def test_drizzle_kit_snapshot_is_recognised() -> None:
    e = _error(DRIZZLE_SNAPSHOT.read_text())
    assert "drizzle-kit snapshot" in e.message
    assert "'7'" in e.message
    assert e.hint and "drizzle-kit" in e.hint


def test_no_model() -> None:
    assert 'no "model"' in _error(json.dumps({"id": "a", "prevId": "b", "version": 1})).message


@pytest.mark.parametrize(
    ("version", "newer"), [(2, True), (0, False), ("1", False), (True, False)]
)
def test_unknown_version(version: Any, newer: bool) -> None:
    e = _error(_snapshot(version=version))
    assert "snapshot version" in e.message and "reads version 1" in e.message
    assert bool(e.hint and "upgrade trimtab" in e.hint) is newer


def test_other_dialect() -> None:
    assert '"dialect" is "mysql"' in _error(_snapshot(dialect="mysql")).message


@pytest.mark.parametrize("key", ["id", "prevId"])
def test_missing_ids(key: str) -> None:
    assert f'"{key}" must be a non-empty string' in _error(_snapshot(**{key: None})).message
    assert f'"{key}" must be a non-empty string' in _error(_snapshot(**{key: 5})).message


def _with_model(edit: Any) -> str:
    doc = json.loads(dump_snapshot(full_model(), id="b", prev_id="a"))
    edit(doc["model"])
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("edit", "where", "what"),
    [
        (lambda m: m["tables"][0]["columns"][0].update(type=5),
         "model.tables[0].columns[0].type", "expected a string, got 5"),
        (lambda m: m["tables"][0]["columns"][0].update(not_null=1),
         "model.tables[0].columns[0].not_null", "expected true or false, got 1"),
        (lambda m: m.update(server_version=True),
         "model.server_version", "expected an integer, got true"),
        (lambda m: m["tables"][0]["columns"][0].update(colour="red"),
         "model.tables[0].columns[0]", "unknown field 'colour' for column"),
        (lambda m: m["tables"][0]["columns"][0].pop("type"),
         "model.tables[0].columns[0]", "missing field 'type'"),
        (lambda m: m["types"][0].update(kind="table"),
         "model.types[0]", '"kind" must be one of'),
        (lambda m: m["types"][0].pop("kind"),
         "model.types[0]", '"kind" must be one of'),
        (lambda m: m["tables"].append(m["tables"][0]),
         "model.tables[2]", "listed twice"),
        (lambda m: m["tables"][0].update(partition_of=["app"]),
         "model.tables[0].partition_of", "expected a list of 2 items, got 1"),
        (lambda m: m["tables"][0].update(columns={}),
         "model.tables[0].columns", "expected a list, got an object"),
        (lambda m: m.update(tables={}),
         "model.tables", "expected a list of objects, got an object"),
        (lambda m: m["schemas"][0].update(name=None),
         "model.schemas[0].name", "expected a string, got null"),
        (lambda m: m["tables"][0]["columns"][0].update(identity="yes"),
         "model.tables[0].columns[0].identity", "expected an object"),
    ],
)
def test_malformed_model(edit: Any, where: str, what: str) -> None:
    e = _error(_with_model(edit))
    assert f"{where}: " in e.message
    assert what in e.message


def test_model_from_dict_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"model.schemas\[0\]: missing field 'name'"):
        model_from_dict({"schemas": [{}]})


# --------------------------------------------------------------------------------------
# Introspected models of every fixture schema


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip_of_introspected_fixture(path: Path, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        try:
            conn.execute(path.read_text().encode())
        except psycopg.Error as e:
            pytest.skip(f"does not load on server {conn.info.server_version}: {e}")
        model = introspect(conn)
    assert model.tables or model.types or model.functions or model.extensions
    text = dump_snapshot(model, id="b", prev_id="a")
    loaded, sid, prev = load_snapshot(text, str(path))
    assert (sid, prev) == ("b", "a")
    assert loaded == model
    # Stable: dumping the loaded model gives the same text.
    assert dump_snapshot(loaded, id="b", prev_id="a") == text
