"""Every export of study data: format, level, forms, patients and the manifest's checksum.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_export',
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('forms', sa.Text(), nullable=False),
    sa.Column('patient_count', sa.Integer(), nullable=False),
    sa.Column('patients', sa.Text(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_export')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('data_export')
