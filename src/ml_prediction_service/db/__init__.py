"""Database access: embedded server, pool, migrations, queries grouped by table."""
