"""The shared mode's commands: db upgrade, a refused schema, db import and export."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import psycopg.sql
import pytest
from starlette.testclient import TestClient

from benchmarks.common import gatewatch_command
from daemon.config import parse_config
from daemon.status_reporter import StatusReporter
from daemon.web.app import create_app
from gating import TrainingArchiveManager
from gating.archive.rejections import unread_key
from gating.shared.archive import SharedArchive
from tests.conftest import make_summary
from tests.pg import Cluster

pytestmark = pytest.mark.timeout(120)


def gatewatch(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gatewatch ARGS --config CONFIG` as a user runs it."""
    return subprocess.run(
        [*gatewatch_command(), *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ),
    )  # fmt: skip


def write_config(folder: Path, url: str) -> Path:
    """A config whose archive is the database ``url``."""
    path = folder / "config.toml"
    path.write_text(f'[archive]\ndir = "local"\nurl = "{url}"\n', "utf-8")
    return path


def test_upgrade_makes_the_schema_once_and_a_process_without_it_refuses(
    tmp_path: Path, cluster: Cluster
) -> None:
    """Without the schema every command refuses with one line and exit 2; `db upgrade`
    makes it (and again says it is up to date, adding what an early build's lacks); a
    newer schema is refused the same way."""
    url = cluster.create_database()
    config = write_config(tmp_path, url)
    refused = gatewatch(config, "runs")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "gatewatch db upgrade" in refused.stderr
    made = gatewatch(config, "db", "upgrade", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {"before": None, "after": 1}
    again = gatewatch(config, "db", "upgrade")
    assert again.stdout.strip() == "schema version 1: up to date"
    assert gatewatch(config, "runs").returncode == 0
    # A database an early build made lacks columns added to version 1 since: added.
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ALTER TABLE deliveries DROP COLUMN delivered, DROP COLUMN failed")
    assert gatewatch(config, "db", "upgrade").returncode == 0
    with psycopg.connect(url, autocommit=True) as connection:
        columns = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'deliveries'"
        ).fetchall()
    assert {"delivered", "failed"} <= {row[0] for row in columns}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    newer = gatewatch(config, "run")
    assert newer.returncode == 2
    assert "schema version 99 is a newer one" in newer.stderr
    assert newer.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ("UPDATE meta SET value = 'abc'", "version in its meta table is 'abc'"),
        ("DELETE FROM meta", "version in its meta table is missing"),
    ],
)
@pytest.mark.parametrize("command", [["runs"], ["db", "upgrade"]])
def test_a_schema_version_edited_by_hand_is_refused_in_one_line(
    tmp_path: Path, pg_url: str, tamper: str, says: str, command: list[str]
) -> None:
    """The meta table's version made text or deleted: every command refuses with one line
    and exit 2, `db upgrade` fails with one line, exit 1 (a ValueError traceback; `db
    upgrade` tried to make the tables again and failed with a DuplicateTable traceback)."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(tamper)
    done = gatewatch(write_config(tmp_path, pg_url), *command)
    assert done.returncode == (2 if command == ["runs"] else 1), done.stdout  # refused / failed
    assert done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr


def test_a_role_without_rights_is_one_line(tmp_path: Path, pg_url: str) -> None:
    """A database role that may not read the tables: `runs` and `db upgrade` say so in one
    line, exit 1 (each was an InsufficientPrivilege traceback)."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("DROP ROLE IF EXISTS gw_no_rights")
        connection.execute("CREATE ROLE gw_no_rights LOGIN")
    weak = pg_url.replace("://postgres@", "://gw_no_rights@")
    assert weak != pg_url
    for command in (["runs"], ["db", "upgrade"]):
        done = gatewatch(write_config(tmp_path, weak), *command)
        assert done.returncode == 1, done.stdout
        assert done.stderr.count("\n") == 1, done.stderr
        assert "permission denied" in done.stderr


