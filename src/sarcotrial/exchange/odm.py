"""The ``odm`` export: the study as one CDISC ODM 1.3.2 snapshot, ``study.xml``.

What the file holds (CDISC ODM 1.3.2 specification; the element order is that of its XML schema):

- ``Study``: ``GlobalVariables`` (the protocol's acronym, title and version), ``BasicDefinitions``
  (a ``MeasurementUnit`` per unit the protocol's fields use) and one ``MetaDataVersion`` rendered
  from the protocol version: a ``StudyEventDef`` per visit (``SE.<visit>``; repeating visits
  ``Repeating="Yes"``; the unscheduled visit, which also holds the event forms, ``Type="Unscheduled"``)
  with a ``FormRef`` per form collected there (``Mandatory`` for the visit's required forms); a
  ``FormDef`` per exported form (``F.<form>``; ``Repeating="Yes"`` for a repeating form, and for a
  form the data holds twice at one visit, as a patient screened again) with its one ``ItemGroupDef`` (``IG.<form>``); an
  ``ItemDef`` per field written at the export's level (``I.<form>.<field>``: data type, length,
  question, unit, range checks for min/max, code list); a ``CodeList`` per code list of the protocol
  (``CL.<codelist>``).
- ``AdminData``: a ``Location`` per site of the exported patients (``LOC.<code>``), the ``User``
  named by each audit record or signature (``USR.<username>``) and a ``SignatureDef`` per signature
  meaning (``SD.<n>``).
- ``ClinicalData``: per patient a ``SubjectData`` (subject id, ``SiteRef``), per visit occurrence a
  ``StudyEventData`` (``StudyEventRepeatKey`` the occurrence, for repeating visits), per CRF instance
  a ``FormData`` (``FormRepeatKey`` the instance, for repeating forms), its ``ItemGroupData`` and an
  ``ItemData`` per value.

Choices the standard leaves open:

- A missing-data code (``UNK``, ``ND``, ...). ODM 1.3.2 gives an ``ItemData`` either a ``Value`` or
  ``IsNull="Yes"``, nothing for why it is null, and a code written as the value would break the
  item's data type. So the item is written ``IsNull="Yes"`` with an ``Annotation`` whose ``Flag``
  holds the code: ``FlagValue`` (code list ``CL.MISSING``, the protocol's missing-data codes) and
  ``FlagType`` (code list ``CL.FLAGTYPE``, ``MISSING``). Both are ODM's own elements, so any ODM
  reader keeps the code without a vendor extension.
- Audit records: one ``AuditRecord`` per ``ItemData``, from the last audit entry of that field of that
  CRF instance (its value or its missing-data code), with the patient's site as ``LocationRef`` (the
  trail does not record where a user worked). They are written only for an account whose role reads
  the audit trail (``audit.read``). ``ReasonForChange`` is free text that may name people, like the
  fields the protocol marks ``identifying``: it is written at the identified level only.
- Signatures: a valid CRF signature (not voided by a later change) is the ``Signature`` of its
  ``FormData``, a valid casebook signature that of the ``SubjectData``.
- At the de-identified level there are no audit records, signatures or users: their date-times are
  not shifted, and would undo the shift of each patient's dates.
- The identifiers of the identified level (name, date of birth, hospital number) have no element in
  ODM 1.3.2, which knows a subject by its key alone: they are not written; the ``tables`` export has them.
- Values derived by the clinical rules (grade, stage, R status) are not ODM items: the ODM file carries
  what was collected on the forms; the ``tables`` export carries the derived values.

Written as it is read: the metadata and the administrative data first, then one ``SubjectData`` at a
time, each built as a small ElementTree, written and dropped, and the audit records are read per
batch of patients (:mod:`sarcotrial.services.exchange_audit`), so neither the file nor a registry's
audit trail is ever held in memory whole. ElementTree and hand-written start and end tags suffice for
this; odmlib, which reads and writes ODM as whole documents of Python objects, would hold the file in
memory.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO
from xml.sax.saxutils import quoteattr

from sarcotrial import __version__
from sarcotrial.domain.crf import UNSCHEDULED

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FILE_NAME = "study.xml"
#: patients whose audit records are read in one go
BATCH = 50
MISSING_CODELIST = "CL.MISSING"
FLAG_TYPE_CODELIST = "CL.FLAGTYPE"
FLAG_TYPE_MISSING = "MISSING"
DATA_TYPES = {"integer": "integer", "decimal": "float", "text": "text", "date": "date", "datetime": "datetime",
              "boolean": "boolean", "code": "text"}
LEGAL_REASON = ("Electronic signature under 21 CFR Part 11: the signer re-entered their password at signing "
                "(11.200(a)(1)), and the signature is bound to the values signed (11.70)")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --------------------------------------------------------------------------- small helpers
def clean(text: Any) -> str:
    """Text as XML 1.0 may carry it (control characters other than tab and newlines dropped)."""
    return _XML_INVALID.sub("", str(text))


def sub(parent: ET.Element, tag: str, text: Any = None, **attrs: Any) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: clean(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = clean(text)
    return element


def translated(parent: ET.Element, tag: str, text: str) -> ET.Element:
    """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>``."""
    element = sub(parent, tag)
    sub(element, "TranslatedText", text, **{XML_LANG: "en"})
    return element


def oid_part(text: str) -> str:
    """A name made safe for an OID: letters, digits, ``.``, ``_`` and ``-`` (``%`` as ``percent``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text.replace("%", "percent").replace("/", "_per_").strip()) or "_"


