"""Importing a folder of DICOM-RT plans: find each plan's files, match it to a study patient, judge and store it.

``sarcotrial import dicom-rt DIR`` walks here. The steps, each a function of its own:

1. **Discovery** (:func:`discover`). Every file under the folder, at any depth and with any name
   or extension, is opened for its header only (pydicom ``dcmread`` with ``stop_before_pixels``,
   ``specific_tags`` and ``force``, so a data set written without the 128-byte preamble is read
   too, as :mod:`sarcotrial.radiotherapy.dicomrt.files` reads it). A file is an RT object when its
   SOP Class UID is that of an RT Structure Set, RT Dose or RT (Ion) Plan, or, lacking one, its
   Modality is RTSTRUCT, RTDOSE or RTPLAN. Anything else is skipped with its reason: not DICOM
   (neither a SOP Class UID nor a Modality), DICOM of another kind (a CT image, a DICOMDIR), empty,
   unreadable, or a second copy of an object already found (same SOP Instance UID).
2. **Grouping** (:func:`group`). A plan is one RT Dose with the RT Plan it was computed for and the
   RT Structure Set that plan was made on, found by their references (PS3.3 C.8.8.3 and C.8.8.9):
   RTDOSE -> ReferencedRTPlanSequence -> RTPLAN -> ReferencedStructureSetSequence -> RTSTRUCT (an
   RTDOSE's own ReferencedStructureSetSequence serves when there is no plan). Where a reference is
   *absent*, the object of that kind with the same Frame of Reference UID and PatientID is taken
   when there is exactly one, and a note says so. Where a reference names an object *not in the
   folder*, nothing else is substituted (another object is not the one referred to): a missing
   RTPLAN leaves the plan judged without its prescription check (a note says so); a missing
   RTSTRUCT fails the plan. Files of one plan must carry the same PatientID. An RTPLAN no dose
   refers to fails (there is nothing to judge); an RTSTRUCT nothing refers to is only listed. When a
   plan has a dose summed over the whole plan (DoseSummationType PLAN), its per-beam or
   per-fraction doses are listed, not judged.
3. **Matching** (:func:`match`). A plan belongs to the study patient whose hospital number equals
   its DICOM PatientID (looked up through the encrypted index,
   :func:`sarcotrial.services.pathway.find_by_hospital_number`), unless a mapping file names its
   subject. The mapping file is CSV or YAML (by its extension: ``.csv``; ``.yaml`` or ``.yml``),
   UTF-8, in a simple form (PatientID -> subject id) or a full one (PatientID and/or
   StudyInstanceUID -> subject id). Subject ids may be written in any case.

   CSV, simple: a header row ``patient_id,subject_id``, then one row per DICOM PatientID
   (0010,0020)::

       patient_id,subject_id
       123456,SPR-005

   CSV, full: a header row naming ``subject_id`` and at least one of ``patient_id`` and
   ``study_instance_uid`` (StudyInstanceUID (0020,000D)); a cell left empty is not a key::

       patient_id,study_instance_uid,subject_id
       RT-4411,,SPR-001
       ,1.2.826.0.1.3680043.2.1143.77,SPR-002

   YAML, simple: one line per PatientID, ``PatientID: subject id``::

       123456: SPR-005
       RT-4411: SPR-001

   YAML, full: either or both of the keys ``patient_id`` and ``study_instance_uid``, each mapping
   its identifiers to subject ids::

       patient_id:
         RT-4411: SPR-001
       study_instance_uid:
         1.2.826.0.1.3680043.2.1143.77: SPR-002

   YAML scalars are read as written (PyYAML's ``BaseLoader``: no type resolution), so a PatientID
   ``007`` stays ``007`` rather than becoming the number 7; quotes are needed only where YAML's
   syntax asks for them (an identifier holding ``: `` or starting with ``#``).

   A PatientID in the mapping wins over a StudyInstanceUID, and both over the hospital number.
   Every subject id of a mapping must be a patient of the study (of the user's sites), and no
   identifier may map to two subjects; otherwise the file is refused before anything is written.
4. **Plan QA and storing** (:func:`import_plans`). Each matched plan is judged with
   :func:`sarcotrial.radiotherapy.planqa.plan_qa` and its verdict stored on the patient's
   radiotherapy course with :func:`sarcotrial.services.planqa.store_plan_qa`, with the DVH curves
   and the file names (:func:`sarcotrial.services.planqa.result_data`), as ``sarcotrial plan-qa
   --patient`` stores it. A repeated run is recognised there: the same result for the same plan
   and dose is answered from the earlier record, not stored again. A plan that fails (a damaged
   file, a missing volume, no radiotherapy course) does not stop the others.

:attr:`ImportSummary.exit_status` follows the command line's convention: 0 every plan found was
matched and stored (a deviation is a verdict, not a failure), 1 a plan was unmatched or failed (or
the folder holds no plan at all), the others stored all the same. Invalid arguments (no such
folder, a bad mapping or alias file, an unknown end cap) raise :class:`InvalidValue` before
anything is read from the plans or written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import yaml

from sarcotrial.errors import AccessDenied, InvalidValue, SarcoTrialError
from sarcotrial.radiotherapy.dicomrt.files import RTDOSE_SOP_CLASS, RTPLAN_SOP_CLASSES, RTSTRUCT_SOP_CLASS
from sarcotrial.services.study import Actor, StudyDB

END_CAPS = ("none", "half-slice")
KINDS = ("RTSTRUCT", "RTDOSE", "RTPLAN")
_KIND_BY_SOP_CLASS = {RTSTRUCT_SOP_CLASS: "RTSTRUCT", RTDOSE_SOP_CLASS: "RTDOSE",
                      **{sop: "RTPLAN" for sop in RTPLAN_SOP_CLASSES}}
#: the header attributes discovery reads; everything else in the file (contours, pixels) is left unparsed
_HEADER_TAGS = ["SOPClassUID", "SOPInstanceUID", "Modality", "PatientID", "StudyInstanceUID", "FrameOfReferenceUID",
                "ReferencedFrameOfReferenceSequence", "ReferencedRTPlanSequence", "ReferencedStructureSetSequence",
                "DoseSummationType"]
MAPPING_KEYS = ("patient_id", "study_instance_uid")
#: the mapping file's forms, as error messages name them (the module's docstring gives them in full)
CSV_FORMAT = ("a header row patient_id,subject_id and rows such as 123456,SPR-005 (a study_instance_uid column may "
              "name StudyInstanceUIDs instead)")
YAML_FORMAT = ('lines such as "123456: SPR-005" (PatientID: subject id), or the keys patient_id and/or '
               "study_instance_uid, each mapping identifiers to subject ids")

#: ``progress(phase, done, total, label)``: phase "reading" (files) or "judging" (plans)
Progress = Callable[[str, int, int, str], None]


# --------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class RTHeader:
    """What discovery knows of one RT object: its kind, identity and references (from its header only)."""

    path: Path
    kind: str  # RTSTRUCT, RTDOSE or RTPLAN
    sop_instance_uid: str
    patient_id: str
    study_uid: str | None
    frame_uid: str | None
    referenced_plan_uid: str | None = None            # an RTDOSE's ReferencedRTPlanSequence
    referenced_structure_set_uid: str | None = None   # an RTPLAN's (or an RTDOSE's) ReferencedStructureSetSequence
    dose_summation: str | None = None                 # an RTDOSE's DoseSummationType


@dataclass(frozen=True)
class Skipped:
    """A file discovery passed over, and why."""

    path: Path
    reason: str


@dataclass
class Discovery:
    folder: Path
    objects: list[RTHeader] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def discover(folder: Path, progress: Progress | None = None) -> Discovery:
    """Every RT object under ``folder`` (any depth, any file name), and every other file with the reason it was skipped."""
    folder = Path(folder)
    paths = _files_under(folder)
    found = Discovery(folder)
    seen: dict[str, Path] = {}
    for done, path in enumerate(paths, start=1):
        header = read_header(path)
        if isinstance(header, Skipped):
            found.skipped.append(header)
        elif header.sop_instance_uid in seen:
            found.skipped.append(Skipped(path, f"a second copy of the {header.kind} in "
                                               f"{_relative(seen[header.sop_instance_uid], folder)} (same SOP Instance UID)"))
        else:
            seen[header.sop_instance_uid] = path
            found.objects.append(header)
        if progress is not None:
            progress("reading", done, len(paths), _relative(path, folder))
    return found


def _files_under(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        out.extend(Path(root) / name for name in sorted(files))
    return out


def read_header(path: Path) -> RTHeader | Skipped:
    """The RT header of a file, or why the file is skipped (read quickly: the header only, never the pixels)."""
    import pydicom

    try:
        if path.stat().st_size == 0:
            return Skipped(path, "empty file")
        with warnings.catch_warnings():  # non-DICOM bytes read with force make pydicom warn about nonsense elements
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True, specific_tags=_HEADER_TAGS,
                                 defer_size="64 KB")
            sop_class = _text(ds.get("SOPClassUID"))
            modality = _text(ds.get("Modality")).upper()
            kind = _KIND_BY_SOP_CLASS.get(sop_class) or (modality if not sop_class and modality in KINDS else None)
            if kind is None:
                return Skipped(path, _not_rt(sop_class, modality))
            return _header(path, ds, kind)
    except PermissionError as exc:
        return Skipped(path, f"cannot be read: {exc.strerror}")
    except Exception:  # a forced read of unknown bytes failing means: not DICOM
        return Skipped(path, "not DICOM")


def _not_rt(sop_class: str, modality: str) -> str:
    from pydicom.uid import UID

    registered = bool(sop_class) and UID(sop_class).is_valid and UID(sop_class).name != sop_class
    if not registered and not (modality and modality.replace("_", "").isalnum() and len(modality) <= 16):
        return "not DICOM"
    what = UID(sop_class).name if registered else "no SOP Class UID"
    return f"DICOM {modality or '(no modality)'} ({what}), not an RT structure set, dose or plan"


def _header(path: Path, ds, kind: str) -> RTHeader | Skipped:
    sop = _text(ds.get("SOPInstanceUID"))
    if not sop:
        return Skipped(path, f"{kind} without a SOP Instance UID: nothing can refer to it")
    frame = _text(ds.get("FrameOfReferenceUID"))
    if not frame and kind == "RTSTRUCT":  # a structure set names its frame in ReferencedFrameOfReferenceSequence
        frame = next((_text(item.get("FrameOfReferenceUID")) for item in ds.get("ReferencedFrameOfReferenceSequence") or []
                      if _text(item.get("FrameOfReferenceUID"))), "")
    return RTHeader(path=path, kind=kind, sop_instance_uid=sop, patient_id=_text(ds.get("PatientID")),
                    study_uid=_text(ds.get("StudyInstanceUID")) or None, frame_uid=frame or None,
                    referenced_plan_uid=_first_reference(ds, "ReferencedRTPlanSequence") if kind == "RTDOSE" else None,
                    referenced_structure_set_uid=_first_reference(ds, "ReferencedStructureSetSequence"),
                    dose_summation=_text(ds.get("DoseSummationType")).upper() or None if kind == "RTDOSE" else None)


def _first_reference(ds, sequence: str) -> str | None:
    for item in ds.get(sequence) or []:
        found = _text(item.get("ReferencedSOPInstanceUID"))
        if found:
            return found
    return None


def _text(value) -> str:
    return str(value).strip() if value is not None else ""


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- grouping
@dataclass
class PlanFiles:
    """One plan's files as grouped (``rtdose`` is None for an RTPLAN no dose refers to), or why they cannot be judged."""

    rtdose: RTHeader | None
    rtplan: RTHeader | None = None
    rtstruct: RTHeader | None = None
    notes: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def lead(self) -> RTHeader:
        return self.rtdose or self.rtplan  # type: ignore[return-value]

    @property
    def patient_id(self) -> str:
        return self.lead.patient_id

    @property
    def study_uid(self) -> str | None:
        return self.lead.study_uid

    def files(self, folder: Path) -> dict[str, str]:
        return {kind.lower(): _relative(h.path, folder) for kind, h in
                (("RTSTRUCT", self.rtstruct), ("RTDOSE", self.rtdose), ("RTPLAN", self.rtplan)) if h is not None}


