"""Pages: a registry patient's documents and risk predictions entered in the browser, beside the board's
case file (``/board/patients/{subject}``):

- ``/board/patients/{subject}/molecular``: the molecular findings, one finding added or removed at a time;
- ``/board/patients/{subject}/family``: the family history (the patient, the relatives with their cancers),
  the patient's NF1 findings and germline results, which the Chompret and NF1 criteria read;
- ``/board/patients/{subject}/predict``: a risk predicted with a loaded model, from a form made of the
  model's inputs.

Each change builds the new whole document from the recorded one (read in the case file,
``services.registry.case_file``) plus or minus one entry, and records it with
``services.registry.record_document``; a recorded document is replaced only with a reason, kept in the audit
trail. The rules are the domain's, applied by the service: the document formats of ``docs/molecular.md``
and ``docs/predisposition.md`` (an unknown gene comes back with the nearest known symbols), the model's
inputs and ranges (``docs/risk-models.md``). A refusal comes back beside the field it names, what was typed
kept, nothing written; a role without the right gets the application's 403 page from the service. This
module turns typed text into the document's values (a number typed is given as a number, anything else as
typed, so that the domain names what is wrong) and lays out what the services return.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from sarcotrial.domain import molecular as molecular_rules
from sarcotrial.domain import predisposition as family_rules
from sarcotrial.errors import InvalidValue, date_rule
from sarcotrial.services import registry
from sarcotrial.web.deps import SignedIn, WebUser, study_of
from sarcotrial.web.templating import render

router = APIRouter(include_in_schema=False)

#: the prefix of a model input's name in the prediction form (the other fields are the model and the date)
INPUT_PREFIX = "input."


# --------------------------------------------------------------------------- shared
def _case_file(request: Request, user: WebUser, subject: str) -> registry.CaseFile:
    """The patient's case file; an unknown patient (or one of another site, answered alike) is a 404."""
    try:
        return registry.case_file(study_of(request), user.actor, subject)
    except InvalidValue as exc:
        if exc.field == "patient" and exc.rule.startswith("no such"):
            raise HTTPException(404, f"{exc.field}: {exc.rule}") from None
        raise


def _words(key: str) -> str:
    return key.replace("_", " ")


def _subject_path(subject: str) -> str:
    return f"/board/patients/{quote(subject.strip().upper())}"


def _typed(text: str | None) -> Any:
    """A value typed in a form as the document holds it: blank is ``None``, a whole number an int, a
    decimal number a float, anything else the text itself (the domain then says what it must be)."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _flag(text: str | None) -> Any:
    """A yes/no select: ``True``, ``False``, ``None`` when blank (not examined), else the text as typed."""
    value = (text or "").strip().lower()
    return {"": None, "yes": True, "no": False}.get(value, value)


def _flag_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _place(field: str, prefix: str, names: Iterable[str]) -> str | None:
    """The form's input that an error path names: ``findings[2].gene`` is ``gene`` of the form adding
    the finding ``findings[2]``; ``nf1.calm_diameters_mm[3]`` is ``calm_diameters_mm`` of ``nf1``."""
    start = prefix + "." if prefix else ""
    if not field.startswith(start):
        return None
    head = re.split(r"[.\[]", field[len(start):], maxsplit=1)[0]
    return head if head in set(names) else None


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries that carry a value (a blank field is left out of the document: not known)."""
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _stale(posted: str, current: int | None) -> None:
    """A removal names an entry by its place in the document as the page showed it: refused when the
    document has changed since (another revision), so that no other entry is removed instead."""
    if (posted or "").strip() != str(current or ""):
        raise InvalidValue("revision", "the document has changed since the page was opened "
                           f"(now revision {current or 'none'}): look at it again before removing", show_value=False)


def _without(items: list | None, index: int, missing: str) -> list:
    """The recorded entries less the one at ``index`` (as the page numbered them); an index the document does
    not have is a 404 saying ``missing``."""
    entries = list(items or [])
    if not 0 <= index < len(entries):
        raise HTTPException(404, missing)
    return entries[:index] + entries[index + 1:]


def _done_redirect(path: str, done: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}{anchor}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


