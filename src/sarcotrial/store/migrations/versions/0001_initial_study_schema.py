"""Initial study schema: study data, encrypted identifiers, and the append-only audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Beyond the tables, the database itself refuses UPDATE and DELETE on ``audit_entry`` (a trigger
on each dialect), so the trail is append-only even for a client that bypasses SarcoTrial.
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
)
POSTGRES_TRIGGERS = (
    "CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$",
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
)


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('actor_source', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=32), nullable=True),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('protocol_version', sa.String(length=32), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_subject_id'), ['subject_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('protocol_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('acronym', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('bound_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_version')),
    sa.UniqueConstraint('acronym', 'version', name=op.f('uq_protocol_version_acronym'))
    )
    op.create_table('site',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site')),
    sa.UniqueConstraint('code', name=op.f('uq_site_code')),
    sqlite_autoincrement=True
    )
    op.create_table('app_user',
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=64), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_app_user_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username')),
    sqlite_autoincrement=True
    )
    op.create_table('patient',
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('year_of_birth', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_patient_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient')),
    sa.UniqueConstraint('subject_id', name=op.f('uq_patient_subject_id')),
    sqlite_autoincrement=True
    )
    op.create_table('study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('acronym', sa.String(length=32), nullable=False),
    sa.Column('protocol_version_id', sa.Integer(), nullable=False),
    sa.Column('synthetic', sa.Boolean(), nullable=False),
    sa.Column('key_check', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['protocol_version_id'], ['protocol_version.id'], name=op.f('fk_study_protocol_version_id_protocol_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study'))
    )
    op.create_table('adverse_event',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('term', sa.String(length=200), nullable=False),
    sa.Column('meddra_code', sa.Integer(), nullable=True),
    sa.Column('soc', sa.String(length=200), nullable=True),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('ctcae_version', sa.String(length=8), nullable=False),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('resolution_date', sa.Date(), nullable=True),
    sa.Column('serious', sa.Boolean(), nullable=True),
    sa.Column('attribution', sa.String(length=16), nullable=True),
    sa.Column('phase', sa.String(length=8), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_adverse_event_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_event')),
    sqlite_autoincrement=True
    )
    op.create_table('diagnosis',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('diagnosis_date', sa.Date(), nullable=False),
    sa.Column('histotype', sa.String(length=64), nullable=False),
    sa.Column('icdo3', sa.String(length=8), nullable=True),
    sa.Column('anatomic_site', sa.String(length=32), nullable=False),
    sa.Column('site_detail', sa.String(length=200), nullable=True),
    sa.Column('depth', sa.String(length=16), nullable=True),
    sa.Column('size_cm', sa.Float(), nullable=False),
    sa.Column('fnclcc_differentiation', sa.Integer(), nullable=True),
    sa.Column('mitoses_per_10hpf', sa.Integer(), nullable=True),
    sa.Column('necrosis_percent', sa.Float(), nullable=True),
    sa.Column('grade', sa.String(length=2), nullable=False),
    sa.Column('t_category_given', sa.String(length=8), nullable=True),
    sa.Column('t_category', sa.String(length=8), nullable=False),
    sa.Column('n_category', sa.String(length=4), nullable=False),
    sa.Column('m_category', sa.String(length=4), nullable=False),
    sa.Column('stage', sa.String(length=8), nullable=True),
    sa.Column('ecog', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_diagnosis_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnosis')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_diagnosis_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('follow_up_visit',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=False),
    sa.Column('visit_id', sa.String(length=64), nullable=True),
    sa.Column('disease_status', sa.String(length=16), nullable=False),
    sa.Column('imaging', sa.Boolean(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_follow_up_visit_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_visit')),
    sqlite_autoincrement=True
    )
    op.create_table('form_record',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=False),
    sa.Column('visit_id', sa.String(length=64), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_form_record_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_record')),
    sqlite_autoincrement=True
    )
    op.create_table('outcome_event',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('death_cause', sa.String(length=16), nullable=True),
    sa.Column('site_detail', sa.String(length=200), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_outcome_event_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outcome_event')),
    sqlite_autoincrement=True
    )
    op.create_table('patient_identifier',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('full_name_enc', sa.Text(), nullable=False),
    sa.Column('date_of_birth_enc', sa.Text(), nullable=False),
    sa.Column('hospital_number_enc', sa.Text(), nullable=False),
    sa.Column('hospital_number_index', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_identifier_patient_id_patient'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_identifier')),
    sa.UniqueConstraint('hospital_number_index', name=op.f('uq_patient_identifier_hospital_number_index')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_patient_identifier_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('protocol_deviation',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('detected_on', sa.Date(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_protocol_deviation_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_deviation')),
    sqlite_autoincrement=True
    )
    op.create_table('referral',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('referral_date', sa.Date(), nullable=False),
    sa.Column('tumour_board_date', sa.Date(), nullable=True),
    sa.Column('referring_specialty', sa.String(length=32), nullable=True),
    sa.Column('anatomic_site', sa.String(length=32), nullable=False),
    sa.Column('suspected_histotype', sa.String(length=64), nullable=True),
    sa.Column('board_decision', sa.String(length=32), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_referral_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral')),
    sqlite_autoincrement=True
    )
    op.create_table('rt_course',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('planned_start', sa.Date(), nullable=False),
    sa.Column('planned_fractions', sa.Integer(), nullable=False),
    sa.Column('calendar', sa.String(length=8), nullable=True),
    sa.Column('concurrent_chemotherapy', sa.Boolean(), nullable=True),
    sa.Column('prescription', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_rt_course_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rt_course')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_rt_course_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('screening',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('screening_date', sa.Date(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_screening_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening')),
    sqlite_autoincrement=True
    )
    op.create_table('surgery',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('surgery_date', sa.Date(), nullable=False),
    sa.Column('procedure', sa.String(length=32), nullable=False),
    sa.Column('macroscopic_residual', sa.Boolean(), nullable=False),
    sa.Column('vascular_reconstruction', sa.Boolean(), nullable=True),
    sa.Column('nerve_resection', sa.Boolean(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_surgery_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surgery')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_surgery_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('enrolment',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=False),
    sa.Column('enrolment_date', sa.Date(), nullable=False),
    sa.Column('consent_date', sa.Date(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_enrolment_patient_id_patient')),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], name=op.f('fk_enrolment_screening_id_screening')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_enrolment_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('pathology',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('surgery_id', sa.Integer(), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('microscopic_margin_positive', sa.Boolean(), nullable=False),
    sa.Column('r_status', sa.String(length=2), nullable=False),
    sa.Column('closest_margin_mm', sa.Float(), nullable=True),
    sa.Column('closest_margin_tissue', sa.String(length=32), nullable=True),
    sa.Column('planned_positive_margin', sa.Boolean(), nullable=True),
    sa.Column('viable_percent', sa.Float(), nullable=False),
    sa.Column('response_score', sa.String(length=1), nullable=False),
    sa.Column('pcr', sa.Boolean(), nullable=False),
    sa.Column('pcr_definition', sa.Text(), nullable=False),
    sa.Column('necrosis_percent', sa.Float(), nullable=True),
    sa.Column('fibrosis_percent', sa.Float(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_pathology_patient_id_patient')),
    sa.ForeignKeyConstraint(['surgery_id'], ['surgery.id'], name=op.f('fk_pathology_surgery_id_surgery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pathology')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_pathology_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_table('rt_fraction',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('fraction_number', sa.Integer(), nullable=False),
    sa.Column('fraction_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('doses_gy', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['rt_course.id'], name=op.f('fk_rt_fraction_course_id_rt_course')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rt_fraction')),
    sqlite_autoincrement=True
    )
    op.create_table('screening_criterion',
    sa.Column('screening_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('criterion_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['screening_id'], ['screening.id'], name=op.f('fk_screening_criterion_screening_id_screening')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_criterion')),
    sqlite_autoincrement=True
    )
    op.create_table('wound_complication',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('surgery_id', sa.Integer(), nullable=False),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('secondary_operation', sa.Boolean(), nullable=False),
    sa.Column('readmission_for_wound_care', sa.Boolean(), nullable=False),
    sa.Column('invasive_procedure_without_anaesthesia', sa.Boolean(), nullable=False),
    sa.Column('deep_packing', sa.Boolean(), nullable=False),
    sa.Column('prolonged_dressing', sa.Boolean(), nullable=False),
    sa.Column('major', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_wound_complication_patient_id_patient')),
    sa.ForeignKeyConstraint(['surgery_id'], ['surgery.id'], name=op.f('fk_wound_complication_surgery_id_surgery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wound_complication')),
    sqlite_autoincrement=True
    )

    _create_append_only_triggers()

def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table('wound_complication')
    op.drop_table('screening_criterion')
    op.drop_table('rt_fraction')
    op.drop_table('pathology')
    op.drop_table('enrolment')
    op.drop_table('surgery')
    op.drop_table('screening')
    op.drop_table('rt_course')
    op.drop_table('referral')
    op.drop_table('protocol_deviation')
    op.drop_table('patient_identifier')
    op.drop_table('outcome_event')
    op.drop_table('form_record')
    op.drop_table('follow_up_visit')
    op.drop_table('diagnosis')
    op.drop_table('adverse_event')
    op.drop_table('study')
    op.drop_table('patient')
    op.drop_table('app_user')
    op.drop_table('site')
    op.drop_table('protocol_version')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_subject_id'))

    op.drop_table('audit_entry')
