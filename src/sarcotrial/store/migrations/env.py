"""Alembic environment: runs SarcoTrial's migrations on the engine the caller passes in.

SarcoTrial calls Alembic programmatically (``sarcotrial.store.db.upgrade``); there is no
alembic.ini to keep in step with the package.
"""

from alembic import context

from sarcotrial.store.models import Base

target_metadata = Base.metadata
engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