def group(found: Discovery) -> tuple[list[PlanFiles], list[Skipped]]:
    """The plans of a discovery (one per judged RTDOSE, one per RTPLAN without a dose) and the RT objects left aside."""
    by_kind: dict[str, list[RTHeader]] = {k: [h for h in found.objects if h.kind == k] for k in KINDS}
    index = {h.sop_instance_uid: h for h in found.objects}
    plans, aside = [], []
    doses = by_kind["RTDOSE"]
    whole = {d.referenced_plan_uid for d in doses if d.dose_summation == "PLAN" and d.referenced_plan_uid}
    for dose in doses:
        if dose.dose_summation not in (None, "PLAN") and dose.referenced_plan_uid in whole:
            aside.append(Skipped(dose.path, f"an RTDOSE of summation type {dose.dose_summation}; the plan's whole "
                                            "dose (summation type PLAN) is judged instead"))
            continue
        plans.append(_resolve(dose, by_kind, index, found.folder))
    used = {p.rtplan.sop_instance_uid for p in plans if p.rtplan} | {p.rtstruct.sop_instance_uid for p in plans if p.rtstruct}
    used |= {d.referenced_plan_uid for d in doses if d.referenced_plan_uid}
    used |= {p.referenced_structure_set_uid for p in by_kind["RTPLAN"] if p.referenced_structure_set_uid}
    for plan in by_kind["RTPLAN"]:
        if plan.sop_instance_uid not in used:
            plans.append(PlanFiles(None, rtplan=plan, problem="no RTDOSE in the folder refers to this RTPLAN: "
                                                              "there is no dose to judge"))
    for ss in by_kind["RTSTRUCT"]:
        if ss.sop_instance_uid not in used:
            aside.append(Skipped(ss.path, "an RTSTRUCT no plan or dose in the folder refers to"))
    return plans, aside


