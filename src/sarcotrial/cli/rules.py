"""``sarcotrial rules``, ``screen`` and ``ctcae``: the clinical rules for users and scripts.

Each command prints a readable answer, or with ``--json`` exactly one JSON object. Values are
checked by the domain rules themselves, so a bad value gets the same one-line message (field and
rule, exit status 2) as it would in a form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Column, Table

from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    ProtocolOption,
    UserOption,
    actor,
    console,
    handle_errors,
    parse_assignments,
    print_json,
)
from sarcotrial.errors import InvalidValue

rules_app = typer.Typer(help="Clinical rules: FNCLCC grade, AJCC 8 stage, EORTC-STBSG and RECIST 1.1 response, LQ EQD2 "
                        "(photons, brachytherapy, particles), histotypes, BSA, anthracycline dose, MSTS, CIRSE, GIST risk, "
                        "genes and molecular findings, hereditary predisposition (Chompret, NF1).",
                        no_args_is_help=True)


def _number(text: str, field: str, kind=float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise InvalidValue(field, "must be a whole number" if kind is int else "must be a number", text) from None
    return value


@rules_app.command("fnclcc")
@handle_errors
def fnclcc(differentiation: str = typer.Option(..., "--differentiation", help="Differentiation score 1, 2 or 3 (X: not assessable)."),
           mitoses: str = typer.Option(..., "--mitoses", help="Mitotic count per 10 HPF (X: not assessable)."),
           necrosis_percent: str = typer.Option(..., "--necrosis-percent", help="Tumour necrosis, % (X: not assessable)."),
           as_json: bool = JsonOption) -> None:
    """FNCLCC grade from differentiation, mitoses and necrosis (Trojani 1984; Coindre 2006)."""
    from sarcotrial.domain.grading import fnclcc_grade

    def opt(text, field, kind):
        return None if text.strip().upper() == "X" else _number(text, field, kind)

    result = fnclcc_grade(opt(differentiation, "differentiation", int), opt(mitoses, "mitoses_per_10hpf", int),
                          opt(necrosis_percent, "necrosis_percent", float))
    data = result.as_dict()
    if as_json:
        print_json(data)
        return
    if data["grade"] == "X":
        console.print("FNCLCC grade [bold]GX[/] (a component is not assessable)")
        return
    console.print(f"FNCLCC grade [bold]G{data['grade']}[/]: differentiation {data['differentiation_score']} + mitoses "
                  f"{data['mitotic_score']} + necrosis {data['necrosis_score']} = {data['score']}")


@rules_app.command("stage")
@handle_errors
def stage(site: str = typer.Option(..., "--site", help="extremity, trunk, retroperitoneum, head-neck or visceral."),
          size_cm: Optional[str] = typer.Option(None, "--size-cm", help="Largest dimension in cm."),
          grade: str = typer.Option(..., "--grade", help="FNCLCC grade 1, 2, 3 or X."),
          n: str = typer.Option("N0", "--n", help="N0 or N1."), m: str = typer.Option("M0", "--m", help="M0 or M1."),
          t: Optional[str] = typer.Option(None, "--t", help="T category where size alone does not decide (T4a, T2b, ...)."),
          as_json: bool = JsonOption) -> None:
    """AJCC 8th edition T category and stage group for a soft tissue sarcoma."""
    from sarcotrial.domain.staging import ajcc8_stage

    size = None if size_cm is None else _number(size_cm, "size_cm")
    grade_value = grade.strip()
    result = ajcc8_stage(site.strip(), size, grade_value, n.strip(), m.strip(), t=t)
    data = result.as_dict()
    out = {k: data[k] for k in ("t", "n", "m", "grade", "stage")}
    if as_json:
        print_json(out)
        return
    if out["stage"]:
        group = f"stage [bold]{out['stage']}[/]"
    elif out["t"] in ("TX", "T0"):
        group = f"no stage group: {out['t']} (give --size-cm, or --t)"
    else:
        group = "no AJCC 8 stage group for this site"
    console.print(f"{out['t']} {out['n']} {out['m']} G{out['grade']}: {group}")
    for note in data.get("notes") or ():
        console.print(f"  note: {escape(note)}")


@rules_app.command("response")
@handle_errors
def response_cmd(viable_percent: str = typer.Option(..., "--viable-percent", help="Stainable (viable) tumour cells, %."),
                 protocol: str = ProtocolOption, as_json: bool = JsonOption) -> None:
    """EORTC-STBSG response score (Wardelmann 2016) and pCR by the protocol's definition."""
    from sarcotrial.domain.response import describe_pcr, eortc_stbsg_response, is_pcr
    from sarcotrial.protocol import load_protocol

    viable = _number(viable_percent, "viable_percent")
    threshold = load_protocol(protocol).pathology.pcr_max_viable_percent
    data = {"score": eortc_stbsg_response(viable), "pcr": is_pcr(viable, threshold), "pcr_definition": describe_pcr(threshold)}
    if as_json:
        print_json(data)
        return
    console.print(f"EORTC-STBSG score [bold]{data['score']}[/]; pCR: {'yes' if data['pcr'] else 'no'} ({data['pcr_definition']})")


