"""Alembic migrations, run in-process by `livevault.db.session.upgrade` (no alembic.ini needed)."""