def test_a_role_that_may_only_read_is_refused_by_run_in_one_line(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """A role granted SELECT only: `run` refuses to start in one line naming the tables,
    exit 2 (it started, said healthy, and failed every file with permission denied);
    `runs` still reads."""
    role = "reader_of_" + pg_url.rsplit("/", 1)[1]  # one a database: a grant ties it to it
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(role))
        )
        connection.execute(
            psycopg.sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                psycopg.sql.Identifier(role)
            )
        )
    reader = pg_url.replace("://postgres@", f"://{role}@")
    config = write_config(tmp_path, reader)
    (tmp_path / "in").mkdir()
    config.write_text(config.read_text("utf-8") + '[watch]\npaths = ["in"]\n', "utf-8")
    done = gatewatch(config, "run")
    assert done.returncode == 2, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert "this role may not write runs, models, rejections, events, services" in done.stderr
    assert gatewatch(config, "runs").returncode == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://gw:secret@db/gatewatch", "holds a password"),
        ("mysql://db/gatewatch", "not a postgresql:// URL"),
        ("postgresql://db", "names no database"),
        ("postgresql://gw@db/gatewatch?password=TopSecret", "holds a password"),
        ("host=db password=TopSecret dbname=gatewatch", "not a postgresql:// URL"),
        ("postgresql://gw@db/gatewatch?password=Top%zzSecret", "not a URL PostgreSQL can read"),
        ("postgresql://gw@[::1:5432/gatewatch", "not a URL PostgreSQL can read"),
    ],
)
def test_a_bad_url_is_one_line(tmp_path: Path, url: str, problem: str) -> None:
    """A password in the file (in the URL's query too), another database, no database
    name, a URL that cannot be read: exit 2, one line that never shows the password (a
    key=value string and a bad %-escape were printed whole; a ?password= was taken, and
    a stray bracket was a traceback)."""
    done = gatewatch(write_config(tmp_path, url), "runs")
    assert done.returncode == 2
    assert problem in done.stderr
    assert done.stderr.count("\n") == 1
    assert "TopSecret" not in done.stderr


@pytest.mark.parametrize("command", [["runs"], ["db", "upgrade"]])
def test_a_database_that_cannot_be_reached_is_one_line_saying_why(
    tmp_path: Path, command: list[str]
) -> None:
    """Nothing listening at the URL's port: one line that says the connection was refused
    (psycopg's pool printed three multi-line warnings first, and the line said only that
    no connection came in 5 s; `db upgrade`, whose pool holds one connection, said every
    pooled connection was in use), exit 1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    config = write_config(tmp_path, f"postgresql://gw@127.0.0.1:{port}/gatewatch")
    done = gatewatch(config, *command)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"gatewatch: 127.0.0.1:{port}/gatewatch: cannot connect: ")
    assert "Connection refused" in done.stderr


def test_status_with_the_database_away_still_shows_this_host_s_service(tmp_path: Path) -> None:
    """The database unreachable: `status` still prints this host's status.json, failing
    since the services cannot be listed, then one line saying so, exit 1 (3 with no
    service here); it printed the connection error alone, exit 1 either way."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    config = write_config(tmp_path, f"postgresql://gw@127.0.0.1:{port}/gatewatch")
    absent = gatewatch(config, "status")
    assert absent.returncode == 3
    assert absent.stdout.startswith(
        "gatewatch: not running (no service's status.json on this host; the services cannot "
        "be listed: "
    )
    (tmp_path / "local").mkdir()
    StatusReporter(tmp_path / "local").write("ready", 11, force=True)
    done = gatewatch(config, "status")
    assert done.returncode == 1
    assert done.stdout.startswith("gatewatch: failing (the services cannot be listed: ")
    assert "queue depth 11" in done.stdout
    assert done.stderr.startswith("gatewatch: the services cannot be listed: 127.0.0.1:")
    assert done.stderr.count("\n") == 1
    found = json.loads(gatewatch(config, "status", "--json").stdout)
    assert (found["services"], found["status"]["queue_depth"]) == (None, 11)
    assert (found["health"], found["healthy"]) == ("failing", False)
    assert "Connection refused" in found["services_error"]