def _resolve(dose: RTHeader, by_kind: dict[str, list[RTHeader]], index: dict[str, RTHeader], folder: Path) -> PlanFiles:
    """The RTPLAN and RTSTRUCT of a dose, by reference first, by Frame of Reference and PatientID where a reference is absent."""
    out = PlanFiles(dose)
    name = _relative(dose.path, folder)
    if dose.referenced_plan_uid:
        out.rtplan = _referred(index, dose.referenced_plan_uid, "RTPLAN")
        if out.rtplan is None:
            out.notes.append(f"{name} refers to an RTPLAN (UID {dose.referenced_plan_uid}) that is not in the folder: "
                             "judged without the plan (no check of its prescription)")
    else:
        out.rtplan = _same_frame(dose, by_kind["RTPLAN"], out, name, "RTPLAN", folder, required=False)
    structure_set = (out.rtplan.referenced_structure_set_uid if out.rtplan else None) or dose.referenced_structure_set_uid
    by_plan = out.rtplan is not None and (out.rtplan.referenced_structure_set_uid or not structure_set)
    referrer = _relative(out.rtplan.path, folder) if by_plan else name
    if structure_set:
        out.rtstruct = _referred(index, structure_set, "RTSTRUCT")
        if out.rtstruct is None:
            out.problem = f"{referrer} refers to an RTSTRUCT (UID {structure_set}) that is not in the folder"
    elif out.problem is None:
        out.rtstruct = _same_frame(out.rtplan or dose, by_kind["RTSTRUCT"], out, referrer, "RTSTRUCT", folder,
                                   required=True)
    others = [h for h in (out.rtplan, out.rtstruct) if h is not None and h.patient_id != dose.patient_id]
    if others and out.problem is None:
        out.problem = (f"the files are of different patients: {name} has PatientID {dose.patient_id or '(none)'}, "
                       + ", ".join(f"{_relative(h.path, folder)} {h.patient_id or '(none)'}" for h in others))
    return out


