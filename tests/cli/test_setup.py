"""init, create-tables (with the upgrade of old tables) and serializer."""

from __future__ import annotations

import os

import pytest
from playhouse.db_url import connect

import etlify
from etlify.state import CrmSynchronisation

from ..conftest import wipe
from .conftest import run

OLD_TABLE = """
CREATE TABLE crm_synchronisations (
    id {pk},
    crm_name VARCHAR(255) NOT NULL,
    resource_type VARCHAR(255) NOT NULL,
    resource_id BIGINT NOT NULL,
    crm_id VARCHAR(255),
    last_digest VARCHAR(255),
    last_synced_at TIMESTAMP NULL,
    last_error VARCHAR(255),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
)
"""
PRIMARY_KEYS = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgres": "BIGSERIAL PRIMARY KEY",
    "mysql": "BIGINT AUTO_INCREMENT PRIMARY KEY",
}
NEW_COLUMNS = [
    "crm_object_type",
    "crm_key",
    "dependency_signature",
    "last_error_kind",
    "error_count",
    "claim_token",
    "claimed_until",
]


def test_init_writes_a_module_that_imports_and_creates_tables(tmp_path):
    result = run(tmp_path, "init", app=None)

    assert result.returncode == 0, result.stderr
    assert "etlify_app.py" in result.stdout
    created = run(tmp_path, "create-tables", app="etlify_app")
    assert created.returncode == 0, created.stderr
    assert "crm_synchronisations: created" in created.stdout
    status = run(tmp_path, "status", app="etlify_app")
    assert status.returncode == 0, status.stderr
    assert "Contact" in status.stdout


def test_init_refuses_to_overwrite(tmp_path):
    (tmp_path / "etlify_app.py").write_text("# mine\n")

    result = run(tmp_path, "init", app=None)

    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert (tmp_path / "etlify_app.py").read_text() == "# mine\n"


def old_database(backend, tmp_path):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    variable = {"postgres": "ETLIFY_TEST_POSTGRES", "mysql": "ETLIFY_TEST_MYSQL"}[backend]
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} is not set")
    return url


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def old_table(request, project):
    """The app's database holding a crm_synchronisations table of the Ruby gem, with a row."""
    url = old_database(request.param, project)
    db = connect(url)
    if request.param == "sqlite":
        for table in ("crm_synchronisations", "etlify_pending_syncs", "person"):
            db.execute_sql(f"DROP TABLE IF EXISTS {table}")
    else:
        wipe(db)  # whatever earlier tests left, and whatever refers to it
    db.execute_sql(OLD_TABLE.format(pk=PRIMARY_KEYS[request.param]))
    db.execute_sql(
        "CREATE UNIQUE INDEX index_crm_synchronisations_on_resource "
        "ON crm_synchronisations (crm_name, resource_type, resource_id)"
    )
    db.execute_sql(
        "INSERT INTO crm_synchronisations (crm_name, resource_type, resource_id, crm_id, "
        "created_at, updated_at) VALUES ('hubspot', 'Person', 7, '101', "
        "'2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )
    yield db, url
    if request.param == "sqlite":
        for table in ("crm_synchronisations", "etlify_pending_syncs", "person"):
            db.execute_sql(f"DROP TABLE IF EXISTS {table}")
    else:
        wipe(db)
    db.close()


def test_create_tables_upgrades_an_old_table_in_place(project, old_table):
    db, url = old_table

    result = run(project, "create-tables", env={"APP_DATABASE": url})

    assert result.returncode == 0, result.stderr
    for column in NEW_COLUMNS:
        assert f"crm_synchronisations: added column {column}" in result.stdout
    assert "etlify_pending_syncs: created" in result.stdout
    columns = {column.name for column in db.get_columns("crm_synchronisations")}
    assert set(NEW_COLUMNS) <= columns
    indexes = {tuple(index.columns) for index in db.get_indexes("crm_synchronisations")}
    assert ("crm_name", "crm_object_type", "crm_id") in indexes
    assert ("crm_name", "crm_object_type", "crm_key") in indexes
    assert ("crm_name", "resource_type", "error_count") in indexes


def test_create_tables_keeps_old_rows_and_fits_string_keys(project, old_table):
    db, url = old_table

    run(project, "create-tables", env={"APP_DATABASE": url})

    etlify.configure(database=db)
    old = CrmSynchronisation.get(CrmSynchronisation.resource_id == "7")
    assert (old.crm_id, old.error_count) == ("101", 0)
    CrmSynchronisation.create(
        crm_name="hubspot", resource_type="Person", resource_id="0b9c6a4e-uuid-key"
    )
    assert CrmSynchronisation.select().count() == 2


def test_create_tables_twice_changes_nothing(project):
    run(project, "create-tables")

    result = run(project, "create-tables")

    assert result.returncode == 0
    assert result.stdout == "sync-state tables already up to date\n"


def test_serializer_writes_a_skeleton_from_the_fields(project):
    result = run(project, "serializer", "Person")

    assert result.returncode == 0, result.stderr
    source = (project / "person_serializer.py").read_text()
    assert "class PersonSerializer(BaseSerializer):" in source
    for field in ("email", "name"):
        assert f'"{field}": record.{field},' in source
    namespace: dict = {}
    exec(compile(source, "person_serializer.py", "exec"), namespace)


def test_serializer_leaves_timestamps_out_of_the_payload(project):
    run(project, "serializer", "Person")

    assert "updated_at" not in (project / "person_serializer.py").read_text()


def test_serializer_writes_to_output(project):
    result = run(project, "serializer", "Person", "--output", "serializers.py")

    assert result.returncode == 0, result.stderr
    assert (project / "serializers.py").exists()


def test_serializer_refuses_to_overwrite(project):
    (project / "person_serializer.py").write_text("# mine\n")

    result = run(project, "serializer", "Person")

    assert result.returncode == 2
    assert result.stderr.strip().endswith("already exists; not overwriting it")
    assert (project / "person_serializer.py").read_text() == "# mine\n"


def test_serializer_of_an_unknown_model_is_bad_use(project):
    result = run(project, "serializer", "Nobody")

    assert result.returncode == 2
    assert "no model named 'Nobody'" in result.stderr
