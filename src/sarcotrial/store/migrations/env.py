"""Alembic environment: runs SarcoTrial's migrations on the engine the caller passes in.

SarcoTrial calls Alembic programmatically (``sarcotrial.store.db.upgrade``); there is no
alembic.ini to keep in step with the package.
"""

from alembic import context

from sarcotrial.store.models import Base

target_metadata = Base.metadata
engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table's columns by rebuilding it (drop and rename), which its foreign-key
        # enforcement would refuse for a table other rows point at; the pragma only takes effect
        # outside a transaction, so it is set on the driver's connection before the migration's
        # transaction begins, and every key is checked before that transaction commits.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration would leave {len(broken)} broken references "
                                       f"(first: {tuple(broken[0])}); nothing was changed")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