def _referred(index: dict[str, RTHeader], uid: str, kind: str) -> RTHeader | None:
    found = index.get(uid)
    return found if found is not None and found.kind == kind else None


def _same_frame(source: RTHeader, candidates: list[RTHeader], out: PlanFiles, name: str, kind: str, folder: Path,
                *, required: bool) -> RTHeader | None:
    """The one ``kind`` object with the source's Frame of Reference and PatientID, noting the fallback (or the problem)."""
    reference = "ReferencedRTPlanSequence" if kind == "RTPLAN" else "ReferencedStructureSetSequence"
    same = [c for c in candidates if source.frame_uid and c.frame_uid == source.frame_uid
            and c.patient_id == source.patient_id]
    if len(same) == 1:
        out.notes.append(f"{name} has no {reference}: took {_relative(same[0].path, folder)}, the only {kind} with its "
                         f"Frame of Reference UID and PatientID")
        return same[0]
    why = (f"{len(same)} {kind}s share its Frame of Reference UID and PatientID" if same
           else f"no {kind} shares its Frame of Reference UID and PatientID")
    if required:
        out.problem = f"{name} has no {reference} and {why}: its {kind} cannot be told"
    else:
        out.notes.append(f"{name} has no {reference} and {why}: judged without a plan (no check of its prescription)")
    return None


