"""The unit's registry beside the study: registry documents (molecular findings, family history),
risk-model files loaded with their SHA-256, and the predictions made with them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registry_document',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_registry_document_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_document')),
    sa.UniqueConstraint('patient_id', 'kind', name=op.f('uq_registry_document_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_registry_document_patient_id'), 'registry_document', ['patient_id'], unique=False)
    op.create_table('risk_model_file',
    sa.Column('model_key', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('endpoint', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_model_file')),
    sa.UniqueConstraint('model_key', 'model_version', name=op.f('uq_risk_model_file_model_key')),
    sa.UniqueConstraint('sha256', name=op.f('uq_risk_model_file_sha256')),
    sqlite_autoincrement=True
    )
    op.create_table('risk_prediction',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('model_file_id', sa.Integer(), nullable=False),
    sa.Column('predicted_on', sa.Date(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('risks', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_file_id'], ['risk_model_file.id'], name=op.f('fk_risk_prediction_model_file_id_risk_model_file')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_risk_prediction_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_prediction')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_risk_prediction_model_file_id'), 'risk_prediction', ['model_file_id'], unique=False)
    op.create_index(op.f('ix_risk_prediction_patient_id'), 'risk_prediction', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_risk_prediction_patient_id'), table_name='risk_prediction')
    op.drop_index(op.f('ix_risk_prediction_model_file_id'), table_name='risk_prediction')
    op.drop_table('risk_prediction')
    op.drop_table('risk_model_file')
    op.drop_index(op.f('ix_registry_document_patient_id'), table_name='registry_document')
    op.drop_table('registry_document')
