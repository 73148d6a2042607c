"""Plan QA verdicts stored on a patient's radiotherapy course.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('plan_qa',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('evaluated_on', sa.Date(), nullable=False),
    sa.Column('rtplan_uid', sa.String(length=128), nullable=True),
    sa.Column('rtdose_uid', sa.String(length=128), nullable=True),
    sa.Column('end_cap', sa.String(length=16), nullable=False),
    sa.Column('verdict', sa.String(length=32), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['rt_course.id'], name=op.f('fk_plan_qa_course_id_rt_course')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_plan_qa_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_qa')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('plan_qa')
