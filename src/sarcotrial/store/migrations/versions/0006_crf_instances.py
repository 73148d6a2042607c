"""Collected data as CRF instances: one shape for every form, with queries, signatures and locks.

Every form's values move from their own tables (referral, diagnosis, rt_course, rt_fraction,
surgery, pathology, adverse_event, wound_complication, follow_up_visit, outcome_event,
form_record) into ``crf_instance`` rows (patient x visit occurrence x form x repeat instance),
keyed by the protocol's own field ids; derived values (FNCLCC grade, AJCC stage, R status, ...) go
to the instance's ``derived`` values under the same names the services now write. A screening
decision points at the CRF instance of the answers it judged; a plan-QA verdict at the
radiotherapy course's instance. New tables: ``visit_occurrence``, ``data_query`` and
``query_message``, ``signature``, ``data_lock``, ``protocol_amendment``.

The move is recorded in the audit trail (deleted from the old row, created in the new one, with
the reason below), so ``audit verify`` still replays the trail against the data. Values are moved,
never recomputed. After the migration, ``sarcotrial upgrade`` plans every patient's visits.

Downgrade is possible only while no form data exists (it would lose data otherwise).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import datetime as dt
import json

import sqlalchemy as sa
import yaml
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTOR = "sarcotrial upgrade"
SOURCE = "migration 0006"
REASON = "schema 0006: form data moved into CRF instances (values unchanged)"

#: old table -> (form id, {form field: old column}, {derived key: old column})
MOVES = {
    "referral": ("referral", {k: k for k in ("referral_date", "tumour_board_date", "referring_specialty", "anatomic_site",
                                             "suspected_histotype", "board_decision")}, {}),
    "diagnosis": ("diagnosis", {"diagnosis_date": "diagnosis_date", "histotype": "histotype",
                                "anatomic_site": "anatomic_site", "site_detail": "site_detail", "depth": "depth",
                                "size_cm": "size_cm", "fnclcc_differentiation": "fnclcc_differentiation",
                                "mitoses_per_10hpf": "mitoses_per_10hpf", "necrosis_percent": "necrosis_percent",
                                "clinical_n": "n_category", "clinical_m": "m_category", "t_category": "t_category_given",
                                "ecog": "ecog"},
                  {"icdo3": "icdo3", "fnclcc_score_differentiation": "fnclcc_differentiation", "grade": "grade",
                   "ajcc_t": "t_category", "ajcc_n": "n_category", "ajcc_m": "m_category", "stage": "stage"}),
    "rt_course": ("rt_course", {k: k for k in ("planned_start", "calendar", "concurrent_chemotherapy")},
                  {"planned_fractions": "planned_fractions", "prescription_gy": "prescription"}),
    "rt_fraction": ("rt_fraction", {k: k for k in ("fraction_number", "fraction_date", "status", "reason")},
                    {"doses_gy": "doses_gy"}),
    "surgery": ("surgery", {k: k for k in ("surgery_date", "procedure", "macroscopic_residual", "vascular_reconstruction",
                                           "nerve_resection")}, {}),
    "pathology": ("pathology", {k: k for k in ("report_date", "microscopic_margin_positive", "closest_margin_mm",
                                               "closest_margin_tissue", "planned_positive_margin", "viable_percent",
                                               "necrosis_percent", "fibrosis_percent")},
                  {k: k for k in ("r_status", "response_score", "pcr", "pcr_definition")}),
    "adverse_event": ("adverse_event", {k: k for k in ("term", "grade", "onset_date", "resolution_date", "serious",
                                                       "attribution")},
                      {k: k for k in ("meddra_code", "soc", "ctcae_version", "phase")}),
    "wound_complication": ("wound_complication", {k: k for k in ("onset_date", "secondary_operation",
                                                                 "readmission_for_wound_care",
                                                                 "invasive_procedure_without_anaesthesia", "deep_packing",
                                                                 "prolonged_dressing")}, {"major": "major"}),
    "follow_up_visit": ("follow_up", {k: k for k in ("visit_date", "disease_status", "imaging")}, {}),
    "outcome_event": ("outcome_event", {k: k for k in ("event_type", "event_date", "death_cause", "site_detail")}, {}),
}
OLD_TABLES = ("rt_fraction", "pathology", "wound_complication", "referral", "diagnosis", "rt_course", "surgery",
              "adverse_event", "follow_up_visit", "outcome_event", "form_record")
BOOKKEEPING = ("id", "created_at", "protocol_version")


def _audit_columns():
    return [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('protocol_version', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('visit_occurrence',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.String(length=64), nullable=False),
    sa.Column('occurrence', sa.Integer(), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_visit_occurrence_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_occurrence')),
    sa.UniqueConstraint('patient_id', 'visit_id', 'occurrence', name=op.f('uq_visit_occurrence_patient_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_visit_occurrence_patient_id'), 'visit_occurrence', ['patient_id'], unique=False)
    op.create_table('crf_instance',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_occurrence_id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.String(length=64), nullable=False),
    sa.Column('instance', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('not_done_reason', sa.Text(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('derived', sa.JSON(), nullable=False),
    sa.Column('missing', sa.JSON(), nullable=False),
    sa.Column('verified', sa.JSON(), nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_crf_instance_patient_id_patient')),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_crf_instance_study_id_study')),
    sa.ForeignKeyConstraint(['visit_occurrence_id'], ['visit_occurrence.id'],
                            name=op.f('fk_crf_instance_visit_occurrence_id_visit_occurrence')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crf_instance')),
    sa.UniqueConstraint('visit_occurrence_id', 'form_id', 'instance', name=op.f('uq_crf_instance_visit_occurrence_id')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_crf_instance_form_id'), 'crf_instance', ['form_id'], unique=False)
    op.create_index(op.f('ix_crf_instance_patient_id'), 'crf_instance', ['patient_id'], unique=False)
    op.create_index(op.f('ix_crf_instance_visit_occurrence_id'), 'crf_instance', ['visit_occurrence_id'], unique=False)
    op.create_table('data_query',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('crf_instance_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('origin', sa.String(length=80), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('opened_by', sa.String(length=128), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assigned_to', sa.String(length=128), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['crf_instance_id'], ['crf_instance.id'], name=op.f('fk_data_query_crf_instance_id_crf_instance')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_data_query_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_query')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_data_query_crf_instance_id'), 'data_query', ['crf_instance_id'], unique=False)
    op.create_index(op.f('ix_data_query_patient_id'), 'data_query', ['patient_id'], unique=False)
    op.create_table('query_message',
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('author', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['query_id'], ['data_query.id'], name=op.f('fk_query_message_query_id_data_query')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_query_message')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_query_message_query_id'), 'query_message', ['query_id'], unique=False)
    op.create_table('signature',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('crf_instance_id', sa.Integer(), nullable=True),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('signer', sa.String(length=128), nullable=False),
    sa.Column('printed_name', sa.String(length=200), nullable=False),
    sa.Column('meaning', sa.Text(), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('values_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_reason', sa.Text(), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['crf_instance_id'], ['crf_instance.id'], name=op.f('fk_signature_crf_instance_id_crf_instance')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_signature_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_signature_crf_instance_id'), 'signature', ['crf_instance_id'], unique=False)
    op.create_index(op.f('ix_signature_patient_id'), 'signature', ['patient_id'], unique=False)
    op.create_table('data_lock',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('crf_instance_id', sa.Integer(), nullable=True),
    sa.Column('locked_by', sa.String(length=128), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('unlocked_by', sa.String(length=128), nullable=True),
    sa.Column('unlocked_at', sa.DateTime(timezone=True), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['crf_instance_id'], ['crf_instance.id'], name=op.f('fk_data_lock_crf_instance_id_crf_instance')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_data_lock_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_lock')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_data_lock_crf_instance_id'), 'data_lock', ['crf_instance_id'], unique=False)
    op.create_index(op.f('ix_data_lock_patient_id'), 'data_lock', ['patient_id'], unique=False)
    op.create_table('protocol_amendment',
    sa.Column('from_version', sa.String(length=32), nullable=False),
    sa.Column('to_version', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    *_audit_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_amendment')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('screening') as batch_op:
        batch_op.add_column(sa.Column('crf_instance_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('plan_qa') as batch_op:
        batch_op.add_column(sa.Column('crf_instance_id', sa.Integer(), nullable=True))

    _move_data(op.get_bind())

    with op.batch_alter_table('screening', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('crf_instance_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_screening_crf_instance_id_crf_instance'), 'crf_instance',
                                    ['crf_instance_id'], ['id'])
        batch_op.drop_column('data')
    with op.batch_alter_table('plan_qa', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('crf_instance_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_plan_qa_crf_instance_id_crf_instance'), 'crf_instance',
                                    ['crf_instance_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('fk_plan_qa_course_id_rt_course'), type_='foreignkey')
        batch_op.drop_column('course_id')
    for table in OLD_TABLES:
        op.drop_table(table)


# --------------------------------------------------------------------------- moving the data
def _text(value):
    from sarcotrial.store.audit import audit_value

    return audit_value(value)


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _move_data(connection) -> None:
    from sarcotrial.store.audit import append_entries

    meta = sa.MetaData()
    meta.reflect(connection)
    if "study" not in meta.tables:
        return
    study = connection.execute(sa.select(meta.tables["study"])).first()
    if study is None:
        return
    protocol_text = connection.execute(sa.select(meta.tables["protocol_version"].c.text).where(
        meta.tables["protocol_version"].c.id == study.protocol_version_id)).scalar_one()
    protocol = yaml.safe_load(protocol_text)
    required = {f["id"]: [x["id"] for x in f["fields"] if x.get("required")] for f in protocol["forms"]}
    homes = {}
    for visit in protocol.get("visits", []):
        for form_id in visit.get("forms", []):
            homes.setdefault(form_id, []).append(visit)
    subjects = {row[0]: row[1] for row in connection.execute(
        sa.select(meta.tables["patient"].c.id, meta.tables["patient"].c.subject_id))}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    entries = []
    occurrences: dict[tuple[int, str, int], int] = {}
    instances: dict[tuple[int, str], int] = {}
    occ_table, crf_table = meta.tables["visit_occurrence"], meta.tables["crf_instance"]

    def entry(action, table, record_id, subject, field, old, new, version):
        entries.append({"at": now, "actor": ACTOR, "actor_source": SOURCE, "action": action, "table_name": table,
                        "record_id": record_id, "subject_id": subject, "field": field, "old_value": old,
                        "new_value": new, "reason": REASON, "protocol_version": version})

    def occurrence(patient_id, visit_id, version, created_at):
        key = (patient_id, visit_id, 1)
        if key not in occurrences:
            values = {"patient_id": patient_id, "visit_id": visit_id, "occurrence": 1,
                      "protocol_version": version, "created_at": created_at}
            new_id = connection.execute(occ_table.insert().returning(occ_table.c.id), values).scalar_one()
            occurrences[key] = new_id
            for name in ("patient_id", "visit_id", "occurrence"):
                entry("create", "visit_occurrence", new_id, subjects[patient_id], name, None, _text(values[name]), version)
        return occurrences[key]

    def home(form_id):
        visits = homes.get(form_id, [])
        if len(visits) == 1 and not visits[0].get("repeat"):
            return visits[0]["id"]
        return "unscheduled"

    def make_crf(patient_id, form_id, data, derived, version, created_at, visit_id=None):
        occ_id = occurrence(patient_id, visit_id or home(form_id), version, created_at)
        number = instances.get((occ_id, form_id), 0) + 1
        instances[(occ_id, form_id)] = number
        data = {k: _jsonable(v) for k, v in data.items() if v is not None}
        derived = {k: _jsonable(v) for k, v in derived.items()}
        status = "complete" if all(data.get(f) is not None for f in required.get(form_id, [])) else "incomplete"
        values = {"study_id": study.id, "patient_id": patient_id, "visit_occurrence_id": occ_id, "form_id": form_id,
                  "instance": number, "status": status, "revision": 1, "data": data,
                  "derived": derived, "missing": {}, "verified": {}, "protocol_version": version,
                  "created_at": created_at}
        new_id = connection.execute(crf_table.insert().returning(crf_table.c.id), values).scalar_one()
        subject = subjects[patient_id]
        for name in ("study_id", "patient_id", "visit_occurrence_id", "form_id", "instance", "status", "revision"):
            entry("create", "crf_instance", new_id, subject, name, None, _text(values[name]), version)
        for part in ("data", "derived"):
            for key in sorted(values[part]):
                if values[part][key] is not None:
                    entry("create", "crf_instance", new_id, subject, f"{part}.{key}", None, _text(values[part][key]), version)
        return new_id

    def retire(table, row, subject):
        for name, value in row._mapping.items():
            if name in BOOKKEEPING or value is None:
                continue
            entry("delete", table, row.id, subject, name, _text(value), None, row.protocol_version)

    course_crf: dict[int, int] = {}
    for table, (form_id, fields, derived_columns) in MOVES.items():
        if table not in meta.tables:
            continue
        old = meta.tables[table]
        for row in connection.execute(sa.select(old).order_by(old.c.id)):
            m = row._mapping
            patient_id = m.get("patient_id")
            if table == "rt_fraction":
                patient_id = connection.execute(sa.select(meta.tables["rt_course"].c.patient_id).where(
                    meta.tables["rt_course"].c.id == m["course_id"])).scalar_one()
            data = {field: m[column] for field, column in fields.items()}
            derived = {key: m[column] for key, column in derived_columns.items()}
            new_id = make_crf(patient_id, form_id, data, derived, m["protocol_version"], m["created_at"])
            if table == "rt_course":
                course_crf[row.id] = new_id
            retire(table, row, subjects[patient_id])
    if "form_record" in meta.tables:
        old = meta.tables["form_record"]
        for row in connection.execute(sa.select(old).order_by(old.c.id)):
            m = row._mapping
            data = m["data"] if isinstance(m["data"], dict) else json.loads(m["data"])
            make_crf(m["patient_id"], m["form_id"], data, {}, m["protocol_version"], m["created_at"])
            retire("form_record", row, subjects[m["patient_id"]])
    screening = meta.tables["screening"]
    screening_visit = next((v["id"] for v in protocol.get("visits", [])
                            if protocol["eligibility"]["form"] in v.get("forms", [])), "unscheduled")
    for row in connection.execute(sa.select(screening).order_by(screening.c.screening_date, screening.c.id)):
        m = row._mapping
        data = m["data"] if isinstance(m["data"], dict) else json.loads(m["data"])
        new_id = make_crf(m["patient_id"], protocol["eligibility"]["form"], data, {}, m["protocol_version"],
                          m["created_at"], visit_id=screening_visit)
        connection.execute(screening.update().where(screening.c.id == row.id).values(crf_instance_id=new_id))
        subject = subjects[m["patient_id"]]
        entry("update", "screening", row.id, subject, "crf_instance_id", None, _text(new_id), m["protocol_version"])
        entry("update", "screening", row.id, subject, "data", _text(data), None, m["protocol_version"])
    plan_qa = meta.tables["plan_qa"]
    for row in connection.execute(sa.select(plan_qa).order_by(plan_qa.c.id)):
        m = row._mapping
        new_id = course_crf[m["course_id"]]
        connection.execute(plan_qa.update().where(plan_qa.c.id == row.id).values(crf_instance_id=new_id))
        subject = subjects[m["patient_id"]]
        entry("update", "plan_qa", row.id, subject, "crf_instance_id", None, _text(new_id), m["protocol_version"])
        entry("update", "plan_qa", row.id, subject, "course_id", _text(m["course_id"]), None, m["protocol_version"])
    append_entries(connection, entries)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT COUNT(*) FROM crf_instance")).scalar_one():
        raise RuntimeError("downgrading below schema 0006 would lose the study's form data; restore a backup instead")
    for table in ("protocol_amendment", "data_lock", "signature", "query_message", "data_query"):
        op.drop_table(table)
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
    with op.batch_alter_table('plan_qa', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('course_id', sa.Integer(), nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_plan_qa_course_id_rt_course'), 'rt_course', ['course_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('fk_plan_qa_crf_instance_id_crf_instance'), type_='foreignkey')
        batch_op.drop_column('crf_instance_id')
    with op.batch_alter_table('screening', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('data', sa.JSON(), nullable=False))
        batch_op.drop_constraint(batch_op.f('fk_screening_crf_instance_id_crf_instance'), type_='foreignkey')
        batch_op.drop_column('crf_instance_id')
    op.drop_table('crf_instance')
    op.drop_table('visit_occurrence')
