"""Who read which patient's direct identifiers, when, and why.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identifier_access',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_identifier_access_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identifier_access')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('identifier_access')
