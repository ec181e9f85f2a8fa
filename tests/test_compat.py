"""`generate` refuses spec changes that would misread the events already stored.

The module on disk says what the log stored under (schema indexes, action codes,
tables, links); a change that would read those events differently, or leave them
out of reach, is an error unless `--allow-breaking` is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.codegen import Job, generate
from generator.compat import module_layout, plan_layout
from generator.loader import load
from generator.plan import action_code, plan
from generator.validate import validate
from tests.test_cli import run, snapshot, write

EXAMPLES = Path(__file__).parent.parent / "generated_example"

V1 = """\
version: 1
module: orders
table: orders
hashed: true
schemas:
  - Customer
  - name: Shipment
    actions: [dispatch, cancel]
shard:
  count: 2
links:
  refs: {table: refs, column: ref_id, typed: true}
"""

SAFE = {
    "schema_at_the_end": (
        "    actions: [dispatch, cancel]\n",
        "    actions: [dispatch, cancel]\n  - Coupon\n",
    ),
    "action": ("[dispatch, cancel]", "[dispatch, cancel, hold]"),
    "renamed_action_with_alias": (
        "[dispatch, cancel]",
        "[ship, cancel]\naliases:\n  ship: dispatch",
    ),
    "renamed_schema_keeping_its_index": ("  - Customer\n", "  - Client\n"),
    "link": ("links:\n", "links:\n  more: {table: more, column: more_id}\n"),
    "unconstrained_link": ("typed: true}", "typed: true, constrained: false}"),
    "renamed_link": ("  refs: {table: refs,", "  references: {table: refs,"),
}
# name -> (text replaced, replacement, location, words of the message)
BREAKING = {
    "schema_inserted_before_another": (
        "  - name: Shipment\n",
        "  - Coupon\n  - name: Shipment\n",
        "schemas[2]",
        "moves Shipment from index 1 to 2",
    ),
    "schema_dropped": (
        "  - Customer\n  - name: Shipment\n",
        "  - name: Shipment\n    index: 1\n",
        "schemas",
        "drops schema Customer (index 0)",
    ),
    "action_renamed_without_alias": (
        "[dispatch, cancel]",
        "[ship, cancel]",
        "schemas[1].actions",
        "drops action 'dispatch'",
    ),
    "shard_count": ("count: 2", "count: 3", "shard", "changes the shard layout"),
    "unhashed": ("hashed: true", "hashed: false", "hashed", "turns the hash chain off"),
    "table": ("table: orders\n", "table: purchases\n", "table", "renames the events"),
    "link_column": (
        "column: ref_id, typed: true",
        "column: other_id, typed: true",
        "links.refs",
        "changes link 'refs'",
    ),
    "link_dropped": (
        "  refs: {table: refs, column: ref_id, typed: true}\n",
        "  other: {table: other, column: other_id}\n",
        "links",
        "drops link 'refs'",
    ),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "orders.yaml", V1)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _generate(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code, _, err = run(capsys, "generate", "orders.yaml", "--out", "out", *extra)
    return code, err


def _edit(project: Path, old: str, new: str) -> None:
    spec = project / "orders.yaml"
    text = spec.read_text(encoding="utf-8")
    assert text.count(old) == 1
    spec.write_text(text.replace(old, new), encoding="utf-8")


def _leave_a_conflict_marker(project: Path) -> None:
    """What a merge leaves in the generated module: it no longer parses."""
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8")
    write(module, text.replace("class Schema(", "<<<<<<< HEAD\nclass Schema(", 1))


@pytest.mark.parametrize("change", SAFE)
def test_changes_that_keep_stored_events_readable_generate(
    project: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    assert _generate(capsys)[0] == 0
    _edit(project, *SAFE[change])
    code, _, checked = run(capsys, "check", "orders.yaml", "--out", "out")
    assert code == 1 and "would refuse" not in checked
    code, err = _generate(capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("change", BREAKING)
def test_changes_that_would_misread_stored_events_are_refused(
    project: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    assert _generate(capsys)[0] == 0
    before = snapshot(project / "out")
    old, new, location, words = BREAKING[change]
    _edit(project, old, new)
    code, err = _generate(capsys)
    assert code == 2
    lines = err.splitlines()
    assert any(
        line.startswith("orders.yaml:")
        and f": {location}: " in line
        and words in line
        and line.endswith("(--allow-breaking generates it anyway)")
        for line in lines
    ), err
    assert lines[-1].endswith(", nothing written")
    assert snapshot(project / "out") == before
    # `check` says stale, and that `generate` would refuse it; it writes nothing.
    code, _, checked = run(capsys, "check", "orders.yaml", "--out", "out")
    assert code == 1
    assert "`generate` would refuse this change" in checked
    assert any(words in line for line in checked.splitlines()), checked
    assert snapshot(project / "out") == before
    # Written when told, and said: a reviewer sees what the change lets through.
    code, err = _generate(capsys, "--allow-breaking")
    assert code == 0
    assert any(
        line.startswith("warning: orders.yaml:")
        and f": {location}: " in line
        and words in line
        and line.endswith("(generated anyway: it needs a data migration)")
        for line in err.splitlines()
    ), err
    assert _generate(capsys) == (0, "")  # the new module is the new record


def test_a_module_written_by_hand_is_not_compared(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a file with spectorgen's header is a record: this one reads as a
    module of another layout, and is left out of the comparison (and, as a
    file spectorgen did not write, out of generate's reach)."""
    assert _generate(capsys)[0] == 0
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8").replace(
        'TABLE: Final = "orders"', 'TABLE: Final = "elsewhere"'
    )
    write(module, "\n".join(text.splitlines()[3:]) + "\n")  # its header cut
    code, err = _generate(capsys)
    assert code == 2 and "table" not in err, err
    assert "spectorgen did not write it" in err, err
    write(module, text)  # with its header, the same file is compared
    _edit(project, "[dispatch, cancel]", "[dispatch, cancel, hold]")
    assert _generate(capsys)[0] == 2