# --------------------------------------------------------------------------- the mapping file
@dataclass(frozen=True)
class Mapping:
    """DICOM identifiers -> subject ids, from a mapping file."""

    by_patient_id: dict[str, str]
    by_study_uid: dict[str, str]
    source: str = ""

    def subject(self, patient_id: str, study_uid: str | None) -> tuple[str, str] | None:
        """(subject id, what matched it), or None."""
        if patient_id and patient_id in self.by_patient_id:
            return self.by_patient_id[patient_id], "mapping file (PatientID)"
        if study_uid and study_uid in self.by_study_uid:
            return self.by_study_uid[study_uid], "mapping file (StudyInstanceUID)"
        return None

    @property
    def subjects(self) -> set[str]:
        return set(self.by_patient_id.values()) | set(self.by_study_uid.values())


def load_mapping(path: Path) -> Mapping:
    """A mapping file (CSV or YAML, the module's docstring gives the format), or :class:`InvalidValue` naming its fault."""
    path = Path(path)
    if not path.is_file():
        raise InvalidValue("mapping", f"no such file: {path}", show_value=False)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidValue("mapping", f"{path} is not UTF-8 text", show_value=False) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        pairs = _csv_pairs(path, text)
    elif suffix in (".yaml", ".yml"):
        pairs = _yaml_pairs(path, text)
    else:
        raise InvalidValue("mapping", f"{path}: a mapping file is .csv or .yaml/.yml", show_value=False)
    tables: dict[str, dict[str, str]] = {key: {} for key in MAPPING_KEYS}
    for key, identifier, subject, where in pairs:
        subject = subject.strip().upper()
        if not subject:
            raise InvalidValue("mapping", f"{path}, {where}: no subject id for {identifier}", show_value=False)
        earlier = tables[key].get(identifier)
        if earlier is not None and earlier != subject:
            raise InvalidValue("mapping", f"{path}, {where}: {identifier} is mapped to both {earlier} and {subject}",
                               show_value=False)
        tables[key][identifier] = subject
    if not any(tables.values()):
        raise InvalidValue("mapping", f"{path} maps nothing", show_value=False)
    return Mapping(tables["patient_id"], tables["study_instance_uid"], str(path))