# --------------------------------------------------------------------------- molecular findings
FINDING_FIELDS = ("test", "kind", "gene", "fusion", "five_prime", "three_prime", "cdna", "protein", "exon", "vaf",
                  "copies", "call", "result", "laboratory", "date")
NUMBER_FIELDS = frozenset({"exon", "vaf", "copies"})
MOLECULAR_DONE = {"added": "The finding is recorded.", "removed": "The finding is removed.",
                  "histotype": "The report's histotype is recorded."}


def _histotypes() -> list[tuple[str, list[Any]]]:
    """The WHO 2020 catalogue by family, in chapter order (the report's histotype is one of its ids)."""
    from sarcotrial.domain.histology import histotypes

    families: dict[str, list[Any]] = {}
    for entity in histotypes():
        families.setdefault(entity.family, []).append(entity)
    return list(families.items())


def _molecular_page(request: Request, user: WebUser, subject: str, *, typed: dict[str, dict[str, str]] | None = None,
                    errors: dict[str, dict[str, str]] | None = None, general: dict[str, str] | None = None,
                    status_code: int = 200):
    file = _case_file(request, user, subject)
    recorded = (file.molecular or {}).get("findings") or []
    by_index = {item.index: item for item in file.interpretation}
    rows = [(i, by_index.get(i), raw) for i, raw in enumerate(recorded)]
    histotype_id = (file.molecular or {}).get("histotype")
    return render(request, "board/registry_molecular.html", status_code=status_code,
                  title=f"Molecular findings {file.subject_id}", f=file, rows=rows, report_histotype=histotype_id,
                  histotype_names={h.id: h.name for _family, items in _histotypes() for h in items},
                  families=_histotypes(), tests=[(t, t) for t in molecular_rules.TESTS],
                  kinds=[(k, _words(k)) for k in molecular_rules.KINDS],
                  calls=[(c, c) for c in molecular_rules.COPY_NUMBER_CALLS],
                  results=[(r, r) for r in molecular_rules.EXPRESSION_RESULTS],
                  typed=typed or {}, errors=errors or {}, general=general or {},
                  done=MOLECULAR_DONE.get(request.query_params.get("done", "")))


@router.get("/board/patients/{subject}/molecular")
def molecular_page(request: Request, user: SignedIn, subject: str):
    return _molecular_page(request, user, subject)


def _molecular_change(request: Request, user: WebUser, subject: str, key: str, typed: dict[str, str],
                      change: Callable[[registry.CaseFile], dict[str, Any]], place: Callable[[str], str | None],
                      done: str):
    """Build the new document from the recorded one (``change``) and record it; a refusal comes back
    beside the field ``place`` finds for the error's path (else above the form), nothing written."""
    study = study_of(request)
    reason = typed.get("reason", "").strip() or None
    try:
        file = _case_file(request, user, subject)
        document = change(file)
        registry.record_document(study, user.actor, subject, "molecular", document, reason=reason,
                                 expected_revision=file.molecular_revision or 0)
    except InvalidValue as exc:
        where = "reason" if exc.field == "reason" else place(exc.field)
        return _molecular_page(request, user, subject, typed={key: typed},
                               errors={key: {where: exc.rule}} if where else {},
                               general={} if where else {key: str(exc)}, status_code=422)
    return _done_redirect(f"{_subject_path(subject)}/molecular", done, "#findings")