def unique_oids(prefix: str, names: Iterable[str]) -> dict[str, str]:
    """An OID per name, ``prefix`` + the safe name, numbered where two names would give one OID."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(set(names)):
        base = candidate = prefix + oid_part(name)
        n = 1
        while candidate in used:
            n += 1
            candidate = f"{base}.{n}"
        used.add(candidate)
        out[name] = candidate
    return out


def timestamp(moment: dt.datetime) -> str:
    """An ODM date-time: ISO 8601 with its offset (UTC where none is given)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.isoformat()


def value_text(value: Any, field_type: str) -> str:
    """A value as ODM writes it for the field's type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if field_type == "integer" and value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return str(value)


# --------------------------------------------------------------------------- the writer
class _OdmWriter:
    def __init__(self, snapshot, source, progress: Callable[[str], None] | None):
        self.snap = snapshot
        self.protocol = snapshot.protocol
        self.source = source
        self.progress = progress or (lambda _message: None)
        acronym = self.protocol.identification.acronym
        self.study_oid = f"ST.{oid_part(acronym)}"
        self.mdv_oid = f"MDV.{oid_part(acronym)}.{oid_part(self.protocol.version)}"
        self.fields = {form_id: snapshot.fields(form_id) for form_id in snapshot.forms}
        self.types = {(form_id, f.id): f.type for form_id, fields in self.fields.items() for f in fields}
        self.units = unique_oids("MU.", {f.unit for form in self.protocol.forms for f in form.fields if f.unit})
        self.visit_order = {v.id: i for i, v in enumerate(self.protocol.visits)}
        self.repeating_visits = {v.id for v in self.protocol.visits if v.repeat is not None} | {UNSCHEDULED}
        self.repeating_forms = {f.id for f in self.protocol.forms if f.repeating}
        self.with_signatures = snapshot.level != "deidentified" and source is not None
        self.with_audit = self.with_signatures and source.audit_allowed
        self.with_reasons = self.with_audit and snapshot.level == "identified"
        self.counts = {"subjects": 0, "item_data": 0, "audit_records": 0, "signatures": 0}

    # ------------------------------------------------------------------ the pre-pass over the snapshot
    def survey(self) -> None:
        """What the metadata and administrative data must define before the first subject."""
        crf_ids = self._survey_data()
        self._survey_people(crf_ids)

    def _survey_data(self) -> list[int]:
        """The visits and forms the data holds, repeated forms and visits, each item's widest value;
        returns the ids of the CRF instances."""
        self.visit_forms: dict[str, set[str]] = defaultdict(set)
        self.lengths: dict[tuple[str, str], int] = defaultdict(int)
        self.decimals: dict[tuple[str, str], int] = defaultdict(int)
        crf_ids: list[int] = []
        for patient in self.snap.patients:
            for form_id, crfs in patient.forms.items():
                for crf in crfs:
                    self.visit_forms[crf.visit_id].add(form_id)
                    crf_ids.append(crf.crf_id)
                    if crf.instance != 1:  # a form entered twice at one visit (a patient screened again)
                        self.repeating_forms.add(form_id)
                    if crf.occurrence != 1:
                        self.repeating_visits.add(crf.visit_id)
                    self._measure(form_id, crf.values)
        return crf_ids

    def _measure(self, form_id: str, values: dict[str, Any]) -> None:
        for field_id, value in values.items():
            key = (form_id, field_id)
            if value is None or key not in self.types:
                continue
            text = value_text(value, self.types[key])
            self.lengths[key] = max(self.lengths[key], len(text))
            if self.types[key] == "decimal" and "." in text:
                self.decimals[key] = max(self.decimals[key], len(text.split(".", 1)[1]))

    def _survey_people(self, crf_ids: list[int]) -> None:
        """The sites of the exported patients, the users of the audit records and signatures, the
        signatures' meanings."""
        names = self.source.sites() if self.source is not None else {}
        self.sites = {code: names.get(code, code) for code in sorted({p.site for p in self.snap.patients})}
        self.locations = unique_oids("LOC.", self.sites)
        self.signed = self.source.signatures([p.subject_id for p in self.snap.patients]) \
            if self.with_signatures else None
        signed = self.signed.all() if self.signed is not None else []
        users = self.source.actors(crf_ids) if self.with_audit else set()
        users |= {s.signer for s in signed}
        self.full_names = self.source.accounts(users) if users else {}
        for s in signed:
            self.full_names.setdefault(s.signer, s.printed_name)
        self.users = unique_oids("USR.", users)
        self.meanings = {meaning: f"SD.{i}" for i, meaning in enumerate(sorted({s.meaning for s in signed}), start=1)}

    # ------------------------------------------------------------------ metadata
    def study(self) -> ET.Element:
        p, ident = self.protocol, self.protocol.identification
        study = ET.Element("Study", OID=self.study_oid)
        glob = sub(study, "GlobalVariables")
        sub(glob, "StudyName", ident.acronym)
        sub(glob, "StudyDescription", ident.title)
        sub(glob, "ProtocolName",
            f"{ident.acronym} protocol version {ident.version} of {ident.version_date.isoformat()}")
        basic = sub(study, "BasicDefinitions")
        for unit, oid in self.units.items():
            mu = sub(basic, "MeasurementUnit", OID=oid, Name=unit)
            translated(mu, "Symbol", unit)
        mdv = sub(study, "MetaDataVersion", OID=self.mdv_oid, Name=f"{ident.acronym} {ident.version}",
                  Description=f"Rendered from the {ident.acronym} protocol file, version {ident.version}")
        protocol = sub(mdv, "Protocol")
        visits = self.visit_defs()
        for order, (visit_id, _name, _repeating, _type, _forms) in enumerate(visits, start=1):
            sub(protocol, "StudyEventRef", StudyEventOID=f"SE.{visit_id}", OrderNumber=order, Mandatory="No")
        for visit_id, name, repeating, kind, forms in visits:
            event = sub(mdv, "StudyEventDef", OID=f"SE.{visit_id}", Name=name, Repeating="Yes" if repeating else "No",
                        Type=kind)
            for order, (form_id, mandatory) in enumerate(forms, start=1):
                sub(event, "FormRef", FormOID=f"F.{form_id}", OrderNumber=order, Mandatory="Yes" if mandatory else "No")
        for form_id in self.snap.forms:
            form = p.form(form_id)
            fdef = sub(mdv, "FormDef", OID=f"F.{form_id}", Name=form.name,
                       Repeating="Yes" if form_id in self.repeating_forms else "No")
            sub(fdef, "ItemGroupRef", ItemGroupOID=f"IG.{form_id}", Mandatory="Yes")
        for form_id in self.snap.forms:
            group = sub(mdv, "ItemGroupDef", OID=f"IG.{form_id}", Name=p.form(form_id).name, Repeating="No")
            for order, f in enumerate(self.fields[form_id], start=1):
                sub(group, "ItemRef", ItemOID=f"I.{form_id}.{f.id}", OrderNumber=order,
                    Mandatory="Yes" if f.required else "No")
        for form_id in self.snap.forms:
            for f in self.fields[form_id]:
                self.item_def(mdv, form_id, f)
        for codelist_id, codes in p.codelists.items():
            self.codelist(mdv, f"CL.{codelist_id}", codelist_id, [(c.code, c.label) for c in codes])
        if p.missing_codes:
            self.codelist(mdv, MISSING_CODELIST, "Missing-data codes", [(c.code, c.label) for c in p.missing_codes])
            self.codelist(mdv, FLAG_TYPE_CODELIST, "Flag types", [(FLAG_TYPE_MISSING, "Missing-data code")])
        return study

    def visit_defs(self) -> list[tuple[str, str, bool, str, list[tuple[str, bool]]]]:
        """Each visit (the protocol's, then the unscheduled one, then any only the data holds) with the
        exported forms collected there: the protocol's, and any the data holds there too."""
        exported = set(self.snap.forms)
        out = []
        for v in self.protocol.visits:
            forms = [(f, True) for f in v.forms if f in exported]
            forms += [(f, False) for f in v.optional_forms if f in exported]
            extra = sorted(self.visit_forms.get(v.id, set()) - {f for f, _ in forms})
            out.append((v.id, v.name, v.id in self.repeating_visits, "Scheduled", forms + [(f, False) for f in extra]))
        others = sorted(set(self.visit_forms) - set(self.visit_order) - {UNSCHEDULED})
        order = {f: i for i, f in enumerate(self.snap.forms)}
        unscheduled = sorted(self.visit_forms.get(UNSCHEDULED, set()), key=order.get)
        out.append((UNSCHEDULED, "Unscheduled visits and event forms", True, "Unscheduled",
                    [(f, False) for f in unscheduled]))
        out.extend((visit_id, visit_id, True, "Unscheduled",
                    [(f, False) for f in sorted(self.visit_forms[visit_id], key=order.get)]) for visit_id in others)
        return out

    def item_def(self, mdv: ET.Element, form_id: str, f) -> None:
        key = (form_id, f.id)
        length = None
        if f.type in ("text", "code", "integer", "decimal"):
            widths = [self.lengths.get(key, 0)]
            if f.type == "code" and f.codelist in self.protocol.codelists:
                widths += [len(c.code) for c in self.protocol.codelists[f.codelist]]
            if f.type in ("integer", "decimal"):
                widths += [len(value_text(b, f.type)) for b in (f.min, f.max) if b is not None]
            length = max(1, *widths)
        item = sub(mdv, "ItemDef", OID=f"I.{form_id}.{f.id}", Name=f.id, DataType=DATA_TYPES[f.type], Length=length,
                   SignificantDigits=self.decimals.get(key) if f.type == "decimal" else None)
        if f.help:
            translated(item, "Description", f.help)
        translated(item, "Question", f.label)
        if f.unit:
            sub(item, "MeasurementUnitRef", MeasurementUnitOID=self.units[f.unit])
        for bound, comparator in ((f.min, "GE"), (f.max, "LE")):
            if bound is not None:
                check = sub(item, "RangeCheck", Comparator=comparator, SoftHard="Hard")
                sub(check, "CheckValue", value_text(bound, f.type))
                if f.unit:
                    sub(check, "MeasurementUnitRef", MeasurementUnitOID=self.units[f.unit])
        if f.type == "code" and f.codelist:
            sub(item, "CodeListRef", CodeListOID=f"CL.{f.codelist}")

    @staticmethod
    def codelist(mdv: ET.Element, oid: str, name: str, items: list[tuple[str, str]]) -> None:
        codelist = sub(mdv, "CodeList", OID=oid, Name=name, DataType="text")
        for order, (code, label) in enumerate(items, start=1):
            item = sub(codelist, "CodeListItem", CodedValue=code, OrderNumber=order)
            translated(item, "Decode", label)

    # ------------------------------------------------------------------ administrative data
    def admin(self) -> ET.Element:
        admin = ET.Element("AdminData", StudyOID=self.study_oid)
        for username, oid in sorted(self.users.items(), key=lambda kv: kv[1]):
            user = sub(admin, "User", OID=oid)
            sub(user, "LoginName", username)
            sub(user, "DisplayName", self.full_names.get(username, username))
            if username in self.full_names:
                sub(user, "FullName", self.full_names[username])
        for code, oid in self.locations.items():
            location = sub(admin, "Location", OID=oid, Name=self.sites[code], LocationType="Site")
            sub(location, "MetaDataVersionRef", StudyOID=self.study_oid, MetaDataVersionOID=self.mdv_oid,
                EffectiveDate=self.protocol.identification.version_date.isoformat())
        for meaning, oid in self.meanings.items():
            definition = sub(admin, "SignatureDef", OID=oid, Methodology="Electronic")
            sub(definition, "Meaning", meaning)
            sub(definition, "LegalReason", LEGAL_REASON)
        return admin

    # ------------------------------------------------------------------ clinical data
    def subject(self, patient, changes: dict) -> ET.Element:
        location = self.locations[patient.site]
        subject = ET.Element("SubjectData", SubjectKey=clean(patient.subject_id))
        if self.signed is not None and patient.subject_id in self.signed.casebook:
            self.signature(subject, self.signed.casebook[patient.subject_id], location)
        sub(subject, "SiteRef", LocationOID=location)
        by_visit: dict[tuple[str, int], list] = defaultdict(list)
        order = {f: i for i, f in enumerate(self.snap.forms)}
        for crfs in patient.forms.values():
            for crf in crfs:
                by_visit[(crf.visit_id, crf.occurrence)].append(crf)
        unknown = len(self.visit_order) + 1
        for (visit_id, occurrence) in sorted(by_visit, key=lambda k: (
                self.visit_order.get(k[0], unknown if k[0] == UNSCHEDULED else unknown + 1), k[0], k[1])):
            event = sub(subject, "StudyEventData", StudyEventOID=f"SE.{visit_id}",
                        StudyEventRepeatKey=occurrence if visit_id in self.repeating_visits else None)
            for crf in sorted(by_visit[(visit_id, occurrence)], key=lambda c: (order.get(c.form_id, 0), c.instance)):
                self.form_data(event, crf, changes, location)
        return subject

    def form_data(self, event: ET.Element, crf, changes: dict, location: str) -> None:
        repeat = crf.instance if crf.form_id in self.repeating_forms else None
        form = sub(event, "FormData", FormOID=f"F.{crf.form_id}", FormRepeatKey=repeat)
        if self.signed is not None and crf.crf_id in self.signed.crf:
            self.signature(form, self.signed.crf[crf.crf_id], location)
        items = [(f, crf.values.get(f.id), crf.missing.get(f.id)) for f in self.fields[crf.form_id]]
        items = [(f, value, code) for f, value, code in items if value is not None or code]
        if not items:
            return
        group = sub(form, "ItemGroupData", ItemGroupOID=f"IG.{crf.form_id}")
        for f, value, code in items:
            oid = f"I.{crf.form_id}.{f.id}"
            if value is not None:
                item = sub(group, "ItemData", ItemOID=oid, Value=value_text(value, f.type))
            else:
                item = sub(group, "ItemData", ItemOID=oid, IsNull="Yes")
            self.counts["item_data"] += 1
            change = changes.get((crf.crf_id, f.id))
            if change is not None and change.actor in self.users:
                self.audit_record(item, change, location)
            if value is None:
                annotation = sub(item, "Annotation", SeqNum=1)
                flag = sub(annotation, "Flag")
                sub(flag, "FlagValue", code, CodeListOID=MISSING_CODELIST)
                sub(flag, "FlagType", FLAG_TYPE_MISSING, CodeListOID=FLAG_TYPE_CODELIST)

    def audit_record(self, item: ET.Element, change, location: str) -> None:
        record = sub(item, "AuditRecord")
        sub(record, "UserRef", UserOID=self.users[change.actor])
        sub(record, "LocationRef", LocationOID=location)
        sub(record, "DateTimeStamp", timestamp(change.at))
        if self.with_reasons and change.reason:
            sub(record, "ReasonForChange", change.reason)
        self.counts["audit_records"] += 1

    def signature(self, parent: ET.Element, signed, location: str) -> None:
        element = sub(parent, "Signature")
        sub(element, "UserRef", UserOID=self.users[signed.signer])
        sub(element, "LocationRef", LocationOID=location)
        sub(element, "SignatureRef", SignatureOID=self.meanings[signed.meaning])
        sub(element, "DateTimeStamp", timestamp(signed.signed_at))
        self.counts["signatures"] += 1

    # ------------------------------------------------------------------ the document
    def write(self, stream: TextIO) -> dict[str, int]:
        self.survey()
        snap = self.snap
        created = timestamp(snap.exported_at)
        file_oid = f"ODM.{oid_part(self.protocol.identification.acronym)}.{snap.exported_at:%Y%m%dT%H%M%S}"
        root = {"xmlns": NS, "ODMVersion": "1.3.2", "FileType": "Snapshot", "FileOID": file_oid,
                "CreationDateTime": created, "AsOfDateTime": created, "Originator": clean(snap.exported_by),
                "SourceSystem": "SarcoTrial", "SourceSystemVersion": __version__,
                "Description": f"{self.protocol.identification.acronym} data at the {snap.level} level"}
        stream.write('<?xml version="1.0" encoding="UTF-8"?>\n<ODM ' +
                     " ".join(f"{k}={quoteattr(v)}" for k, v in root.items()) + ">\n")
        stream.write(_serialise(self.study()))
        stream.write(_serialise(self.admin()))
        stream.write(f"  <ClinicalData StudyOID={quoteattr(self.study_oid)} "
                     f"MetaDataVersionOID={quoteattr(self.mdv_oid)}>\n")
        patients = snap.patients
        for start in range(0, len(patients), BATCH):
            batch = patients[start:start + BATCH]
            changes = {}
            if self.with_audit:
                changes = self.source.last_changes([c.crf_id for p in batch for crfs in p.forms.values() for c in crfs])
            for patient in batch:
                stream.write(_serialise(self.subject(patient, changes), level=2))
                self.counts["subjects"] += 1
            self.progress(f"ODM: {min(start + BATCH, len(patients))} of {len(patients)} subjects written")
        stream.write("  </ClinicalData>\n</ODM>\n")
        return dict(self.counts)


def _serialise(element: ET.Element, level: int = 1) -> str:
    ET.indent(element, space="  ", level=level)
    return "  " * level + ET.tostring(element, encoding="unicode") + "\n"


def write_xml(snapshot, stream: TextIO, source=None, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the snapshot as ODM to ``stream``, one subject at a time; ``source`` gives the audit
    records, signatures, sites and users (none: the file has no audit part)."""
    return _OdmWriter(snapshot, source, progress).write(stream)


def write(snapshot, folder: Path, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """``study.xml`` in ``folder``; returns the counts of subjects, items, audit records and signatures."""
    source = None
    study = getattr(snapshot, "study", None)
    if study is not None:
        from sarcotrial.services.exchange_audit import audit_source

        source = audit_source(study, getattr(snapshot, "actor", None))
    with (Path(folder) / FILE_NAME).open("w", encoding="utf-8", newline="\n") as stream:
        return write_xml(snapshot, stream, source, progress)
