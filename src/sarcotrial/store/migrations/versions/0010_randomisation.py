"""Randomisation: each patient's allocation, the study's encrypted seed, and each replay by an auditor.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('allocation',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('arm', sa.String(length=64), nullable=False),
    sa.Column('strata', sa.JSON(), nullable=False),
    sa.Column('stratum', sa.Text(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('allocated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('allocated_by', sa.String(length=128), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolment.id'], name=op.f('fk_allocation_enrolment_id_enrolment')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_allocation_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation')),
    sa.UniqueConstraint('enrolment_id', name=op.f('uq_allocation_enrolment_id')),
    sa.UniqueConstraint('number', name=op.f('uq_allocation_number')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_allocation_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('randomisation_secret',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('seed_enc', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_randomisation_secret_study_id_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_randomisation_secret')),
    sa.UniqueConstraint('study_id', name=op.f('uq_randomisation_secret_study_id')),
    sqlite_autoincrement=True
    )
    op.create_table('randomisation_check',
    sa.Column('allocations', sa.Integer(), nullable=False),
    sa.Column('mismatches', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_randomisation_check')),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('randomisation_check')
    op.drop_table('randomisation_secret')
    op.drop_table('allocation')