def test_a_host_without_a_service_is_healthy_while_another_writes(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """No service on this host (a dashboard's): `status`, /health and /metrics say healthy
    while a service of another host writes into the database, not running once none does
    (they said "not running", exit 3 and a 503, with two services writing); rows of
    infinite or future times are no service's."""
    config = write_config(tmp_path, pg_url)
    shared.heartbeat("gpu1", 11, "1.0", 0.0)
    done = gatewatch(config, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "gatewatch: healthy (no service on this host; 1 service writes into the shared archive)"
    )
    assert "gpu1 pid 11" in done.stdout
    app = create_app(parse_config({"archive": {"dir": "local", "url": pg_url}}, tmp_path))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert "gatewatch_service_up 1.0" in client.get("/metrics").text
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute(
                "UPDATE services SET last_seen = clock_timestamp() - interval '1 minute'"
            )
        assert client.get("/health").json()["health"] == "not running"
        assert "gatewatch_service_up 0.0" in client.get("/metrics").text
        with psycopg.connect(pg_url, autocommit=True) as connection:
            for seen in ("infinity", "-infinity", "9999-01-01"):  # rows written by hand
                connection.execute(
                    "INSERT INTO services VALUES (%s, 1, 'x', clock_timestamp(), %s)", (seen, seen)
                )
        answers = [client.get(path) for path in ("/health", "/", "/metrics")]
        assert [a.status_code for a in answers] == [503, 200, 200]  # a 500 for every page
        assert answers[0].json()["health"] == "not running"  # not healthy for ever
    gone = gatewatch(config, "status")
    assert gone.returncode == 3
    assert gone.stdout.startswith(
        "gatewatch: not running (no service on this host, and none writes into the shared archive)"
    )


def test_import_then_export_round_trips_a_folder_archive(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """A folder archive imported (twice: nothing doubles) and exported again: the same
    runs, timestamps, bytes and decisions; new runs come after the imported ones."""
    with TrainingArchiveManager(tmp_path / "old") as old:
        runs = old.archive_training_runs([make_summary(f"r{i}") for i in range(4)])
        old.decide(runs[1].timestamp, "SYM1", "approve", by="ann", reason="ok")
    config = write_config(tmp_path, pg_url)
    first = gatewatch(config, "db", "import", str(tmp_path / "old"), "--json")
    assert first.returncode == 0, first.stderr
    nothing_passed: dict[str, object] = {"runs_passed_over": [], "decisions_passed_over": []}
    assert json.loads(first.stdout) == {"runs": 4, "decisions": 1, **nothing_passed}
    again = gatewatch(config, "db", "import", str(tmp_path / "old"), "--json")
    assert json.loads(again.stdout) == {"runs": 0, "decisions": 0, **nothing_passed}
    assert [r["timestamp"] for r in shared.list_runs()] == [r.timestamp for r in runs]
    later = shared.archive_training_run(make_summary("later"))
    assert later.timestamp > runs[-1].timestamp
    assert shared.get_deployable()["SYM1"].decision is not None
    exported = gatewatch(config, "export", str(tmp_path / "new"), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["runs"] == 5
    for run in runs:
        for name in ("summary.json", "model_assessments.json", "recommendations.md"):
            before = (tmp_path / "old" / run.timestamp / name).read_bytes()
            assert (tmp_path / "new" / run.timestamp / name).read_bytes() == before
    with TrainingArchiveManager(tmp_path / "new") as new:
        assert [d.by for d in new.decisions()] == ["ann"]
        assert len(json.loads(new.index_path.read_text("utf-8"))["runs"]) == 5


def test_import_passes_over_what_it_cannot_take_and_imports_the_rest(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """Two hosts' folder archives with a decision each (the same number), one holding the
    same bytes the database has, one with a damaged run folder that had a decision: each
    decision on a run in the database is imported (on the database's run of those bytes),
    the others are named with why, exit 1, and importing again says the same (the first
    clash or missing run stopped the import of every later decision, every time)."""
    config = write_config(tmp_path, pg_url)
    common = shared.archive_training_run(make_summary("common"))
    with TrainingArchiveManager(tmp_path / "a") as a:
        a_runs = a.archive_training_runs([make_summary("a0"), make_summary("common")])
        a.decide(a_runs[1].timestamp, "SYM1", "approve", by="ann", reason="ok")  # seq 1
    with TrainingArchiveManager(tmp_path / "b") as b:
        b_runs = b.archive_training_runs([make_summary("b0"), make_summary("b1")])
        b.decide(b_runs[0].timestamp, "SYM1", "approve", by="bob", reason="ok")  # seq 1
        b.decide(b_runs[1].timestamp, "SYM1", "approve", by="bob", reason="ok")  # seq 2
    (tmp_path / "b" / b_runs[1].timestamp / "model_assessments.json").write_text("garbage")
    first = gatewatch(config, "db", "import", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    assert [d.timestamp for d in shared.decisions()] == [common.timestamp]
    for _ in range(2):
        done = gatewatch(config, "db", "import", str(tmp_path / "b"), "--json")
        assert done.returncode == 1
        found = json.loads(done.stdout)
        assert found["runs_passed_over"] == [
            f"{b_runs[1].timestamp}: damaged (`gatewatch reindex` of the folder says why)"
        ]
        passed = found["decisions_passed_over"]
        assert [line.split(":")[0] for line in passed] == [
            f"decision 1 ({b.decisions()[0].name})",
            f"decision 2 ({b.decisions()[1].name})",
        ]
        assert "its number is another decision's" in passed[0]
        assert f"its run {b_runs[1].timestamp}" in passed[1]
    assert sorted(str(r["run_id"]) for r in shared.list_runs()) == ["a0", "b0", "common"]


def test_import_names_a_run_it_cannot_read_now_apart_from_a_damaged_one(
    tmp_path: Path, shared: SharedArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file handles left for one run's record: it is passed over as one to import
    again, not called damaged (reindex would find nothing wrong with it)."""
    from gating.archive import durable
    from gating.archive import maintenance as maintenance_module
    from gating.shared.transfer import import_folder

    with TrainingArchiveManager(tmp_path / "c") as c:
        runs = c.archive_training_runs([make_summary("c0"), make_summary("c1")])

    def no_handles(path: Path, max_bytes: int) -> bytes:
        if Path(path).parent.name == runs[1].timestamp:
            raise OSError(errno.EMFILE, "Too many open files", str(path))
        return durable.read_regular(path, max_bytes)

    monkeypatch.setattr(maintenance_module, "read_regular", no_handles)
    imported = import_folder(shared.database, tmp_path / "c")
    (passed,) = imported.runs_passed_over
    record = tmp_path / "c" / runs[1].timestamp / "model_assessments.json"
    assert (
        passed
        == f"{runs[1].timestamp}: {record}: cannot be read now (Too many open files); import again"
    )
    assert [str(r["run_id"]) for r in shared.list_runs()] == ["c0"]


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda text: text.replace('"reason": "risk"', '"reason": "x "risk""'), "Expecting"),
        (lambda text: text.replace('"decided_at": "', '"decided_at": "1'), "decided_at"),
    ],
    ids=["broken-json", "another-time"],
)
def test_import_names_a_damaged_decision_file(
    tmp_path: Path, shared: SharedArchive, edit: Callable[[str], str], why: str
) -> None:
    """A decision file edited by hand (a DROP whose JSON broke, a time that is not its
    name's) is named as damaged and the rest imported (it was left out without a word,
    exit 0: the dropped model was deployable in the database)."""
    from gating.shared.transfer import import_folder

    with TrainingArchiveManager(tmp_path / "d") as d:
        run = d.archive_training_run(make_summary("d0")).timestamp
        d.decide(run, "SYM1", "approve", by="ann", reason="ok")
        d.decide(run, "SYM0", "drop", by="bob", reason="risk", force=True)
        dropped = d.decisions()[1].name
    path = tmp_path / "d" / "decisions" / f"{dropped}.json"
    path.write_text(edit(path.read_text("utf-8")), "utf-8")
    imported = import_folder(shared.database, tmp_path / "d")
    assert imported.decisions == 1
    (passed,) = imported.passed_over
    assert passed.startswith(f"decision file {path.name}: damaged (")
    assert why in passed


def test_import_passes_over_a_run_whose_summary_was_edited(
    tmp_path: Path, shared: SharedArchive
) -> None:
    """A run folder whose summary.json is no longer the bytes its record hashed (an editor
    saved it) is named and not imported (its bytes went in under the old hash)."""
    from gating.shared.transfer import import_folder

    with TrainingArchiveManager(tmp_path / "e") as e:
        runs = e.archive_training_runs([make_summary("e0"), make_summary("e1")])
    summary = tmp_path / "e" / runs[0].timestamp / "summary.json"
    summary.write_bytes(summary.read_bytes() + b" ")
    imported = import_folder(shared.database, tmp_path / "e")
    assert imported.runs_passed_over == (
        f"{runs[0].timestamp}: its summary.json is not the bytes its record names (edited?)",
    )
    assert [str(r["run_id"]) for r in shared.list_runs()] == ["e1"]


@pytest.mark.parametrize("kind", ["missing", "fifo"])
def test_import_names_the_run_file_that_is_missing_or_no_file(
    tmp_path: Path, shared: SharedArchive, kind: str
) -> None:
    """A run folder without its recommendations.md, or with a FIFO there, is named with
    the file and why (the hint sent to `reindex`, which reads only the record)."""
    from gating.shared.transfer import import_folder

    with TrainingArchiveManager(tmp_path / "f") as f:
        run = f.archive_training_run(make_summary("f0")).timestamp
    report = tmp_path / "f" / run / "recommendations.md"
    report.unlink()
    if kind == "fifo":
        os.mkfifo(report)
    imported = import_folder(shared.database, tmp_path / "f")
    why = "No such file or directory" if kind == "missing" else "not a regular file"
    assert imported.runs_passed_over == (f"{run}: damaged (recommendations.md: {why})",)


def test_import_refuses_a_folder_that_is_no_archive_in_one_line(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """`db import` of a folder of summaries, of an archive's parent, or of "" (the current
    folder) is one line, exit 2 or 1, nothing imported (it said "imported 0 runs", exit 0)."""
    config = write_config(tmp_path, pg_url)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a_summary.json").write_bytes(b"{}")
    with TrainingArchiveManager(tmp_path / "parent" / "archive") as archive:
        archive.archive_training_run(make_summary("p0"))
    for folder in (inbox, tmp_path / "parent"):
        done = gatewatch(config, "db", "import", str(folder))
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"gatewatch: {folder}: no run folders, decisions, catalog or index.json: not a "
            "folder archive (name the archive's folder itself)"
        )
    empty = gatewatch(config, "db", "import", "")
    assert empty.returncode == 2
    assert empty.stderr.strip() == "gatewatch: db import: name the folder archive to import"
    assert shared.list_runs() == []


def test_a_run_whose_timestamp_the_database_holds_with_other_bytes_is_not_imported(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """Two hosts' clocks gave two runs one timestamp: the second is named, not imported,
    and its decision is passed over, never put on the database's run of that timestamp
    (it was moved there, exit 0)."""
    config = write_config(tmp_path, pg_url)
    with TrainingArchiveManager(tmp_path / "a") as a:
        taken = a.archive_training_run(make_summary("a0")).timestamp
    assert gatewatch(config, "db", "import", str(tmp_path / "a")).returncode == 0
    with TrainingArchiveManager(tmp_path / "b") as b:
        mine = b.archive_training_run(make_summary("b0")).timestamp
    record = tmp_path / "b" / mine / "model_assessments.json"
    record.write_text(record.read_text("utf-8").replace(mine, taken), "utf-8")
    (tmp_path / "b" / mine).rename(tmp_path / "b" / taken)
    with TrainingArchiveManager(tmp_path / "b") as b:
        b.reindex()
        b.decide(taken, "SYM1", "drop", by="bob", reason="looked", force=True)
    done = gatewatch(config, "db", "import", str(tmp_path / "b"), "--json")
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert found["runs_passed_over"] == [
        f"{taken}: the database holds other bytes under its timestamp"
    ]
    assert found["decisions_passed_over"][0].endswith(": its run is not imported")
    assert shared.decisions() == []
    assert [r["run_id"] for r in shared.list_runs()] == ["a0"]


def test_export_after_an_interrupted_one_and_into_a_folder_decided_apart(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """A staging folder an interrupted export left is cleared by the next export (it
    failed "File exists" for ever); a folder archive whose decision has a number of the
    database's under another name is refused before anything is written (both were
    written, the same number twice); an empty folder name is refused."""
    runs = shared.archive_training_runs([make_summary(f"r{i}") for i in range(2)])
    shared.decide(runs[0].timestamp, "SYM1", "approve", by="ann", reason="ok")
    config = write_config(tmp_path, pg_url)
    target = tmp_path / "new"
    (target / f".staging-{runs[0].timestamp}").mkdir(parents=True)
    (target / f".staging-{runs[0].timestamp}" / "summary.json").write_bytes(b"{")
    done = gatewatch(config, "export", str(target))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir() if p.name[0].isdigit()) == [
        r.timestamp for r in runs
    ]
    assert not [p for p in target.iterdir() if p.name.startswith(".staging")]
    with TrainingArchiveManager(tmp_path / "apart") as apart:
        mine = apart.archive_training_run(make_summary("mine"))
        apart.decide(mine.timestamp, "SYM1", "approve", by="eve", reason="ok")  # seq 1
    refused = gatewatch(config, "export", str(tmp_path / "apart"))
    assert refused.returncode == 1
    assert "decision 1 of the database has the number of the folder's" in refused.stderr
    assert not (tmp_path / "apart" / runs[0].timestamp).exists()
    empty = gatewatch(config, "export", "")
    assert (empty.returncode, empty.stderr) == (
        2,
        "gatewatch: export: name the folder to write the archive into\n",
    )


@pytest.mark.parametrize("stamp", ["21000101T000000000000Z", "99991231T235959999999Z"])
def test_a_run_dated_after_the_databases_clock_is_not_imported(
    tmp_path: Path, pg_url: str, shared: SharedArchive, stamp: str
) -> None:
    """A folder archive holding a run dated in 2100 (a clock ahead) or at the last moment
    of 9999 is refused in one line, nothing imported (every later run of every host was
    stamped after 2100, and after 9999 none could be: each host's worker died)."""
    with TrainingArchiveManager(tmp_path / "old") as old:
        old.archive_training_runs([make_summary(f"r{i}") for i in range(2)])
        last = old.list_runs()[-1]["timestamp"]
    record = tmp_path / "old" / last / "model_assessments.json"
    record.write_text(record.read_text("utf-8").replace(last, stamp), "utf-8")
    (tmp_path / "old" / last).rename(tmp_path / "old" / stamp)
    done = gatewatch(write_config(tmp_path, pg_url), "db", "import", str(tmp_path / "old"))
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"{stamp}: the run is dated after the database's clock" in done.stderr
    assert shared.list_runs() == []
    assert shared.archive_training_run(make_summary("now")).timestamp < "21000101"


@pytest.mark.parametrize("stamp", ["zzzz-by-hand", "99991231T235959999999Z"])
def test_a_newest_run_no_run_can_follow_fails_each_archive_in_one_line(
    tmp_path: Path, pg_url: str, shared: SharedArchive, stamp: str
) -> None:
    """A run row whose timestamp is not one, or the last moment of 9999, written by hand:
    `archive` fails in one line naming it, exit 1, and nothing is added (a traceback, and
    the service's worker died on every host)."""
    shared.archive_training_run(make_summary("r"))
    columns = "run_id, source, approved, review, dropped, bounds, summary, record, report, host"
    copy = (
        f"INSERT INTO runs (timestamp, sha256, {columns}) "
        f"SELECT %s, 'by-hand-' || sha256, {columns} FROM runs"
    )
    shared.database.retrying(lambda c: c.execute(copy, (stamp,)))
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps(make_summary("next")), "utf-8")
    done = gatewatch(write_config(tmp_path, pg_url), "archive", str(summary))
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert stamp in done.stderr
    count = shared.database.retrying(lambda c: c.execute("SELECT count(*) FROM runs").fetchone())
    assert count == (2,)


def test_rejected_lists_the_databases_rejections(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """A summary rejected by any host is listed by `gatewatch rejected` with its reason."""
    shared.writer.reject(b'{"models": 1}', source="gpu2:/runs/x_summary.json",
                         reason="models: expected an object", sha256="ab")  # fmt: skip
    done = gatewatch(write_config(tmp_path, pg_url), "rejected", "--json")
    assert done.returncode == 0, done.stderr
    [entry] = json.loads(done.stdout)
    assert (entry["source"], entry["reason"], entry["sha256"]) == (
        "gpu2:/runs/x_summary.json", "models: expected an object", "ab"
    )  # fmt: skip
    assert shared.writer.rejected_keys() == {"ab"}
    too_large = "file: 9000 bytes is larger than max_file_bytes (4096)"
    for name in ("/runs/big_summary.json", "/runs/bad\udcff_summary.json"):  # not UTF-8
        shared.writer.reject(None, source=name, reason=too_large)
    shared.database.retrying(  # the same name rejected on another machine: not this one's
        lambda c: c.execute(
            "INSERT INTO rejections (sha256, source, reason, raw, rejected_at, host) "
            "VALUES (NULL, '/runs/other_summary.json', %s, NULL, '', 'gpu9:1')",
            (too_large,),
        )
    )
    unread = {
        unread_key(n, too_large) for n in ("/runs/big_summary.json", "/runs/bad\udcff_summary.json")
    }
    assert shared.writer.rejected_keys() == {"ab", *unread}
    assert shared.writer.rejected()[2].source == "/runs/bad\\udcff_summary.json"


@pytest.mark.parametrize(
    ("column", "value", "command"),
    [
        ("record", b"not json", "approved"),
        ("record", b"[]", "approved"),
        ("record", b'{"run_id": 5}', "approved"),
        ("body", "not json", "deployable"),
        ("body", "[]", "deployable"),
    ],
)
def test_a_row_written_by_hand_is_one_line_not_a_traceback(
    tmp_path: Path, pg_url: str, shared: SharedArchive, column: str, value: object, command: str
) -> None:
    """A run's record or a model's body that is not JSON, or not of our shape, written
    into the database by hand: the command that reads it says so in one line, exit 1
    (each was a JSONDecodeError, TypeError or KeyError traceback)."""
    shared.archive_training_run(make_summary("r"))
    table = "runs" if column == "record" else "models"
    shared.database.retrying(lambda c: c.execute(f"UPDATE {table} SET {column} = %s", (value,)))
    done = gatewatch(write_config(tmp_path, pg_url), command)
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the stored value cannot be read" in done.stderr


@pytest.mark.parametrize(
    ("statement", "command"),
    [
        ("UPDATE decisions SET decided_at = 'garbage'", ["decide", "{t}", "{s}", "drop"]),
        ("UPDATE decisions SET decided_at = 'garbage'", ["regate", "{other}"]),
        (
            "ALTER TABLE models DROP CONSTRAINT models_timestamp_fkey; "
            "UPDATE runs SET timestamp = 'zzzz'; UPDATE models SET timestamp = 'zzzz'",
            ["regate", "{other}"],
        ),
    ],
    ids=["decided-at-decide", "decided-at-regate", "run-regate"],
)
def test_a_decision_or_run_time_written_by_hand_is_one_line_not_a_traceback(
    tmp_path: Path, pg_url: str, shared: SharedArchive, statement: str, command: list[str]
) -> None:
    """A decision's decided_at or a run's timestamp that is no time, written into the
    database by hand: `regate` says so in one line, exit 1, and `decide` passes over it,
    exit 0 (each was a ValueError traceback: one such row stopped every later decision
    of every host)."""
    run = shared.archive_training_run(make_summary("r"))
    symbol = run.assessments[0].symbol
    shared.decide(run.timestamp, symbol, "approve", by="ana", reason="looked")
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "ALTER TABLE decisions DROP CONSTRAINT IF EXISTS decisions_symbol_timestamp_fkey"
        )
        connection.execute(statement)
    other = tmp_path / "other.toml"
    other.write_text("[gating]\napproved_min_fitness = 0.5\n", "utf-8")
    args = [a.format(t=run.timestamp, s=symbol, other=other) for a in command]
    if args[0] == "decide":
        args += ["--by", "ana", "--reason", "again", "--force"]
    done = gatewatch(write_config(tmp_path, pg_url), *args)
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    if args[0] == "decide":
        assert done.returncode == 0, done.stderr
        assert [d.verdict for d in shared.decisions(symbol)] == ["APPROVED", "DROP"]
        return
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the stored value cannot be read" in done.stderr


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize(
    "body",
    ["not json", "{}", '{"x": 1}, "evil": {"a": 1', '{"classification": "APPROVED", "fitness": 1}'],
)
def test_a_model_written_by_hand_is_never_spliced_into_a_history(
    tmp_path: Path, pg_url: str, shared: SharedArchive, body: str, as_json: bool
) -> None:
    """A model's body that is not a whole model of ours (not JSON, empty, JSON text that
    would add keys of its own, keys missing), written into the database by hand: `history`
    says so in one line, exit 1 (it printed the text inside its JSON, or a traceback)."""
    run = shared.archive_training_run(make_summary("r"))
    symbol = run.assessments[0].symbol
    shared.database.retrying(lambda c: c.execute("UPDATE models SET body = %s", (body,)))
    done = gatewatch(
        write_config(tmp_path, pg_url), "history", symbol, *(["--json"] if as_json else [])
    )
    assert done.returncode == 1, done.stdout
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"model {symbol} of run {run.timestamp}: the stored value cannot be read" in done.stderr
    assert "evil" not in done.stdout


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("runs", "bounds", "garbage{"),
        ("runs", "bounds", '{"fitness": "x"}'),
        ("models", "body", '{"classification": "REVIEW", "fitness": "x"}'),
    ],
)
def test_review_reads_past_bounds_or_values_written_by_hand(
    tmp_path: Path, pg_url: str, shared: SharedArchive, table: str, column: str, value: str
) -> None:
    """Bounds that are not JSON or not numbers, or a model's values of another type, in
    rows written by hand: `review` still lists what waits, its reasons from the run's
    record (each was a JSONDecodeError, ValueError or TypeError traceback)."""
    shared.archive_training_run(make_summary("r"))
    waiting = len(shared.pending_reviews())
    assert waiting > 0
    shared.database.retrying(lambda c: c.execute(f"UPDATE {table} SET {column} = %s", (value,)))
    done = gatewatch(write_config(tmp_path, pg_url), "review", "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    assert len(json.loads(done.stdout)) == waiting


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["runs"], "no runs archived yet in the database"),
        (["rejected"], "no rejected files in the database"),
        (["audit"], "no decisions in the database"),
        (["review"], "no models await review in the database"),
    ],
)
def test_an_empty_shared_archive_is_named_by_its_database(
    tmp_path: Path, pg_url: str, shared: SharedArchive, command: list[str], says: str
) -> None:
    """An empty shared archive is named by its database, not the local folder (which is
    not the archive in shared mode)."""
    done = gatewatch(write_config(tmp_path, pg_url), *command)
    assert done.returncode == 0, done.stderr
    database = pg_url.split("@", 1)[1]
    assert f"{says} {database}" in done.stdout + done.stderr
    assert "local" not in done.stdout + done.stderr


def test_compact_says_a_shared_archive_has_nothing_to_compact(
    tmp_path: Path, pg_url: str, shared: SharedArchive
) -> None:
    """`compact` in shared mode writes no index.json and says so (it said "compacted: 1
    runs", exit 0, having written nothing); `db import` counts in words that agree."""
    with TrainingArchiveManager(tmp_path / "old") as old:
        old.archive_training_run(make_summary("r0"))
    config = write_config(tmp_path, pg_url)
    imported = gatewatch(config, "db", "import", str(tmp_path / "old"))
    assert imported.stdout == f"imported 1 run and 0 decisions from {tmp_path / 'old'}\n"
    done = gatewatch(config, "compact")
    assert (done.returncode, done.stdout) == (
        0,
        "nothing to compact: a shared archive keeps no index.json\n",
    )
    assert json.loads(gatewatch(config, "compact", "--json").stdout) == {
        "compacted": False,
        "runs": 1,
    }
    assert not any((tmp_path / "local").glob("index.json"))
