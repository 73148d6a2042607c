"""The tumour board: meetings, attendance, cases, decisions and their signatures; second opinions and
their documents (kept in the database, with their SHA-256 and size).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('board_meeting',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('meeting_date', sa.Date(), nullable=False),
    sa.Column('quorum_rule', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_board_meeting_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_meeting')),
    sqlite_autoincrement=True
    )
    op.create_table('board_attendee',
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('discipline', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['board_meeting.id'], name=op.f('fk_board_attendee_meeting_id_board_meeting')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_attendee')),
    sa.UniqueConstraint('meeting_id', 'name', name=op.f('uq_board_attendee_meeting_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_board_attendee_meeting_id'), 'board_attendee', ['meeting_id'], unique=False)
    op.create_table('board_case',
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('imaging_summary', sa.Text(), nullable=True),
    sa.Column('pathology_summary', sa.Text(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['board_meeting.id'], name=op.f('fk_board_case_meeting_id_board_meeting')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_board_case_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_case')),
    sa.UniqueConstraint('meeting_id', 'patient_id', name=op.f('uq_board_case_meeting_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_board_case_meeting_id'), 'board_case', ['meeting_id'], unique=False)
    op.create_index(op.f('ix_board_case_patient_id'), 'board_case', ['patient_id'], unique=False)
    op.create_table('second_opinion',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('referring_centre', sa.String(length=200), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('review', sa.Text(), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('revised_histotype', sa.String(length=64), nullable=True),
    sa.Column('revised_grade', sa.Integer(), nullable=True),
    sa.Column('report_date', sa.Date(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_second_opinion_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_second_opinion')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_second_opinion_patient_id'), 'second_opinion', ['patient_id'], unique=False)
    op.create_table('second_opinion_document',
    sa.Column('second_opinion_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_second_opinion_document_patient_id_patient')),
    sa.ForeignKeyConstraint(['second_opinion_id'], ['second_opinion.id'], name=op.f('fk_second_opinion_document_second_opinion_id_second_opinion')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_second_opinion_document')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_second_opinion_document_patient_id'), 'second_opinion_document', ['patient_id'], unique=False)
    op.create_index(op.f('ix_second_opinion_document_second_opinion_id'), 'second_opinion_document', ['second_opinion_id'], unique=False)
    op.create_table('board_decision',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('responsible_physician', sa.String(length=200), nullable=False),
    sa.Column('screen_for_study', sa.Boolean(), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['board_case.id'], name=op.f('fk_board_decision_case_id_board_case')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_board_decision_patient_id_patient')),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], name=op.f('fk_board_decision_screening_id_screening')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_decision')),
    sa.UniqueConstraint('case_id', name=op.f('uq_board_decision_case_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_board_decision_patient_id'), 'board_decision', ['patient_id'], unique=False)
    op.create_table('board_signature',
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('signer', sa.String(length=128), nullable=False),
    sa.Column('printed_name', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.Text(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('values_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_reason', sa.Text(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['board_decision.id'], name=op.f('fk_board_signature_decision_id_board_decision')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_board_signature_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_board_signature')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_board_signature_decision_id'), 'board_signature', ['decision_id'], unique=False)
    op.create_index(op.f('ix_board_signature_patient_id'), 'board_signature', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_board_signature_patient_id'), table_name='board_signature')
    op.drop_index(op.f('ix_board_signature_decision_id'), table_name='board_signature')
    op.drop_table('board_signature')
    op.drop_index(op.f('ix_board_decision_patient_id'), table_name='board_decision')
    op.drop_table('board_decision')
    op.drop_index(op.f('ix_second_opinion_document_second_opinion_id'), table_name='second_opinion_document')
    op.drop_index(op.f('ix_second_opinion_document_patient_id'), table_name='second_opinion_document')
    op.drop_table('second_opinion_document')
    op.drop_index(op.f('ix_second_opinion_patient_id'), table_name='second_opinion')
    op.drop_table('second_opinion')
    op.drop_index(op.f('ix_board_case_patient_id'), table_name='board_case')
    op.drop_index(op.f('ix_board_case_meeting_id'), table_name='board_case')
    op.drop_table('board_case')
    op.drop_index(op.f('ix_board_attendee_meeting_id'), table_name='board_attendee')
    op.drop_table('board_attendee')
    op.drop_table('board_meeting')