def _csv_pairs(path: Path, text: str) -> list[tuple[str, str, str, str]]:
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidValue("mapping", f"{path} is not a readable CSV file ({exc})", show_value=False) from None
    header = [h.strip() for h in (csv.DictReader(io.StringIO(text)).fieldnames or [])]
    if "subject_id" not in header or not any(k in header for k in MAPPING_KEYS):
        raise InvalidValue("mapping", f"{path}: the header must name subject_id and patient_id and/or "
                                      f"study_instance_uid (found {', '.join(header) or 'nothing'}); the file is "
                                      f"{CSV_FORMAT}", show_value=False)
    pairs = []
    for number, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if isinstance(v, str) or v is None}
        keys = [(k, row[k]) for k in MAPPING_KEYS if row.get(k)]
        if not keys:
            raise InvalidValue("mapping", f"{path}, line {number}: neither a patient_id nor a study_instance_uid",
                               show_value=False)
        pairs += [(k, identifier, row.get("subject_id", ""), f"line {number}") for k, identifier in keys]
    return pairs


def _yaml_pairs(path: Path, text: str) -> list[tuple[str, str, str, str]]:
    """(key, identifier, subject, where) of a YAML mapping file, simple (PatientID: subject) or full (keyed)."""
    try:  # BaseLoader: every scalar as written (PatientID 007 is not the number 7, 123456 not an int)
        data = yaml.load(text, Loader=yaml.BaseLoader)  # BaseLoader builds no objects: as safe as safe_load
    except yaml.YAMLError as exc:
        raise InvalidValue("mapping", f"{path} is not valid YAML ({exc})", show_value=False) from None
    if not isinstance(data, dict) or not data:
        raise InvalidValue("mapping", f"{path} must be a YAML mapping: {YAML_FORMAT}", show_value=False)
    tables = [value for value in data.values() if isinstance(value, dict)]
    if not tables:  # the simple form: PatientID -> subject id
        keywords = sorted(set(data) & {*MAPPING_KEYS, "subject_id"})
        if keywords:  # "patient_id: 123456" / "subject_id: SPR-005" is one record written as two mappings
            raise InvalidValue("mapping", f"{path}: {', '.join(keywords)} is a column name, not a PatientID; the file "
                                          f"is either {YAML_FORMAT}", show_value=False)
        return [("patient_id", *_yaml_pair(path, identifier, subject, f"PatientID {identifier}"))
                for identifier, subject in data.items()]
    if len(tables) != len(data) or set(data) - set(MAPPING_KEYS):
        odd = ", ".join(sorted(str(k) for k, v in data.items() if not isinstance(v, dict) or k not in MAPPING_KEYS))
        raise InvalidValue("mapping", f"{path}: {odd}: neither patient_id nor study_instance_uid holding a mapping; "
                                      f"the file is either {YAML_FORMAT}", show_value=False)
    return [(key, *_yaml_pair(path, identifier, subject, f"{key} {identifier}"))
            for key, table in data.items() for identifier, subject in table.items()]


def _yaml_pair(path: Path, identifier, subject, where: str) -> tuple[str, str, str]:
    if isinstance(identifier, (dict, list)) or isinstance(subject, (dict, list)):
        raise InvalidValue("mapping", f"{path}, {where}: an identifier maps to one subject id; the file is "
                                      f"either {YAML_FORMAT}", show_value=False)
    return str(identifier).strip(), str(subject), where


