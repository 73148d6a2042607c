"""Indexes for the pages' reads: a record's audit entries (by record id and table; the record id
first, so that a read of a whole table's entries keeps the trail's order), and a patient's
screenings, protocol deviations and plan QA records.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_entry_record_id_table_name', 'audit_entry', ['record_id', 'table_name'], unique=False)
    op.create_index(op.f('ix_screening_patient_id'), 'screening', ['patient_id'], unique=False)
    op.create_index(op.f('ix_protocol_deviation_patient_id'), 'protocol_deviation', ['patient_id'], unique=False)
    op.create_index(op.f('ix_plan_qa_patient_id'), 'plan_qa', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_plan_qa_patient_id'), table_name='plan_qa')
    op.drop_index(op.f('ix_protocol_deviation_patient_id'), table_name='protocol_deviation')
    op.drop_index(op.f('ix_screening_patient_id'), table_name='screening')
    op.drop_index('ix_audit_entry_record_id_table_name', table_name='audit_entry')