@router.post("/board/patients/{subject}/molecular/findings")
async def add_finding(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {name: form.get(name, "") for name in (*FINDING_FIELDS, "histotype", "reason")}
    finding = _clean({name: (_typed(typed[name]) if name in NUMBER_FIELDS else typed[name].strip())
                      for name in FINDING_FIELDS})
    index: list[int] = []

    def change(file: registry.CaseFile) -> dict[str, Any]:
        document = copy.deepcopy(file.molecular) if file.molecular else {}
        findings = list(document.get("findings") or [])
        index.append(len(findings))
        document["findings"] = findings + [finding]
        if file.molecular is None and typed["histotype"].strip():  # the first finding may name the report's histotype
            document["histotype"] = typed["histotype"].strip()
        return document

    def place(field: str) -> str | None:
        if field == "histotype":
            return "histotype"
        return _place(field, f"findings[{index[0]}]", FINDING_FIELDS) if index else None

    return await run_in_threadpool(_molecular_change, request, user, subject, "add", typed, change, place, "added")


@router.post("/board/patients/{subject}/molecular/findings/{index}/remove")
async def remove_finding(request: Request, user: SignedIn, subject: str, index: int):
    form = await _form(request)
    typed = {"reason": form.get("reason", ""), "revision": form.get("revision", "")}

    def change(file: registry.CaseFile) -> dict[str, Any]:
        _stale(typed["revision"], file.molecular_revision)
        document = copy.deepcopy(file.molecular) if file.molecular else {}
        document["findings"] = _without(document.get("findings"), index,
                                        f"finding: no finding {index + 1} in the recorded report")
        return document

    return await run_in_threadpool(_molecular_change, request, user, subject, f"remove-{index}", typed, change,
                                   lambda field: None, "removed")


@router.post("/board/patients/{subject}/molecular/histotype")
async def report_histotype(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {"histotype": form.get("histotype", ""), "reason": form.get("reason", "")}

    def change(file: registry.CaseFile) -> dict[str, Any]:
        document = copy.deepcopy(file.molecular) if file.molecular else {}
        document.pop("histotype", None)
        if typed["histotype"].strip():
            document["histotype"] = typed["histotype"].strip()
        return document

    return await run_in_threadpool(_molecular_change, request, user, subject, "histotype", typed, change,
                                   lambda field: "histotype" if field == "histotype" else None, "histotype")


# --------------------------------------------------------------------------- family history
CANCER_FIELDS = ("type", "name", "age", "subtype", "menopausal_status")
RELATIVE_FIELDS = ("relationship", "sex", "history")
GERMLINE_FIELDS = ("gene", "variant", "classification", "vaf_percent", "tissue", "mosaic")
#: the patient's NF1 findings on examination, as the form asks them: (name, label, how it is typed)
NF1_FIELDS = (
    ("pubertal_status", "Pubertal status", "pubertal"),
    ("calm_diameters_mm", "Cafe-au-lait macules: greatest diameter of each (mm)", "list"),
    ("calm_bilateral", "Cafe-au-lait macules bilateral", "flag"),
    ("freckling_axillary", "Axillary freckling", "flag"),
    ("freckling_inguinal", "Inguinal freckling", "flag"),
    ("freckling_bilateral", "Freckling bilateral", "flag"),
    ("neurofibromas", "Neurofibromas of any type (plexiform included)", "count"),
    ("plexiform_neurofibromas", "Plexiform neurofibromas", "count"),
    ("optic_pathway_glioma", "Optic pathway glioma", "flag"),
    ("lisch_nodules", "Iris Lisch nodules (slit lamp)", "count"),
    ("choroidal_abnormalities", "Choroidal abnormalities (OCT / near-infrared imaging)", "count"),
    ("sphenoid_dysplasia", "Sphenoid dysplasia", "flag"),
    ("ipsilateral_orbital_plexiform_neurofibroma", "Ipsilateral orbital plexiform neurofibroma", "flag"),
    ("anterolateral_tibial_bowing", "Anterolateral bowing of the tibia", "flag"),
    ("long_bone_pseudarthrosis", "Pseudarthrosis of a long bone", "flag"),
    ("parent_meets_nf1_criteria", "A parent meets the NF1 diagnostic criteria", "flag"),
    ("segmental_distribution", "Clearly segmental distribution (macules or cutaneous neurofibromas)", "flag"),
)
NF1_NAMES = tuple(name for name, _label, _how in NF1_FIELDS)
FAMILY_DONE = {"proband": "The patient's details are recorded.", "cancer": "The cancer is recorded.",
               "cancer-removed": "The cancer is removed.", "relative": "The relative is recorded.",
               "relative-removed": "The relative is removed.", "nf1": "The NF1 findings are recorded.",
               "genes": "The genes tested are recorded.", "germline": "The germline finding is recorded.",
               "germline-removed": "The germline finding is removed."}
HISTORY_CHOICES = (("cancer", "with the cancer below"), ("none", "without cancer"), ("unknown", "not known"))
FLAG_CHOICES = (("yes", "yes"), ("no", "no"))


def _relationship_choices() -> list[tuple[str, str]]:
    """Every relationship the format knows, with the degree and side it gives, first degree first."""
    out = []
    for key, (degree, side, _sex) in sorted(family_rules.RELATIONSHIPS.items(), key=lambda kv: (kv[1][0], kv[0])):
        where = f", {side} side" if side in ("maternal", "paternal") else (", side not given" if side == "unknown" else "")
        out.append((key, f"{_words(key)} ({degree}{'st' if degree == 1 else 'nd' if degree == 2 else 'rd'} degree{where})"))
    return out


def _nf1_typed(nf1: Mapping[str, Any] | None) -> dict[str, str]:
    """The recorded NF1 findings as the form shows them."""
    out = {}
    for name, _label, how in NF1_FIELDS:
        value = (nf1 or {}).get(name)
        if how == "flag":
            out[name] = _flag_text(value)
        elif how == "list":
            out[name] = ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in value) \
                if isinstance(value, list) else ("" if value is None else str(value))
        else:
            out[name] = "" if value is None else str(value)
    return out


def _family_page(request: Request, user: WebUser, subject: str, *, typed: dict[str, dict[str, str]] | None = None,
                 errors: dict[str, dict[str, str]] | None = None, general: dict[str, str] | None = None,
                 status_code: int = 200):
    file = _case_file(request, user, subject)
    document = file.family_history or {}
    parsed = file.predisposition.family if file.predisposition is not None else None
    proband = document.get("proband") or {}
    forms = {"proband": {"sex": str(proband.get("sex") or "") if proband else str(file.sex or ""),
                         "age": "" if proband.get("age") is None else str(proband.get("age")),
                         "year_of_birth": str(proband.get("year_of_birth") or ("" if proband else file.year_of_birth))},
             "nf1": _nf1_typed(document.get("nf1")),
             "genes": {"genes_tested": ", ".join(str(g) for g in (document.get("germline") or {}).get("genes_tested") or [])},
             "relative": {"history": "cancer"}}
    forms.update(typed or {})
    return render(request, "board/registry_family.html", status_code=status_code,
                  title=f"Family history {file.subject_id}", f=file, document=document, parsed=parsed,
                  relationships=_relationship_choices(), sexes=[(s, s) for s in family_rules.SEXES],
                  lists={"cancer_types": list(family_rules.CANCER_TYPES.items()),
                         "subtypes": [(s, _words(s)) for s in family_rules.RHABDOMYOSARCOMA_SUBTYPES],
                         "menopausal": [(s, s) for s in family_rules.MENOPAUSAL_STATUSES]},
                  pubertal=[(s, s) for s in family_rules.PUBERTAL_STATUSES],
                  classifications=[(c, _words(c)) for c in family_rules.CLASSIFICATIONS],
                  tissues=[(t, _words(t)) for t in family_rules.NORMAL_TISSUES + family_rules.AFFECTED_TISSUES],
                  history_choices=HISTORY_CHOICES, flag_choices=FLAG_CHOICES, nf1_fields=NF1_FIELDS,
                  typed=forms, errors=errors or {}, general=general or {},
                  done=FAMILY_DONE.get(request.query_params.get("done", "")))


@router.get("/board/patients/{subject}/family")
def family_page(request: Request, user: SignedIn, subject: str):
    return _family_page(request, user, subject)


def _family_change(request: Request, user: WebUser, subject: str, key: str, typed: dict[str, str],
                   change: Callable[[dict[str, Any], registry.CaseFile], None], place: Callable[[str], str | None],
                   done: str, anchor: str):
    """Change a copy of the recorded family history (``change``) and record it; a refusal beside its field."""
    study = study_of(request)
    reason = typed.get("reason", "").strip() or None
    try:
        file = _case_file(request, user, subject)
        document = copy.deepcopy(file.family_history) if file.family_history else {}
        change(document, file)
        registry.record_document(study, user.actor, subject, "family_history", document, reason=reason,
                                 expected_revision=file.family_revision or 0)
    except InvalidValue as exc:
        where = "reason" if exc.field == "reason" else place(exc.field)
        return _family_page(request, user, subject, typed={key: typed},
                            errors={key: {where: exc.rule}} if where else {},
                            general={} if where else {key: str(exc)}, status_code=422)
    return _done_redirect(f"{_subject_path(subject)}/family", done, anchor)


def _cancer(typed: Mapping[str, str], prefix: str = "") -> dict[str, Any]:
    return _clean({name: (_typed(typed.get(prefix + name)) if name == "age" else (typed.get(prefix + name) or "").strip())
                   for name in CANCER_FIELDS})


def _owner(document: dict[str, Any], owner: str) -> tuple[dict[str, Any], str]:
    """The person a cancer is added to or removed from (``proband`` or ``r<index>``) and its path."""
    if owner == "proband":
        if not isinstance(document.get("proband"), dict):
            raise InvalidValue("proband", "record the patient's sex and age first", show_value=False)
        return document["proband"], "proband"
    match = re.fullmatch(r"r(\d+)", owner or "")
    relatives = document.get("relatives") or []
    if match is None or int(match.group(1)) >= len(relatives):
        raise HTTPException(404, "relative: no such relative in the recorded family history")
    return relatives[int(match.group(1))], f"relatives[{int(match.group(1))}]"


@router.post("/board/patients/{subject}/family/proband")
async def save_proband(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {name: form.get(name, "") for name in ("sex", "age", "year_of_birth", "reason")}

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        proband = dict(document.get("proband") or {})
        for name in ("sex", "age", "year_of_birth"):
            value = typed[name].strip() if name == "sex" else _typed(typed[name])
            if value is None or value == "":
                proband.pop(name, None)
            else:
                proband[name] = value
        if "cancers" not in proband:  # begun now: the patient's own sarcoma first (its age left to the user)
            proband["cancers"] = registry.known_proband_tumours(file)
        document["proband"] = proband

    return await run_in_threadpool(_family_change, request, user, subject, "proband", typed, change,
                                   lambda field: _place(field, "proband", ("sex", "age", "year_of_birth")),
                                   "proband", "#proband")


@router.post("/board/patients/{subject}/family/cancers")
async def add_cancer(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    owner = form.get("owner", "")
    typed = {name: form.get(name, "") for name in (*CANCER_FIELDS, "reason")}
    path: list[str] = []

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        person, where = _owner(document, owner)
        cancers = list(person.get("cancers") or [])
        path.append(f"{where}.cancers[{len(cancers)}]")
        person["cancers"] = cancers + [_cancer(typed)]

    return await run_in_threadpool(_family_change, request, user, subject, f"cancer-{owner}", typed, change,
                                   lambda field: _place(field, path[0], CANCER_FIELDS) if path else None,
                                   "cancer", f"#{'proband' if owner == 'proband' else 'relatives'}")


@router.post("/board/patients/{subject}/family/cancers/remove")
async def remove_cancer(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    owner, which = form.get("owner", ""), form.get("index", "")
    typed = {"reason": form.get("reason", ""), "revision": form.get("revision", "")}

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        _stale(typed["revision"], file.family_revision)
        person, _where = _owner(document, owner)
        cancers = list(person.get("cancers") or [])
        if not which.isdigit() or int(which) >= len(cancers):
            raise HTTPException(404, "cancer: no such cancer recorded")
        person["cancers"] = cancers[:int(which)] + cancers[int(which) + 1:]

    return await run_in_threadpool(_family_change, request, user, subject, f"remove-cancer-{owner}-{which}", typed,
                                   change, lambda field: None, "cancer-removed",
                                   f"#{'proband' if owner == 'proband' else 'relatives'}")


@router.post("/board/patients/{subject}/family/relatives")
async def add_relative(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {name: form.get(name, "") for name in (*RELATIVE_FIELDS, *(f"cancer_{n}" for n in CANCER_FIELDS), "reason")}
    index: list[int] = []

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        if not isinstance(document.get("proband"), dict):
            raise InvalidValue("proband", "record the patient's sex and age first", show_value=False)
        relatives = list(document.get("relatives") or [])
        index.append(len(relatives))
        cancer = _cancer(typed, "cancer_")
        history = typed["history"].strip() or "cancer"
        if history not in ("cancer", "none", "unknown"):
            raise InvalidValue("history", "must be one of " + ", ".join(text for _c, text in HISTORY_CHOICES), history)
        if history != "cancer" and cancer:
            raise InvalidValue("history", "a cancer is filled in below: choose \u201cwith the cancer below\u201d, or "
                               "clear the cancer", show_value=False)
        relative = _clean({"relationship": typed["relationship"].strip(), "sex": typed["sex"].strip()})
        if history == "cancer":
            relative["cancers"] = [cancer]
        elif history == "none":
            relative["cancers"] = []
        document["relatives"] = relatives + [relative]

    def place(field: str) -> str | None:
        if field == "history":
            return "history"
        if not index:
            return None
        inner = _place(field, f"relatives[{index[0]}].cancers[0]", CANCER_FIELDS)
        return f"cancer_{inner}" if inner else _place(field, f"relatives[{index[0]}]", ("relationship", "sex"))

    return await run_in_threadpool(_family_change, request, user, subject, "relative", typed, change, place,
                                   "relative", "#relatives")


@router.post("/board/patients/{subject}/family/relatives/{index}/remove")
async def remove_relative(request: Request, user: SignedIn, subject: str, index: int):
    form = await _form(request)
    typed = {"reason": form.get("reason", ""), "revision": form.get("revision", "")}

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        _stale(typed["revision"], file.family_revision)
        document["relatives"] = _without(document.get("relatives"), index,
                                         "relative: no such relative in the recorded family history")

    return await run_in_threadpool(_family_change, request, user, subject, f"remove-relative-{index}", typed, change,
                                   lambda field: None, "relative-removed", "#relatives")


@router.post("/board/patients/{subject}/family/nf1")
async def save_nf1(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {name: form.get(name, "") for name in (*NF1_NAMES, "reason")}

    def value(name: str, how: str) -> Any:
        text = typed[name]
        if how == "flag":
            return _flag(text)
        if how == "list":
            parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
            return [_typed(p) for p in parts] if parts else None
        if how == "count":
            return _typed(text)
        return text.strip() or None

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        if not isinstance(document.get("proband"), dict):
            raise InvalidValue("proband", "record the patient's sex and age first", show_value=False)
        nf1 = {k: v for k, v in dict(document.get("nf1") or {}).items() if k not in NF1_NAMES}  # any other field kept
        nf1.update(_clean({name: value(name, how) for name, _label, how in NF1_FIELDS}))
        if nf1:
            document["nf1"] = nf1
        else:
            document.pop("nf1", None)  # nothing examined

    return await run_in_threadpool(_family_change, request, user, subject, "nf1", typed, change,
                                   lambda field: _place(field, "nf1", NF1_NAMES), "nf1", "#nf1")


@router.post("/board/patients/{subject}/family/germline/genes")
async def save_genes(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {"genes_tested": form.get("genes_tested", ""), "reason": form.get("reason", "")}

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        if not isinstance(document.get("proband"), dict):
            raise InvalidValue("proband", "record the patient's sex and age first", show_value=False)
        germline = dict(document.get("germline") or {})
        genes = [g for g in re.split(r"[\s,;]+", typed["genes_tested"].strip()) if g]
        if genes:
            germline["genes_tested"] = genes
        else:
            germline.pop("genes_tested", None)
        if germline:
            document["germline"] = germline
        else:
            document.pop("germline", None)

    return await run_in_threadpool(_family_change, request, user, subject, "genes", typed, change,
                                   lambda field: _place(field, "germline", ("genes_tested",)), "genes", "#germline")


@router.post("/board/patients/{subject}/family/germline/findings")
async def add_germline(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    typed = {name: form.get(name, "") for name in (*GERMLINE_FIELDS, "reason")}
    index: list[int] = []

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        if not isinstance(document.get("proband"), dict):
            raise InvalidValue("proband", "record the patient's sex and age first", show_value=False)
        germline = dict(document.get("germline") or {})
        findings = list(germline.get("findings") or [])
        index.append(len(findings))
        finding = _clean({"gene": typed["gene"].strip(), "variant": typed["variant"].strip(),
                          "classification": typed["classification"].strip(), "vaf_percent": _typed(typed["vaf_percent"]),
                          "tissue": typed["tissue"].strip(), "mosaic": _flag(typed["mosaic"])})
        germline["findings"] = findings + [finding]
        document["germline"] = germline

    return await run_in_threadpool(
        _family_change, request, user, subject, "germline", typed, change,
        lambda field: _place(field, f"germline.findings[{index[0]}]", GERMLINE_FIELDS) if index else None,
        "germline", "#germline")


@router.post("/board/patients/{subject}/family/germline/findings/{index}/remove")
async def remove_germline(request: Request, user: SignedIn, subject: str, index: int):
    form = await _form(request)
    typed = {"reason": form.get("reason", ""), "revision": form.get("revision", "")}

    def change(document: dict[str, Any], file: registry.CaseFile) -> None:
        _stale(typed["revision"], file.family_revision)
        germline = dict(document.get("germline") or {})
        germline["findings"] = _without(germline.get("findings"), index, "finding: no such germline finding recorded")
        document["germline"] = germline

    return await run_in_threadpool(_family_change, request, user, subject, f"remove-germline-{index}", typed, change,
                                   lambda field: None, "germline-removed", "#germline")


# --------------------------------------------------------------------------- predictions
def _models(request: Request, user: WebUser) -> list[registry.ModelFileView]:
    """The loaded models, one per key: its newest version (the one a prediction uses)."""
    newest: dict[str, registry.ModelFileView] = {}
    for view in registry.model_files(study_of(request), user.actor):
        newest[view.key] = view  # the service lists the newest version of each last
    return list(newest.values())


def _predict_page(request: Request, user: WebUser, subject: str, chosen: str = "", *,
                  typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  general: str | None = None, status_code: int = 200):
    file = _case_file(request, user, subject)
    models = _models(request, user)
    model = next((m for m in models if m.key == chosen.strip()), None)
    if model is None and not chosen.strip() and len(models) == 1:
        model = models[0]
    unknown_model = bool(chosen.strip()) and model is None
    inputs = list(model.inputs) if model is not None else []
    # what the study's record holds for the model's inputs: filled in (a value typed again is the form's)
    recorded = registry.recorded_inputs(study_of(request), user.actor, file.subject_id, model.key) \
        if model is not None else {}
    if typed is None:
        typed = {"predicted_on": dt.date.today().isoformat(),
                 **{INPUT_PREFIX + name: str(held.value) for name, held in recorded.items() if held.value is not None}}
    shown = {"model", "predicted_on"} | {INPUT_PREFIX + spec.name for spec in inputs}
    errors = errors or {}
    if any(name not in shown for name in errors):  # a refusal with no field on the page is said above the form
        general = general or "; ".join(f"{name.removeprefix(INPUT_PREFIX)}: {rule}" for name, rule in errors.items())
        errors = {}
    return render(request, "board/registry_predict.html", status_code=status_code,
                  title=f"Risk prediction {file.subject_id}", f=file, models=models, model=model,
                  inputs=inputs, unknown_model=unknown_model, chosen=chosen, prefix=INPUT_PREFIX,
                  typed=typed, errors=errors, general=general, recorded=recorded)


@router.get("/board/patients/{subject}/predict")
def predict_page(request: Request, user: SignedIn, subject: str, model: str = ""):
    return _predict_page(request, user, subject, model)


@router.post("/board/patients/{subject}/predict")
async def predict(request: Request, user: SignedIn, subject: str):
    form = await _form(request)
    key = form.get("model", "")
    day_text = form.get("predicted_on", "")
    values = {name[len(INPUT_PREFIX):]: text for name, text in form.items() if name.startswith(INPUT_PREFIX)}
    typed = {"predicted_on": day_text, **{INPUT_PREFIX + k: v for k, v in values.items()}}

    def run():
        study = study_of(request)
        try:
            day = None
            if day_text.strip():
                try:
                    day = dt.date.fromisoformat(day_text.strip())
                except ValueError:
                    raise InvalidValue("predicted_on", date_rule(day_text), day_text) from None
            inputs = {name: text.strip() for name, text in values.items()}
            registry.predict(study, user.actor, subject, key, inputs, on=day)
        except InvalidValue as exc:
            named = [part.strip() for part in exc.field.split(",")]  # a missing input is named, several joined by ", "
            errors = {}
            if exc.field in ("predicted_on", "model"):
                errors[exc.field] = exc.rule
            elif all(name in values for name in named):
                errors = {INPUT_PREFIX + name: exc.rule for name in named}
            return _predict_page(request, user, subject, key, typed=typed, errors=errors,
                                 general=None if errors else str(exc), status_code=422)
        return RedirectResponse(f"{_subject_path(subject)}?done=predicted#predictions", status_code=303)

    return await run_in_threadpool(run)