def check_mapping_subjects(study: StudyDB, actor: Actor | None, mapping: Mapping) -> None:
    """Every subject id the mapping names is a patient of the study the user may see, else :class:`InvalidValue`."""
    unknown = []
    with study.reading(actor) as session:
        for subject in sorted(mapping.subjects):
            try:
                study.patient(session, subject)
            except InvalidValue:
                unknown.append(subject)
        all_sites = study.visible_site_ids(session) is None
    if unknown:  # another site's patient is not told apart from no patient (StudyDB.patient), but the words say so
        where = "this study" if all_sites else "this study at your sites"
        raise InvalidValue("mapping", f"{mapping.source} names subject ids that are not patients of {where}: "
                                      f"{', '.join(unknown)}", show_value=False)


# --------------------------------------------------------------------------- matching, judging, storing
@dataclass
class PlanOutcome:
    """One plan's line of the summary."""

    files: dict[str, str]
    patient_id: str
    study_uid: str | None
    status: str  # stored, already stored, unmatched, failed
    subject_id: str | None = None
    matched_by: str | None = None
    verdict: str | None = None
    stored_id: int | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("stored", "already stored")

    def as_dict(self) -> dict:
        return {"files": self.files, "patient_id": self.patient_id, "study_instance_uid": self.study_uid,
                "status": self.status, "subject_id": self.subject_id, "matched_by": self.matched_by,
                "verdict": self.verdict, "stored_id": self.stored_id, "problem": self.problem, "notes": self.notes}


@dataclass
class ImportSummary:
    folder: Path
    plans: list[PlanOutcome]
    skipped: list[Skipped]

    def count(self, *statuses: str) -> int:
        return sum(1 for p in self.plans if p.status in statuses)

    @property
    def exit_status(self) -> int:
        """0 every plan matched and stored; 1 a plan unmatched or failed, or no plan found."""
        return 0 if self.plans and all(p.ok for p in self.plans) else 1

    def as_dict(self) -> dict:
        return {"folder": str(self.folder), "plans": [p.as_dict() for p in self.plans],
                "matched": self.count("stored", "already stored"), "stored": self.count("stored"),
                "already_stored": self.count("already stored"), "unmatched": self.count("unmatched"),
                "failed": self.count("failed"),
                "skipped": [{"file": _relative(s.path, self.folder), "reason": s.reason} for s in self.skipped],
                "exit_status": self.exit_status}


def check_arguments(folder: Path, end_cap: str) -> Path:
    """The folder to import, or :class:`InvalidValue`: it must exist and be a folder; the end cap none or half-slice."""
    folder = Path(folder)
    if not folder.exists():
        raise InvalidValue("folder", f"no such folder: {folder}", show_value=False)
    if not folder.is_dir():
        raise InvalidValue("folder", f"{folder} is a file, not a folder of plans", show_value=False)
    if end_cap not in END_CAPS:
        raise InvalidValue("end_cap", "must be none or half-slice", end_cap)
    return folder


def import_plans(study: StudyDB, actor: Actor, folder: Path, *, mapping: Mapping | None = None,
                 aliases: dict[str, list[str]] | None = None, end_cap: str = "none", on: dt.date | None = None,
                 progress: Progress | None = None) -> ImportSummary:
    """Discover, group, match, judge and store every plan under ``folder`` (the module's docstring gives the rules).

    The arguments are checked first (:func:`check_arguments`, the mapping's subjects, the right to
    store plan QA): a refusal raises before anything is written.
    """
    folder = check_arguments(folder, end_cap)
    with study.reading(actor, permission="planqa.store"):
        pass  # refused (AccessDenied) here, before anything is read or written, when the user may not store verdicts
    if mapping is not None:
        check_mapping_subjects(study, actor, mapping)
    found = discover(folder, progress)
    groups, aside = group(found)
    outcomes: list[PlanOutcome] = []
    lookups: dict[str, str | None] = {}
    for done, plan in enumerate(groups, start=1):
        outcomes.append(_import_one(study, actor, plan, folder, mapping, lookups, aliases, end_cap, on))
        if progress is not None:
            progress("judging", done, len(groups), plan.files(folder).get("rtdose") or plan.files(folder).get("rtplan", ""))
    return ImportSummary(folder, outcomes, found.skipped + aside)


