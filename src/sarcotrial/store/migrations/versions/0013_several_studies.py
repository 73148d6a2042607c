"""Several studies in one database beside the unit's registry: each study's rows name their study
(``study_id``), a patient taken into a later study names their registry patient
(``patient.registry_patient_id``), an allocation's number is its study's own, and an account may be
delegated to some of the studies (``user_study``).

The rows already in the database are the first study's, the one the database was made with.
On SQLite a table gains a required column by being rebuilt (Alembic's batch mode); the rebuild
keeps ``AUTOINCREMENT`` and the table's highest id ever given, so ids are still never reused.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

#: the tables of one study's data (``StudyScoped`` in ``store/models.py``); crf_instance and
#: randomisation_secret named their study before
SCOPED = ('patient', 'data_export', 'screening', 'screening_criterion', 'enrolment', 'visit_occurrence',
          'data_query', 'query_message', 'signature', 'data_lock', 'plan_qa', 'protocol_deviation',
          'protocol_amendment', 'allocation', 'randomisation_check')


def _sequence(bind, table: str):
    if bind.dialect.name != 'sqlite':
        return None
    return bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}).scalar()


def _keep_sequence(bind, table: str, seq) -> None:
    if seq is None:
        return
    bind.execute(sa.text("UPDATE sqlite_sequence SET seq = max(seq, :s) WHERE name = :t"), {"s": seq, "t": table})
    if not bind.execute(sa.text("SELECT count(*) FROM sqlite_sequence WHERE name = :t"), {"t": table}).scalar():
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"), {"s": seq, "t": table})


def _remake_empty(bind, table: str) -> None:
    """An empty SQLite table dropped and made again with the study's column, its key and index (and the
    patient's link to their registry patient; the allocation's number unique per study): what the batch
    rebuild below does to a table with rows, with no rows to copy. A new database is made
    with every revision, so this is the path each new study takes."""
    sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}).scalar()
    indexes = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
                                   "AND sql IS NOT NULL"), {"t": table}).scalars().all()
    columns = ["study_id INTEGER NOT NULL"]
    constraints = [f"CONSTRAINT fk_{table}_study_id_study FOREIGN KEY(study_id) REFERENCES study (id)"]
    made = [f"CREATE INDEX ix_{table}_study_id ON {table} (study_id)"]
    if table == 'patient':
        columns.append("registry_patient_id INTEGER")
        constraints.append("CONSTRAINT fk_patient_registry_patient_id_patient FOREIGN KEY(registry_patient_id) "
                           "REFERENCES patient (id)")
        made.append("CREATE INDEX ix_patient_registry_patient_id ON patient (registry_patient_id)")
    if table == 'allocation':
        old = "CONSTRAINT uq_allocation_number UNIQUE (number)"
        if old not in sql:
            raise RuntimeError("allocation: the unique number constraint is not where revision 0010 made it")
        sql = sql.replace(old, "CONSTRAINT uq_allocation_study_id UNIQUE (study_id, number)")
    head, end = sql[:sql.rindex(")")].rstrip(), sql[sql.rindex(")"):]
    at = head.find("CONSTRAINT ")
    if at < 0:
        head = head + ", \n\t" + ", \n\t".join(columns)
    else:
        head = head[:at] + ", \n\t".join(columns) + ", \n\t" + head[at:]
    head = head + ", \n\t" + ", \n\t".join(constraints)
    bind.execute(sa.text(f"DROP TABLE {table}"))
    bind.execute(sa.text(head + "\n" + end))
    for statement in [*indexes, *made]:
        bind.execute(sa.text(statement))


def upgrade() -> None:
    bind = op.get_bind()
    first = bind.execute(sa.text("SELECT min(id) FROM study")).scalar()
    sqlite = bind.dialect.name == 'sqlite'
    for table in SCOPED:
        filled = first is not None and bind.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
        if filled:  # the rows are the first study's: the column is added, filled, then required
            with op.batch_alter_table(table) as batch_op:
                batch_op.add_column(sa.Column('study_id', sa.Integer(), nullable=True))
            bind.execute(sa.text(f"UPDATE {table} SET study_id = :s"), {"s": first})
        seq = _sequence(bind, table)
        if not filled and sqlite:  # an empty SQLite table (a new database): made anew at once
            _remake_empty(bind, table)
            _keep_sequence(bind, table, seq)
            continue
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
            if filled:
                batch_op.alter_column('study_id', existing_type=sa.Integer(), nullable=False)
            else:  # an empty table (a new database): one rebuild
                batch_op.add_column(sa.Column('study_id', sa.Integer(), nullable=False))
            batch_op.create_index(batch_op.f(f'ix_{table}_study_id'), ['study_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_study_id_study'), 'study', ['study_id'], ['id'])
            if table == 'patient':
                batch_op.add_column(sa.Column('registry_patient_id', sa.Integer(), nullable=True))
                batch_op.create_index(batch_op.f('ix_patient_registry_patient_id'), ['registry_patient_id'], unique=False)
                batch_op.create_foreign_key(batch_op.f('fk_patient_registry_patient_id_patient'), 'patient',
                                            ['registry_patient_id'], ['id'])
            if table == 'allocation':
                batch_op.drop_constraint(batch_op.f('uq_allocation_number'), type_='unique')
                batch_op.create_unique_constraint(batch_op.f('uq_allocation_study_id'), ['study_id', 'number'])
        _keep_sequence(bind, table, seq)
    op.create_index(op.f('ix_crf_instance_study_id'), 'crf_instance', ['study_id'], unique=False)
    op.create_table('user_study',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_user_study_study_id_study')),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_user_study_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_study')),
    sa.UniqueConstraint('user_id', 'study_id', name=op.f('uq_user_study_user_id')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    bind = op.get_bind()
    several = bind.execute(sa.text("SELECT count(*) FROM study")).scalar() > 1
    if several:
        raise RuntimeError("this database runs several studies; a database of one study cannot hold them")
    op.drop_table('user_study')
    op.drop_index(op.f('ix_crf_instance_study_id'), table_name='crf_instance')
    for table in reversed(SCOPED):
        seq = _sequence(bind, table)
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
            if table == 'allocation':
                batch_op.drop_constraint(batch_op.f('uq_allocation_study_id'), type_='unique')
                batch_op.create_unique_constraint(batch_op.f('uq_allocation_number'), ['number'])
            if table == 'patient':
                batch_op.drop_constraint(batch_op.f('fk_patient_registry_patient_id_patient'), type_='foreignkey')
                batch_op.drop_index(batch_op.f('ix_patient_registry_patient_id'))
                batch_op.drop_column('registry_patient_id')
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_study_id_study'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_study_id'))
            batch_op.drop_column('study_id')
        _keep_sequence(bind, table, seq)
