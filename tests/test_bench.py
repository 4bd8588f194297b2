import json

from django.core.management import call_command


def test_bench_import_prints_json(capsys):
    # Runs in a child process against a scratch SQLite database; the test database is untouched.
    call_command("bench", "import", "--rows", "30")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bench"] == "import" and result["rows"] == 30
    assert result["status"] == "imported" and result["created"] == 30
    assert (result["reimport_created"], result["reimport_updated"]) == (0, 0)