def match(study: StudyDB, actor: Actor, patient_id: str, study_uid: str | None, mapping: Mapping | None,
          lookups: dict[str, str | None] | None = None) -> tuple[str, str] | None:
    """(subject id, what matched it) for a plan's PatientID and StudyInstanceUID, or None when nothing matches.

    The hospital number look-up is logged as a reading of the patient's identifiers (by the
    pathway service); ``lookups`` keeps its answers so each PatientID is looked up once per run."""
    from sarcotrial.services.pathway import find_by_hospital_number

    if mapping is not None:
        mapped = mapping.subject(patient_id, study_uid)
        if mapped is not None:
            return mapped
    if not patient_id:
        return None
    lookups = {} if lookups is None else lookups
    if patient_id not in lookups:
        lookups[patient_id] = find_by_hospital_number(study, actor, patient_id)
    subject = lookups[patient_id]
    return (subject, "hospital number") if subject else None


def _import_one(study: StudyDB, actor: Actor, plan: PlanFiles, folder: Path, mapping: Mapping | None,
                lookups: dict[str, str | None], aliases: dict[str, list[str]] | None, end_cap: str,
                on: dt.date | None) -> PlanOutcome:
    outcome = PlanOutcome(plan.files(folder), plan.patient_id, plan.study_uid, "failed", notes=list(plan.notes))
    if plan.problem is not None:
        outcome.problem = plan.problem
        return outcome
    try:
        matched = match(study, actor, plan.patient_id, plan.study_uid, mapping, lookups)
    except AccessDenied as exc:  # a user who may store verdicts but not look up hospital numbers: use a mapping file
        outcome.status, outcome.problem = "unmatched", f"{exc} (give a mapping file: --mapping)"
        return outcome
    if matched is None:
        outcome.status = "unmatched"
        outcome.problem = (f"no study patient has the hospital number {plan.patient_id}" if plan.patient_id
                           else "the files carry no PatientID") + (" and the mapping file does not name it" if mapping else
                                                                    " (give a mapping file: --mapping)")
        return outcome
    outcome.subject_id, outcome.matched_by = matched
    try:
        stored = _judge_and_store(study, actor, plan, outcome, aliases, end_cap, on)
    except SarcoTrialError as exc:
        outcome.problem = str(exc)
        return outcome
    except Exception as exc:  # one damaged plan must not stop the others; named, not hidden
        outcome.problem = f"{type(exc).__name__}: {exc}"
        return outcome
    outcome.status = "already stored" if stored.already_stored else "stored"
    outcome.verdict, outcome.stored_id = stored.verdict, stored.stored_id
    return outcome


def _judge_and_store(study: StudyDB, actor: Actor, plan: PlanFiles, outcome: PlanOutcome,
                     aliases: dict[str, list[str]] | None, end_cap: str, on: dt.date | None):
    from sarcotrial.radiotherapy.planqa import plan_qa
    from sarcotrial.services.planqa import result_data, store_plan_qa

    qa = plan_qa(study.protocol, plan.rtstruct.path, plan.rtdose.path, plan.rtplan.path if plan.rtplan else None,
                 aliases=aliases, end_cap=end_cap)
    outcome.verdict = qa.verdict
    outcome.notes += [*qa.file_notes, *qa.consistency]
    # the stored verdict keeps the files' base names only: export folders are often named after the patient
    stored = {kind: Path(name).name for kind, name in outcome.files.items()}
    return store_plan_qa(study, actor, outcome.subject_id, qa, on, results=result_data(qa, stored))
