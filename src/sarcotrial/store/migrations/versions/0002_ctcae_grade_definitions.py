"""CTCAE v5.0 grade definitions, filled by ``sarcotrial ctcae import`` from NCI's spreadsheet.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ctcae_grade_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=8), nullable=False),
    sa.Column('meddra_code', sa.Integer(), nullable=False),
    sa.Column('soc', sa.String(length=200), nullable=False),
    sa.Column('term', sa.String(length=200), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_by', sa.String(length=128), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ctcae_grade_definition')),
    sa.UniqueConstraint('version', 'term', 'grade', name=op.f('uq_ctcae_grade_definition_version'))
    )
    with op.batch_alter_table('ctcae_grade_definition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ctcae_grade_definition_term'), ['term'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ctcae_grade_definition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ctcae_grade_definition_term'))

    op.drop_table('ctcae_grade_definition')