def test_a_renamed_module_is_still_compared(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old module is the orphan `generate` would remove: it is the record."""
    assert _generate(capsys)[0] == 0
    _edit(project, "module: orders\n", "module: purchases\n")
    _edit(project, "  - name: Shipment\n", "  - Coupon\n  - name: Shipment\n")
    code, err = _generate(capsys)
    assert code == 2 and "moves Shipment from index 1 to 2" in err
    assert (project / "out" / "orders.py").is_file()
    assert not (project / "out" / "purchases.py").exists()


def test_a_function_shards_tables_may_be_listed_in_another_order(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(
        project, "  count: 2\n", "  function: app.shards:pick\n  tables: [o_a, o_b]\n"
    )
    assert _generate(capsys)[0] == 0
    _edit(project, "[o_a, o_b]", "[o_b, o_a]")
    assert _generate(capsys) == (0, "")


def test_more_tables_for_the_same_shard_function_are_written_with_a_warning(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whether stored records stay in reach is up to the function, which the
    generator cannot read: it says what the function must keep doing. Fewer
    tables, or another function, leave stored records out of reach: refused."""
    _edit(
        project, "  count: 2\n", "  function: app.shards:pick\n  tables: [o_a, o_b]\n"
    )
    assert _generate(capsys)[0] == 0
    _edit(project, "[o_a, o_b]", "[o_a, o_b, o_d, o_c]")
    code, err = _generate(capsys)
    assert code == 0
    (line,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert line == (
        "warning: orders.yaml:11:11: shard.tables: adds shard tables (o_c, o_d):"
        " app.shards:pick must still send every stored record's parent_id to the"
        " table it sent it to before, or those records would be looked up in"
        " tables they are not in"
    )
    module = (project / "out" / "orders.py").read_text(encoding="utf-8")
    assert '    "o_d",\n    "o_c",\n)' in module
    assert _generate(capsys) == (0, "")  # said once: the module is the new record
    for tables in ("[o_a, o_b, o_d]", "[o_a, o_b, o_d, o_e]"):
        _edit(project, "[o_a, o_b, o_d, o_c]", tables)  # o_c gone
        assert "changes the shard layout" in _generate(capsys)[1]
        _edit(project, tables, "[o_a, o_b, o_d, o_c]")
    _edit(project, "app.shards:pick", "app.shards:route")
    _edit(project, "[o_a, o_b, o_d, o_c]", "[o_a, o_b, o_d, o_c, o_e]")
    assert "changes the shard layout" in _generate(capsys)[1]


def test_a_function_sharded_log_s_tables_compare_when_its_table_is_renamed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its `table` may be renamed (it only names a trigger function), but that
    turned every shard comparison off: new tables went by without a warning,
    and other tables or another function without an error."""
    _edit(
        project, "  count: 2\n", "  function: app.shards:pick\n  tables: [o_a, o_b]\n"
    )
    assert _generate(capsys)[0] == 0
    _edit(project, "table: orders\n", "table: purchases\n")
    for tables, function in (("[o_c, o_d]", "pick"), ("[o_a, o_b]", "route")):
        _edit(project, "[o_a, o_b]", tables)
        _edit(project, "app.shards:pick", f"app.shards:{function}")
        code, err = _generate(capsys)
        assert code == 2 and "changes the shard layout" in err, err
        _edit(project, tables, "[o_a, o_b]")
        _edit(project, f"app.shards:{function}", "app.shards:pick")
    _edit(project, "[o_a, o_b]", "[o_a, o_b, o_c]")
    code, err = _generate(capsys)
    assert code == 0 and "warning: orders.yaml:11:11: shard.tables: adds shard" in err


def test_a_module_that_does_not_parse_is_said_to_go_unchecked_when_allowed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(capsys)[0] == 0
    _leave_a_conflict_marker(project)
    _edit(project, "[dispatch, cancel]", "[dispatch, cancel, hold]")
    code, err = _generate(capsys, "--allow-breaking")
    assert code == 0
    (line,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "orders.py, generated from this spec, does not parse" in line
    assert line.endswith(
        "so the change was not checked against what the log stored (--allow-breaking)"
    ), line


def test_an_alias_given_to_a_declared_action_is_advised_away(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No name is gone: `dispatch` itself would take another code. The advice
    was an alias from `dispatch` to itself, which the spec rules refuse."""
    assert _generate(capsys)[0] == 0
    _edit(
        project, "[dispatch, cancel]", "[dispatch, cancel]\naliases:\n  dispatch: send"
    )
    code, err = _generate(capsys)
    assert code == 2
    assert err.splitlines()[0] == (
        "orders.yaml:8:14: schemas[1].actions: gives action 'dispatch' another code"
        f" ({action_code('dispatch')} -> {action_code('send')}): its stored events"
        " could no longer be read; an action keeps its code: drop the alias that"
        " gives it another (--allow-breaking generates it anyway)"
    ), err


def test_a_dropped_alias_code_is_reported_once_with_the_name_that_keeps_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(project, "[dispatch, cancel]", "[ship, cancel]\naliases:\n  ship: dispatch")
    assert _generate(capsys)[0] == 0
    # `ship` keeps dispatch's code; renaming it on with `ship` as the legacy
    # name would take ship's own code, not dispatch's.
    _edit(
        project,
        "[ship, cancel]\naliases:\n  ship: dispatch",
        "[send, cancel]\naliases:\n  send: ship",
    )
    code, err = _generate(capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if "drops action" in line]
    assert "drops action 'dispatch' and 'ship' (code " in line
    assert "(aliases: {new_name: dispatch})" in line
    _edit(project, "send: ship", "send: dispatch")
    assert _generate(capsys) == (0, "")


@pytest.mark.parametrize("module", ["blog_events", "chat_events", "region_events"])
def test_a_generated_module_reads_back_as_its_plan(module: str) -> None:
    loaded = load(EXAMPLES / "specs" / f"{module}.yaml", f"{module}.yaml")
    planned = plan(validate(loaded), loaded, spec_path="x", generator_version="0")
    layout = module_layout((EXAMPLES / f"{module}.py").read_text(encoding="utf-8"))
    assert layout == plan_layout(planned)
    assert layout is not None and layout.schemas and layout.actions


def test_a_module_of_an_earlier_version_reads_its_aliases_by_code() -> None:
    """Earlier modules wrote an alias as its code (`archive = 246670187`); now
    it names its action (`archive = soft_delete`), which pyright reads as one
    member. Both read back as the same layout."""
    text = (EXAMPLES / "blog_events.py").read_text(encoding="utf-8")
    code = action_code("archive")
    earlier = text.replace("    archive = soft_delete\n", f"    archive = {code}\n")
    assert earlier != text
    now, then = module_layout(text), module_layout(earlier)
    assert now is not None and now.actions["archive"] == code
    assert then == now


def test_only_generate_compares(tmp_path: Path) -> None:
    """The library call compares only when asked (the CLI's `generate` asks)."""
    spec = write(tmp_path / "orders.yaml", V1)
    out = tmp_path / "out"
    for path, text in generate([Job(spec, out)], tmp_path).items():
        write(path, text)
    write(spec, V1.replace("count: 2", "count: 3"))
    assert generate([Job(spec, out)], tmp_path)
    with pytest.raises(Exception, match="changes the shard layout"):
        generate([Job(spec, out)], tmp_path, guard=True)


def test_a_module_that_does_not_parse_is_an_error_not_a_pass(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A merge left conflict markers in the module: the guard cannot compare,
    and says so rather than let a breaking change through."""
    assert _generate(capsys)[0] == 0
    _leave_a_conflict_marker(project)
    before = snapshot(project / "out")
    _edit(project, "  - name: Shipment\n", "  - Coupon\n  - name: Shipment\n")
    code, err = _generate(capsys)
    assert code == 2
    assert "orders.py, generated from this spec, does not parse" in err
    assert "(line " in err and "restore it (resolve the merge)" in err
    assert snapshot(project / "out") == before
    assert _generate(capsys, "--allow-breaking")[0] == 0


def test_the_module_of_another_spec_is_not_taken_for_this_ones(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two logs swap module names: each is compared with its own old module,
    found by the spec its header names, not with the other log's."""
    other = V1.replace("module: orders", "module: ledger").replace(
        "table: orders", "table: ledger"
    )
    write(project / "ledger.yaml", other.replace("hashed: true", "hashed: false"))
    both = ("generate", "orders.yaml", "ledger.yaml", "--out", "out")
    assert run(capsys, *both)[0] == 0
    spec = project / "ledger.yaml"
    write(
        spec,
        spec.read_text(encoding="utf-8").replace("module: ledger", "module: spare"),
    )
    _edit(project, "module: orders", "module: ledger")
    _edit(project, "count: 2", "count: 3")
    code, _, err = run(capsys, *both)
    assert code == 2
    ours = [line for line in err.splitlines() if line.startswith("orders.yaml:")]
    assert len(ours) == 1 and "changes the shard layout" in ours[0], err
    assert "renames the events table" not in err and "hash chain" not in err


def test_a_spec_moved_is_compared_with_the_module_it_left(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its module names a spec that no longer exists: it is still the record."""
    assert _generate(capsys)[0] == 0
    moved = write(
        project / "events" / "orders.yaml",
        V1.replace("  - name: Shipment\n", "  - Coupon\n  - name: Shipment\n"),
    )
    (project / "orders.yaml").unlink()
    code, _, err = run(capsys, "generate", str(moved), "--out", "out")
    assert code == 2 and "moves Shipment from index 1 to 2" in err


def test_a_module_edited_by_hand_that_parses_is_regenerated(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without its layout there is nothing to compare; `generate` rewrites it."""
    assert _generate(capsys)[0] == 0
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8")
    write(module, text.replace("class Schema(", "class Schemas("))
    assert _generate(capsys)[0] == 0
    assert module.read_text(encoding="utf-8") == text


def test_a_module_edited_under_its_own_header_is_refused_without_blaming_the_spec(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its header names this generator and this very spec, unchanged: the
    refusal pointed at a spec line nobody touched. The module on disk is still
    what events may have been stored under, so it is refused all the same,
    and written when told."""
    assert _generate(capsys)[0] == 0
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8")
    write(module, text.replace("    Customer = 0\n", "    Customer = 9\n"))
    before = snapshot(project / "out")
    code, err = _generate(capsys)
    assert code == 2, err
    (line,) = [line for line in err.splitlines() if line.startswith("orders.yaml:")]
    assert line.startswith(
        "orders.yaml:2:9: module: orders.py was changed since this spec,"
        " unchanged, generated it (edited by hand?): moves Customer from index 9"
        " to 0"
    ), line
    assert line.endswith("restore the file (--allow-breaking generates it anyway)")
    assert snapshot(project / "out") == before
    code, _, checked = run(capsys, "check", "orders.yaml", "--out", "out")
    assert code == 1 and "edited by hand?" in checked, checked
    assert _generate(capsys, "--allow-breaking")[0] == 0
    assert module.read_text(encoding="utf-8") == text


def test_a_module_edited_into_a_literal_python_cannot_evaluate_is_regenerated(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`{[]: 1}` parses but raises TypeError in ast.literal_eval: it was an
    internal error. Without a layout there is nothing to compare."""
    assert _generate(capsys)[0] == 0
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8")
    write(module, text.replace('TABLE: Final = "orders"', "TABLE: Final = {[]: 1}"))
    _edit(project, "[dispatch, cancel]", "[dispatch, cancel, hold]")
    assert _generate(capsys) == (0, "")
    assert 'TABLE: Final = "orders"' in module.read_text(encoding="utf-8")


def test_a_module_of_another_existing_spec_is_not_overwritten(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generated in separate runs, two specs naming one module would take turns
    overwriting it: the second is refused."""
    assert _generate(capsys)[0] == 0
    write(project / "other.yaml", V1.replace("table: orders", "table: others"))
    before = snapshot(project / "out")
    code, _, err = run(capsys, "generate", "other.yaml", "--out", "out")
    assert code == 2
    assert "orders.py on disk is generated from orders.yaml, another spec" in err
    assert snapshot(project / "out") == before


def test_merge_markers_on_the_first_line_are_caught_too(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A conflict in the header line leaves no header: still the record."""
    assert _generate(capsys)[0] == 0
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8")
    write(module, "<<<<<<< HEAD\n" + text + "=======\n>>>>>>> other\n")
    _edit(project, "  - name: Shipment\n", "  - Coupon\n  - name: Shipment\n")
    code, err = _generate(capsys)
    assert code == 2 and "orders.py, generated from this spec, does not parse" in err


def test_the_module_that_names_the_spec_wins_over_a_moved_specs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """b.yaml takes over module `orders` after orders.yaml was deleted: it is
    compared with its own module (b.py), not with the one orders.yaml left.
    (In a project: without one, a header's path may be from another working
    folder, and a module of another table is not taken for this spec's.)"""
    write(project / "pyproject.toml", '[project]\nname = "p"\n')
    assert _generate(capsys)[0] == 0
    spec_b = V1.replace("module: orders", "module: b").replace("orders", "tb")
    write(project / "b.yaml", spec_b)
    assert run(capsys, "generate", "b.yaml", "--out", "out")[0] == 0
    (project / "orders.yaml").unlink()
    taken = spec_b.replace("module: b", "module: orders").replace(
        "table: tb", "table: ta"
    )
    write(project / "b.yaml", taken)
    code, _, err = run(capsys, "generate", "b.yaml", "--out", "out")
    assert code == 2
    assert "renames the events table 'tb' to 'ta'" in err, err


def test_specs_outside_the_project_keep_each_others_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shown by file name alone, a spec outside the project is still found: its
    module is not an orphan of a run that generates another spec."""
    specs, project = tmp_path / "specs", tmp_path / "project"
    write(specs / "orders.yaml", V1)
    write(specs / "ledger.yaml", V1.replace("orders", "ledger"))
    project.mkdir()
    monkeypatch.chdir(project)
    both = [str(specs / "orders.yaml"), str(specs / "ledger.yaml")]
    assert run(capsys, "generate", *both, "--out", "out")[0] == 0
    assert run(capsys, "generate", both[0], "--out", "out")[0] == 0
    assert (project / "out" / "ledger.py").is_file()


def test_a_key_left_out_is_reported_beside_the_table(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hashed: true` removed means hashed: false; no line of the spec holds it."""
    assert _generate(capsys)[0] == 0
    _edit(project, "hashed: true\n", "")
    code, err = _generate(capsys)
    assert code == 2
    assert err.startswith("orders.yaml:3:8: hashed: turns the hash chain off"), err


def test_the_chain_switched_with_the_table_renamed_claims_no_refusal(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Renamed tables are made afresh: migrate never meets the old ones."""
    assert _generate(capsys)[0] == 0
    _edit(project, "hashed: true\n", "")
    _edit(project, "table: orders\n", "table: purchases\n")
    code, err = _generate(capsys)
    assert code == 2
    assert (
        "hashed: turns the hash chain off: events tables made before keep their"
        " NOT NULL hash column, which unhashed appends leave empty"
        " (--allow-breaking generates it anyway)"
    ) in err, err


def test_the_chain_turned_on_says_what_migrate_will_refuse(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The generator never sees the database: it says what tables made by the
    unhashed spec lack, not that they hold events."""
    _edit(project, "hashed: true\n", "hashed: false\n")
    assert _generate(capsys)[0] == 0
    _edit(project, "hashed: false\n", "hashed: true\n")
    code, err = _generate(capsys)
    assert code == 2
    assert (
        "hashed: turns the hash chain on: events tables made before have no hash"
        " column (migrate refuses them), and their events no hashes"
        " (--allow-breaking generates it anyway)"
    ) in err, err


def test_a_spec_renamed_with_its_module_is_still_compared(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spec file and `module` renamed in one change: the module the old spec
    made (same table, its spec gone) is the record."""
    assert _generate(capsys)[0] == 0
    moved = V1.replace("module: orders", "module: sales").replace(
        "  - Customer\n  - name: Shipment\n", "  - name: Shipment\n"
    )
    write(project / "sales.yaml", moved)
    (project / "orders.yaml").unlink()
    before = snapshot(project / "out")
    code, _, err = run(capsys, "generate", "sales.yaml", "--out", "out")
    assert code == 2 and "moves Shipment from index 1 to 0" in err, err
    assert snapshot(project / "out") == before
    # Another log's new spec, beside a deleted one of another table: not compared.
    write(project / "other.yaml", V1.replace("orders", "ledger"))
    code, _, err = run(capsys, "generate", "other.yaml", "--out", "out")
    assert code == 0, err


def test_specs_of_one_name_outside_the_project_stay_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Headers named a spec outside the project by file name alone: a second
    `events.yaml` from another folder was compared with the first one's module
    (false breaking changes) and, with --allow-breaking, removed it."""
    project = tmp_path / "project"
    write(project / "pyproject.toml", '[project]\nname = "app"\n')
    write(tmp_path / "p1" / "events.yaml", V1.replace("orders", "alpha"))
    write(tmp_path / "p2" / "events.yaml", V1.replace("orders", "beta"))
    monkeypatch.chdir(project)
    for folder in ("p1", "p2"):
        spec = str(tmp_path / folder / "events.yaml")
        code, out, err = run(capsys, "generate", spec, "--out", "gen")
        assert (code, "removed" in out) == (0, False), err
    assert sorted(p.name for p in (project / "gen").iterdir()) == [
        "alpha.py",
        "alpha.sql",
        "beta.py",
        "beta.sql",
    ]
    module = (project / "gen" / "beta.py").read_text(encoding="utf-8")
    assert "# source: ../p2/events.yaml\n" in module


def test_renaming_the_table_of_a_function_sharded_log_is_safe(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its events live in `shard.tables`; `table` names a trigger function only."""
    routed = V1.replace(
        "shard:\n  count: 2\n",
        "shard:\n  function: app.routes:pick\n  tables: [orders_eu, orders_us]\n",
    )
    write(project / "orders.yaml", routed)
    assert _generate(capsys)[0] == 0
    _edit(project, "table: orders\n", "table: purchases\n")
    assert _generate(capsys) == (0, "")
    _edit(project, "tables: [orders_eu, orders_us]", "tables: [orders_eu, orders_uk]")
    code, err = _generate(capsys)
    assert code == 2 and "changes the shard layout" in err, err


def test_a_module_with_a_nul_byte_is_reported_without_a_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python's parser gives no line for a NUL byte: the message said "line None"."""
    assert _generate(capsys)[0] == 0
    module = project / "out" / "orders.py"
    text = module.read_text(encoding="utf-8")
    write(module, text.replace("TABLE: Final", "TABLE\0: Final", 1))
    _edit(project, "[dispatch, cancel]", "[dispatch, cancel, hold]")
    code, err = _generate(capsys)
    assert code == 2 and "None" not in err, err
    assert "does not parse (source code string cannot contain null bytes)" in err


def test_a_new_spec_named_like_a_deleted_one_is_not_compared_with_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header naming a bare `x.yaml` used to match a new `a/x.yaml` inside the
    project: an unrelated log was refused as a breaking change of the old one."""
    write(tmp_path / "pyproject.toml", '[project]\nname = "p"\n')
    write(tmp_path / "x.yaml", V1.replace("orders", "mx"))
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "generate", "x.yaml", "--out", "gen")[0] == 0
    (tmp_path / "x.yaml").unlink()
    write(
        tmp_path / "a" / "x.yaml", V1.replace("orders", "my").replace("Customer", "C")
    )
    code, out, err = run(capsys, "generate", "a/x.yaml", "--out", "gen")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == ["my.py", "my.sql"]
    assert "removed orphaned" in out


def test_an_action_name_given_another_code_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ship` kept `dispatch`'s code through an alias; declaring both without
    the alias gives `ship` a code of its own, and its stored events would read
    as `dispatch`. No code is dropped, so only the name's code shows it."""
    _edit(project, "[dispatch, cancel]", "[ship, cancel]\naliases:\n  ship: dispatch")
    assert _generate(capsys)[0] == 0
    _edit(
        project,
        "[ship, cancel]\naliases:\n  ship: dispatch",
        "[ship, dispatch, cancel]",
    )
    code, err = _generate(capsys)
    assert code == 2
    assert err.splitlines()[0] == (
        "orders.yaml:8:14: schemas[1].actions: gives action 'ship' another code"
        f" ({action_code('dispatch')} -> {action_code('ship')}): its stored events"
        " would read as 'dispatch'; keep its code with an alias, or give the new"
        " action another name (--allow-breaking generates it anyway)"
    ), err


def test_an_alias_dropped_from_a_kept_action_says_the_action_is_recoded(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without its alias `ship` takes its own code and `dispatch` is gone: the
    message said `ship` was dropped too, while it is still declared."""
    _edit(project, "[dispatch, cancel]", "[ship, cancel]\naliases:\n  ship: dispatch")
    assert _generate(capsys)[0] == 0
    _edit(project, "\naliases:\n  ship: dispatch", "")
    code, err = _generate(capsys)
    assert code == 2
    assert err.splitlines()[0] == (
        f"orders.yaml:8:14: schemas[1].actions: drops action 'dispatch' (code"
        f" {action_code('dispatch')}), and 'ship' would take code"
        f" {action_code('ship')}: its stored events could no longer be read; a"
        " renamed action keeps the code with an alias (aliases: {ship: dispatch})"
        " (--allow-breaking generates it anyway)"
    ), err


def test_a_renamed_table_names_the_join_tables_left_pointing_at_the_old_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unsharded, the join tables keep their names, and their foreign keys keep
    pointing at the old events table: every new link would be refused."""
    _edit(project, "shard:\n  count: 2\n", "")
    assert _generate(capsys)[0] == 0
    _edit(project, "table: orders\n", "table: purchases\n")
    code, err = _generate(capsys)
    assert code == 2
    assert err.splitlines()[0] == (
        "orders.yaml:3:8: table: renames the events table 'orders' to 'purchases':"
        " the stored events stay in the old one, and the join tables 'refs' keep"
        " their foreign keys to it (new links would be refused) (--allow-breaking"
        " generates it anyway)"
    ), err