@rules_app.command("eqd2")
@handle_errors
def eqd2_cmd(dose: Optional[str] = typer.Option(None, "--dose", "--total-dose", help="Total dose, Gy (default: each dose level of the protocol); Gy(RBE) with --particle."),
             fractions: Optional[str] = typer.Option(None, "--fractions", help="Number of fractions (default: the protocol's); HDR brachytherapy: its fractions."),
             alpha_beta: Optional[str] = typer.Option(None, "--alpha-beta", help="alpha/beta in Gy (default: the protocol's)."),
             overall_days: Optional[str] = typer.Option(None, "--overall-days", help="Overall treatment time in days, for the protocol's gap correction."),
             ldr: bool = typer.Option(False, "--ldr", help="LDR brachytherapy, continuous irradiation (Dale 1985): needs --dose, --repair-half-time-h and --dose-rate-gy-h or --half-life-days."),
             dose_rate: Optional[str] = typer.Option(None, "--dose-rate-gy-h", help="LDR temporary implant: constant dose rate, Gy/h."),
             half_life_days: Optional[str] = typer.Option(None, "--half-life-days", help="LDR permanent implant: the nuclide's half-life, days (decays to completion)."),
             repair_half_time: Optional[str] = typer.Option(None, "--repair-half-time-h", help="LDR: half-time of sublethal damage repair, hours (a protocol parameter)."),
             particle: Optional[str] = typer.Option(None, "--particle", help="proton (fixed RBE 1.1, ICRU 78) or carbon (no EQD2: the RBE depends on the model)."),
             physical_dose: Optional[str] = typer.Option(None, "--physical-dose", help="Protons: physical dose, Gy (x 1.1 gives Gy(RBE))."),
             rbe_model: Optional[str] = typer.Option(None, "--rbe-model", help="Carbon ions: LEM-I or MKM (recorded, never converted)."),
             protocol: str = ProtocolOption, as_json: bool = JsonOption) -> None:
    """Linear-quadratic BED and EQD2 of a fractionation (external beam, HDR brachytherapy), or of each dose level
    of the protocol; of an LDR implant with --ldr; of a proton course in Gy(RBE) with --particle."""
    from sarcotrial.domain.radiobiology import gap_corrected_bed, lq_summary
    from sarcotrial.protocol import load_protocol

    rt = load_protocol(protocol).treatment.radiotherapy
    ab = rt.alpha_beta_gy if alpha_beta is None else _number(alpha_beta, "alpha_beta_gy")
    ldr_options = {"--dose-rate-gy-h": dose_rate, "--half-life-days": half_life_days, "--repair-half-time-h": repair_half_time}
    particle_options = {"--particle": particle, "--physical-dose": physical_dose, "--rbe-model": rbe_model}
    if ldr or any(v is not None for v in ldr_options.values()):
        from sarcotrial.cli.local import eqd2_ldr

        if not ldr:
            raise InvalidValue("ldr", f"{', '.join(k for k, v in ldr_options.items() if v is not None)} describe an LDR "
                               "implant: add --ldr", show_value=False)
        clash = [k for k, v in {"--fractions": fractions, "--overall-days": overall_days, **particle_options}.items()
                 if v is not None]
        if clash:
            raise InvalidValue("ldr", f"continuous LDR irradiation takes no {', '.join(clash)}", show_value=False)
        if dose is None:
            raise InvalidValue("total_dose_gy", "LDR needs the total dose (--dose)", show_value=False)
        eqd2_ldr(total_dose=_number(dose, "total_dose_gy"), alpha_beta=ab,
                 dose_rate=None if dose_rate is None else _number(dose_rate, "dose_rate_gy_per_h"),
                 half_life_days=None if half_life_days is None else _number(half_life_days, "half_life_days"),
                 repair_half_time_h=None if repair_half_time is None else _number(repair_half_time, "repair_half_time_h"),
                 as_json=as_json)
        return
    n = rt.fractions if fractions is None else _number(fractions, "fractions", int)
    if any(v is not None for v in particle_options.values()):
        from sarcotrial.cli.local import eqd2_particle

        if particle is None:
            raise InvalidValue("particle", "--physical-dose and --rbe-model need --particle (proton or carbon)",
                               show_value=False)
        if overall_days is not None:
            raise InvalidValue("overall_days", "no gap correction is applied to particle doses here", show_value=False)
        if dose is None and physical_dose is None:
            raise InvalidValue("dose_gy_rbe", "give --dose (Gy(RBE)) or, for protons, --physical-dose", show_value=False)
        eqd2_particle(particle=particle, dose_gy_rbe=None if dose is None else _number(dose, "dose_gy_rbe"),
                      physical_dose=None if physical_dose is None else _number(physical_dose, "physical_dose_gy"),
                      rbe_model=rbe_model, fractions=n, alpha_beta=ab, as_json=as_json)
        return

    def one(total: float) -> dict:
        data = lq_summary(total, n, ab)
        if overall_days is not None:
            if rt.gap_correction is None:
                raise InvalidValue("overall_days", "the protocol defines no gap correction (none is established for sarcoma)",
                                   show_value=False)
            g = rt.gap_correction
            bed_t = gap_corrected_bed(total, n, ab, _number(overall_days, "overall_days"), g.kickoff_days, g.dprolif_gy_per_day)
            data.update(gap_corrected_bed=bed_t, gap_corrected_eqd2=bed_t / (1 + 2 / ab))
        return data

    if dose is not None:
        data = one(_number(dose, "total_dose_gy"))
        if as_json:
            print_json(data)
            return
        rows = [(f"{_number(dose, 'total_dose_gy'):g} Gy", data)]
    else:
        levels = [(level.target, one(level.total_dose_gy)) for level in rt.dose_levels]
        if as_json:
            print_json({"alpha_beta_gy": ab, "fractions": n,
                        "dose_levels": [{"volume": name, **data} for name, data in levels]})
            return
        rows = levels
    for name, data in rows:
        text = (f"{name} in {n} x {data['dose_per_fraction']:g} Gy, alpha/beta {ab:g} Gy: "
                f"BED [bold]{data['bed']:.2f}[/] Gy, EQD2 [bold]{data['eqd2']:.2f}[/] Gy")
        if "gap_corrected_eqd2" in data:
            text += f"; with the protocol's gap correction: EQD2 {data['gap_corrected_eqd2']:.2f} Gy"
        console.print(text)


@rules_app.command("histotype")
@handle_errors
def histotype_cmd(query: str = typer.Argument(..., help="A name, synonym, old name or ICD-O-3 code."),
                  as_json: bool = JsonOption) -> None:
    """Find histotypes in the WHO 2020 catalogue by name, synonym or ICD-O-3 code. Exit 1 if none matches."""
    from sarcotrial.domain.histology import search_histotypes

    result = search_histotypes(query)
    found = bool(result.matches or result.obsolete)  # an obsolete name answers with its candidates
    if as_json:
        print_json(result.as_dict())
    else:
        for note in result.obsolete:
            console.print(f"[yellow]'{escape(note.term)}' is obsolete[/]: {escape(note.note)}")
            console.print(f"  candidates: {', '.join(note.candidates)}")
        if not found:
            console.print(f"No histotype matches '{escape(query)}'.")
    if not found:
        raise typer.Exit(1)
    if as_json or not result.matches:
        return
    from rich import box

    # readable at 80 columns: the id to enter and the code whole, the description wrapped beside them
    table = Table(Column("id (to enter)", no_wrap=True), Column("ICD-O-3", no_wrap=True),
                  Column("name (behaviour; family); synonyms"),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for h in result.matches[:15]:
        also = f"\n[dim]also: {escape(', '.join(h.synonyms[:4]))}[/]" if h.synonyms else ""
        table.add_row(h.id, h.icdo3, f"{escape(h.name)} ({escape(h.behaviour)}; {escape(h.family)}){also}")
    console.print(table)


@handle_errors
def screen(protocol: str = ProtocolOption,
           input_file: Path = typer.Option(..., "--input", help="A JSON object of the screening form's answers."),
           as_json: bool = JsonOption) -> None:
    """Eligibility of a patient's screening answers against a protocol (no database needed)."""
    from sarcotrial.protocol import load_protocol
    from sarcotrial.protocol.forms import validate_form
    from sarcotrial.services.pathway import eligibility

    p = load_protocol(protocol)
    answers = parse_assignments(None, input_file)
    decision = eligibility(p, validate_form(p, p.eligibility.form, answers, partial=True))
    data = {"protocol": p.acronym, "protocol_version": p.version, **decision.as_dict()}
    if as_json:
        print_json(data)
        return
    colour = {"eligible": "green", "ineligible": "red", "not_evaluable": "yellow"}[decision.decision]
    console.print(f"{p.acronym} v{p.version}: [bold {colour}]{decision.decision.replace('_', ' ').upper()}[/]")
    for c in decision.criteria:
        console.print(f"  {c.kind} {c.id}: {c.result.replace('_', ' ')} — {escape(c.reason)}", soft_wrap=True)


ctcae_app = typer.Typer(help="CTCAE v5.0: search terms, import NCI's spreadsheet with the grade definitions.",
                        no_args_is_help=True)


@ctcae_app.command("import")
@handle_errors
def ctcae_import(file: Path = typer.Argument(..., help="NCI's CTCAE v5.0 spreadsheet (xlsx)."),
                 db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Load the full criteria, with each grade's definition, into the study database."""
    from sarcotrial.services.reference import import_ctcae
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        terms, grades = import_ctcae(study, file, actor(user))
    console.print(f"Imported CTCAE v5.0: {terms} terms, {grades} grade definitions")


@ctcae_app.command("show")
@handle_errors
def ctcae_show(query: str = typer.Argument(..., help="A term, part of one, or a MedDRA code."),
               db: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """A term's system organ class, MedDRA code, allowed grades and (once imported) grade definitions.
    Exit 1 if no term matches."""
    from sarcotrial.domain.ctcae import search_terms

    terms = search_terms(query)[:10]
    definitions = {}
    if terms and _study_database_named(db):
        from sarcotrial.services.reference import grade_definitions

        definitions = grade_definitions(db, [t.term for t in terms])
    out = [{"term": t.term, "soc": t.soc, "meddra_code": t.meddra_code, "allowed_grades": list(t.allowed_grades),
            "grade_definitions": definitions.get(t.term, {})} for t in terms]
    if as_json:
        print_json({"terms": out})
    elif not out:
        console.print(f"No CTCAE v5.0 term matches '{escape(query)}'.")
    if not out:
        raise typer.Exit(1)
    if as_json:
        return
    for t in out:
        console.print(f"[bold]{t['term']}[/] ({t['soc']}; MedDRA {t['meddra_code']}): grades "
                      f"{', '.join(map(str, t['allowed_grades']))}")
        for grade, text in sorted(t["grade_definitions"].items()):
            console.print(f"  {grade}: {escape(text)}", soft_wrap=True)


def _study_database_named(db: Optional[str]) -> bool:
    """Whether a study database may hold imported grade definitions: one named by --db or
    DATABASE_URL, or the default SQLite file if it exists. Without one, the database layer is
    not even loaded (the answer comes at once)."""
    import os

    from sarcotrial.config import DATABASE_URL_ENV, default_database_path

    return bool(db or os.environ.get(DATABASE_URL_ENV) or default_database_path().exists())


# --------------------------------------------------------------------------- the rules other modules hold
# each module keeps its command; ``rules`` lists them after its own (every one imports Typer and the light
# domain constants only, so ``rules --help`` stays quick)
from sarcotrial.cli import gist, local, molecular, predisposition, recist, systemic  # noqa: E402

rules_app.command("recist")(recist.recist)
rules_app.command("bsa")(systemic.bsa)
rules_app.command("anthracycline")(systemic.anthracycline)
rules_app.command("msts")(local.msts)
rules_app.command("predisposition")(predisposition.predisposition)
rules_app.command("gist-risk")(gist.gist_risk)
rules_app.command("cirse")(local.cirse)
rules_app.command("gene")(molecular.gene)
rules_app.command("molecular")(molecular.molecular)
