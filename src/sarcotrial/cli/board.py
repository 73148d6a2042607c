"""``sarcotrial board`` (meetings, cases, decisions, signatures, minutes) and ``sarcotrial second-opinion``.

The rules live in :mod:`sarcotrial.domain.board` (ESMO-EURACAN-GENTURIS guidelines, Gronchi et al.,
Ann Oncol 2021: the multidisciplinary board; the quorum is the unit's setting ``tumour_board_quorum``)
and the use cases in :mod:`sarcotrial.services.board` and :mod:`sarcotrial.services.second_opinion`;
this module only reads options and prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    UserOption,
    actor,
    console,
    fail,
    handle_errors,
    parse_assignments,
    parse_date,
    print_json,
)

board_app = typer.Typer(help="The multidisciplinary tumour board: meetings, cases, decisions, signatures, minutes.",
                        no_args_is_help=True)
meeting_app = typer.Typer(help="Board meetings: record one, who attended, list them.", no_args_is_help=True)
board_app.add_typer(meeting_app, name="meeting")
second_opinion_app = typer.Typer(help="Second opinions: external requests, their documents, the review, the listing.",
                                 no_args_is_help=True)

ReasonOption = typer.Option(None, "--reason", help="Why a value already entered is changed (required then).")


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


# --------------------------------------------------------------------------- meetings
@meeting_app.command("new")
@handle_errors
def meeting_new(date: str = typer.Option(..., "--date", help="The meeting's date, YYYY-MM-DD."),
                site: str = typer.Option("MAIN", "--site", help="The site holding the meeting."),
                note: Optional[str] = typer.Option(None, "--note", help="A note printed in the minutes."),
                db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Record a board meeting; the quorum rule in force (setting tumour_board_quorum) is kept with it."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    day = parse_date(date, "date")
    with StudyDB.open(db) as study:
        view = board.record_meeting(study, actor(user), day, site_code=site, note=note)
    if as_json:
        print_json(view.as_dict())
        return
    console.print(f"Board meeting #{view.id} on {day.isoformat()} at {escape(view.site)}; {view.quorum.describe()}.",
                  soft_wrap=True)


@meeting_app.command("attend")
@handle_errors
def meeting_attend(meeting_id: int = typer.Argument(..., metavar="MEETING_ID"),
                   name: str = typer.Option(..., "--name", help="The member's name as printed in the minutes."),
                   discipline: str = typer.Option(..., "--discipline", help="surgeon, radiation_oncologist, "
                                                  "medical_oncologist, pathologist, radiologist, "
                                                  "interventional_radiologist, physiotherapist, psychologist, ..."),
                   username: Optional[str] = typer.Option(None, "--account", help="The member's account, if any."),
                   db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Record a member present at a meeting, in their discipline; prints the quorum now."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        held = board.attend(study, actor(user), meeting_id, name, discipline, username=username)
    if as_json:
        print_json({"meeting": meeting_id, "quorum": held.as_dict()})
        return
    console.print(f"{escape(name)} present at meeting #{meeting_id}; {held.describe()}.", soft_wrap=True)


@meeting_app.command("list")
@handle_errors
def meeting_list(site: Optional[str] = typer.Option(None, "--site", help="One site's meetings only."),
                 db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Every board meeting of your sites, newest first: quorum, cases decided and signed."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        rows = board.meetings(study, actor(user), site=site)
    if as_json:
        print_json({"meetings": [m.as_dict() for m in rows]})
        return
    if not rows:
        console.print("No board meeting recorded.")
        return
    table = _table("Board meetings")
    for name in ("#", "Date", "Site", "Present", "Quorum", "Cases", "Decided", "Signed"):
        table.add_column(name, no_wrap=True, justify="right" if name in ("#", "Present", "Cases", "Decided", "Signed")
                         else "left")
    for m in rows:
        table.add_row(str(m.id), m.meeting_date.isoformat(), escape(m.site), str(len(m.attendees)),
                      "met" if m.quorum.met else "planned" if m.planned else "[red]no quorum[/]",
                      str(len(m.cases)) + (f" (+{m.hidden})" if m.hidden else ""), str(m.decided), str(m.signed))
    console.print(table)


board_app.command("list")(meeting_list)


# --------------------------------------------------------------------------- cases and decisions
@board_app.command("case")
@handle_errors
def case(meeting_id: int = typer.Argument(..., metavar="MEETING_ID"),
         subject: str = typer.Option(..., "--patient", help="The registered patient's subject id."),
         question: str = typer.Option(..., "--question", help="The question put to the board."),
         db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Put a registered patient to a meeting with a question."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        case_id = board.add_case(study, actor(user), meeting_id, subject, question)
    if as_json:
        print_json({"case": case_id, "meeting": meeting_id, "subject": subject.strip().upper()})
        return
    console.print(f"Case #{case_id}: {escape(subject.strip().upper())} on meeting #{meeting_id}.")


@board_app.command("summary")
@handle_errors
def summary(case_id: int = typer.Argument(..., metavar="CASE_ID"),
            part: str = typer.Option(..., "--part", help="imaging (radiologist), pathology (pathologist) or question."),
            text: str = typer.Option(..., "--text", help="The summary as presented to the board."),
            reason: Optional[str] = ReasonOption,
            db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Write a case's imaging or pathology summary (or correct its question)."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        voided = board.write_case(study, actor(user), case_id, part.strip().lower(), text, reason=reason)
    if as_json:
        print_json({"case": case_id, "part": part.strip().lower(), "signatures_voided": voided})
        return
    console.print(f"Case #{case_id}: {escape(part.strip().lower())} written"
                  + (f"; {voided} signature(s) voided" if voided else "") + ".")


@board_app.command("decide")
@handle_errors
def decide(case_id: int = typer.Argument(..., metavar="CASE_ID"),
           strategy: Optional[str] = typer.Option(None, "--strategy", help="surgery_alone, "
                                                  "preoperative_radiotherapy_surgery, postoperative_radiotherapy, "
                                                  "re_excision, perioperative_chemotherapy, chemotherapy, "
                                                  "definitive_radiotherapy, interventional_radiology, follow_up_only, "
                                                  "further_investigations, best_supportive_care, referral_elsewhere, "
                                                  "trial_screening."),
           rationale: Optional[str] = typer.Option(None, "--rationale", help="Why the board decided so."),
           physician: Optional[str] = typer.Option(None, "--physician", help="The responsible physician."),
           screen: bool = typer.Option(False, "--screen-for-study", help="Open the patient's screening for the "
                                       "study (now if you may screen, else left to the site staff)."),
           answer: List[str] = typer.Option([], "--set", help="A screening answer field=value (with "
                                            "--screen-for-study)."),
           correct: bool = typer.Option(False, "--correct", help="Correct the decision already recorded (needs "
                                        "--reason; voids its signatures)."),
           reason: Optional[str] = ReasonOption,
           db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Record the board's decision on a case (or correct it with --correct)."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        if correct:
            voided = board.correct_decision(study, actor(user), case_id, reason or "", strategy=strategy,
                                            rationale=rationale, responsible_physician=physician)
            out = {"case": case_id, "corrected": True, "signatures_voided": voided}
            shown = f"Case #{case_id}: decision corrected" + (f"; {voided} signature(s) voided" if voided else "") + "."
        else:
            if strategy is None or rationale is None or physician is None:
                fail("decide: --strategy, --rationale and --physician are required (or --correct to change one)")
            result = board.decide(study, actor(user), case_id, strategy=strategy, rationale=rationale,
                                  responsible_physician=physician, screen_for_study=screen,
                                  screening=parse_assignments(answer) or None)
            # a screening refused after the decision is reported, exit 0: the decision is recorded and kept
            out = {"case": case_id, **result.as_dict()}
            shown = f"Case #{case_id}: {escape(result.describe())}"
            if result.screening_refused:
                shown += f"; open it with 'board screen {case_id}' once corrected"
            elif result.screening_pending:
                shown += " ('board screen')"
            shown += "."
    if as_json:
        print_json(out)
        return
    console.print(shown, soft_wrap=True)


@board_app.command("screen")
@handle_errors
def screen(case_id: int = typer.Argument(..., metavar="CASE_ID"),
           answer: List[str] = typer.Option([], "--set", help="A screening answer field=value."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Open the screening a board decision asked for (the meeting's date is the screening date)."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        result = board.open_screening(study, actor(user), case_id, parse_assignments(answer))
    if as_json:
        print_json({"case": case_id, "screening": result.screening_id, "decision": result.screening_decision})
        return
    console.print(f"Case #{case_id}: screening #{result.screening_id} opened "
                  f"({result.screening_decision.replace('_', ' ')}).")


@board_app.command("sign")
@handle_errors
def sign(case_id: int = typer.Argument(..., metavar="CASE_ID"),
         meaning: str = typer.Option(..., "--meaning", help="What the signature means, e.g. 'I approve this "
                                     "decision'."),
         password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
         db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Sign a board decision electronically: your password is asked again (21 CFR 11.200)."""
    import getpass

    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (signing): ")
    else:
        fail("sign: the password is entered at each signing: on a terminal, or with --password-stdin")
    with StudyDB.open(db) as study:
        who = actor(user)
        who.password = lambda: password  # the signing password also signs the user in
        signed = board.sign_decision(study, who, case_id, password, meaning)
    if as_json:
        print_json({"case": signed.case_id, "subject": signed.subject, "signature": signed.signature.as_dict()})
        return
    console.print(escape(signed.signature.manifestation()), soft_wrap=True)


def _histotype_label(histotype_id: str) -> str:
    """A catalogue id as its WHO 2020 name, for the reader (the id itself if the catalogue lacks it)."""
    from sarcotrial.domain.histology import histotype
    from sarcotrial.errors import InvalidValue

    try:
        return histotype(histotype_id).name
    except InvalidValue:
        return histotype_id


def _fields(rows: list[tuple[str, str]]) -> Table:
    """Labelled lines, indented, each value wrapped at the terminal's width under itself (a rationale or a
    signature runs longer than 80 columns)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(f"  {label}:", value)
    return grid


@board_app.command("show")
@handle_errors
def show(meeting_id: int = typer.Argument(..., metavar="MEETING_ID"),
         db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """A meeting: who was present, the quorum, and each case with its decision and signatures."""
    from sarcotrial.domain.board import DISCIPLINES
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        view = board.meeting(study, actor(user), meeting_id)
    if as_json:
        print_json(view.as_dict())
        return
    console.print(f"[bold]Board meeting #{view.id}[/], {view.meeting_date.isoformat()}, site {escape(view.site)}")
    style = "green" if view.quorum.met else "red"
    if view.planned and not view.quorum.met:
        console.print("planned meeting: its quorum is known when the people present are recorded")
    else:
        console.print(f"[{style}]{view.quorum.describe()}[/]")
    present = _table("Present")
    present.add_column("Name")
    present.add_column("Discipline")
    for a in view.attendees:
        present.add_row(escape(a.name), DISCIPLINES.get(a.discipline, a.discipline))
    if view.attendees:
        console.print(present)
    for c in view.cases:
        console.print(f"\n[bold]Case #{c.id}[/] ({c.position}): {escape(c.subject)}")
        rows = [("Question", escape(c.question)), ("Imaging", escape(c.imaging_summary or "not given")),
                ("Pathology", escape(c.pathology_summary or "not given"))]
        d = c.decision
        if d is None:
            rows.append(("Decision", "not recorded"))
        else:
            rows.append(("Decision", escape(d.strategy_label) + (f" [red]({'; '.join(d.flags)})[/]" if d.flags else "")))
            rows += [("Rationale", escape(d.rationale)), ("Responsible physician", escape(d.responsible_physician))]
            if d.screen_for_study:
                rows.append(("Screening for the study", f"#{d.screening_id}" if d.screening_id else "to be opened"))
            for s in d.signatures or ():
                colour = "green" if s.status == "valid" else "red"
                rows.append(("Signature", f"[{colour}]{escape(s.manifestation())}[/]"))
            if not d.signatures:
                rows.append(("Signature", "Not signed"))
        console.print(_fields(rows))
    if view.hidden_note:
        console.print(f"\n{escape(view.hidden_note[0].upper() + view.hidden_note[1:])}.")


@board_app.command("minutes")
@handle_errors
def minutes(meeting_id: int = typer.Argument(..., metavar="MEETING_ID"),
            out: Path = typer.Option(..., "--out", help="The PDF to write."),
            identified: bool = typer.Option(False, "--identified", help="Print patients' names (a role that reads "
                                            "identifiers only; each reading is logged)."),
            db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The minutes of a meeting as one PDF: patients by subject id only unless --identified."""
    from sarcotrial.services import board
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        view = board.write_minutes(study, actor(user), meeting_id, out, identified=identified)
    if as_json:
        print_json({"meeting": meeting_id, "pdf": str(out), "cases": len(view.cases), "identified": identified,
                    "quorum": view.quorum.as_dict()})
        return
    told = f"; {view.hidden_note}" if view.hidden_note else ""
    console.print(f"Minutes of meeting #{meeting_id} ({len(view.cases)} case(s){told}) written to {escape(str(out))}.")



# --------------------------------------------------------------------------- second opinions
@second_opinion_app.command("new")
@handle_errors
def opinion_new(subject: str = typer.Option(..., "--patient", help="The registered patient's subject id."),
                kind: str = typer.Option(..., "--kind", help="pathology or imaging."),
                centre: str = typer.Option(..., "--centre", help="The referring centre."),
                received: str = typer.Option(..., "--received", help="The date the request was received, YYYY-MM-DD."),
                question: str = typer.Option(..., "--question", help="The question asked."),
                db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Register a request for a second opinion on a registered patient."""
    from sarcotrial.services import second_opinion
    from sarcotrial.services.study import StudyDB

    day = parse_date(received, "received")
    with StudyDB.open(db) as study:
        number = second_opinion.new_request(study, actor(user), subject, kind=kind, referring_centre=centre,
                                            received_date=day, question=question)
    if as_json:
        print_json({"second_opinion": number, "subject": subject.strip().upper()})
        return
    console.print(f"Second-opinion request #{number} for {escape(subject.strip().upper())} registered.")


@second_opinion_app.command("attach")
@handle_errors
def opinion_attach(opinion_id: int = typer.Argument(..., metavar="REQUEST_ID"),
                   files: List[Path] = typer.Argument(..., metavar="FILE...", help="PDF or image files."),
                   db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Attach documents to a request: stored in the study database with their SHA-256 and size. Every file
    is read and checked first, then all are stored together: a refused file leaves none stored."""
    from sarcotrial.services import second_opinion
    from sarcotrial.services.study import StudyDB

    documents = second_opinion.read_documents(files)
    with StudyDB.open(db) as study:
        stored = second_opinion.attach_documents(study, actor(user), opinion_id, documents)
    if as_json:
        print_json({"second_opinion": opinion_id, "documents": [d.as_dict() for d in stored]})
        return
    for d in stored:
        console.print(f"{escape(d.filename)}: {d.media_type}, {d.size_bytes} bytes, SHA-256 {d.sha256}", soft_wrap=True)


@second_opinion_app.command("review")
@handle_errors
def opinion_review(opinion_id: int = typer.Argument(..., metavar="REQUEST_ID"),
                   text: str = typer.Option(..., "--text", help="The review."),
                   outcome: str = typer.Option(..., "--outcome", help="confirmed, revised or not_assessable."),
                   reviewer: str = typer.Option(..., "--reviewer", help="The reviewer's name."),
                   report_date: str = typer.Option(..., "--report-date", help="The report's date, YYYY-MM-DD."),
                   histotype: Optional[str] = typer.Option(None, "--histotype", help="A revised pathology diagnosis: "
                                                           "the histotype id (see 'rules histotype')."),
                   grade: Optional[int] = typer.Option(None, "--grade", help="A revised diagnosis: the FNCLCC grade "
                                                       "1-3, where the histotype is graded."),
                   reason: Optional[str] = ReasonOption,
                   db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Record the review of a request (pathologist: pathology; radiologist: imaging)."""
    from sarcotrial.services import second_opinion
    from sarcotrial.services.study import StudyDB

    day = parse_date(report_date, "report_date")
    with StudyDB.open(db) as study:
        days = second_opinion.review(study, actor(user), opinion_id, text=text, outcome=outcome, reviewer=reviewer,
                                     report_date=day, revised_histotype=histotype, grade=grade, reason=reason)
    if as_json:
        print_json({"second_opinion": opinion_id, "outcome": outcome.strip().lower(), "turnaround_days": days})
        return
    console.print(f"Request #{opinion_id}: review recorded ({escape(outcome.strip().lower())}); turnaround {days} day(s).")


@second_opinion_app.command("list")
@handle_errors
def opinion_list(centre: Optional[str] = typer.Option(None, "--centre", help="One referring centre only."),
                 level: float = typer.Option(0.95, "--level", help="Confidence level of the revision rate's interval."),
                 db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Every request of your sites, and the rate of revised pathology diagnoses per referring centre
    (exact Clopper-Pearson interval)."""
    from sarcotrial.errors import InvalidValue
    from sarcotrial.services import second_opinion
    from sarcotrial.services.study import StudyDB

    if not 0 < level < 1:
        raise InvalidValue("level", "must be between 0 and 1 (e.g. 0.95)", level)
    with StudyDB.open(db) as study:
        rows = second_opinion.listing(study, actor(user), centre=centre)
    rates = second_opinion.revision_rates(rows, level=level)
    if as_json:
        print_json({"second_opinions": [r.as_dict() for r in rows], "revision_rates": [r.as_dict() for r in rates]})
        return
    if not rows:
        console.print("No second-opinion request recorded.")
        return
    table = _table("Second opinions")
    table.collapse_padding = True  # two spaces between columns, not three: eight columns in 80
    for name in ("#", "Patient", "Kind", "Centre", "Received", "Outcome", "Days", "Docs"):
        # the two columns that wrap fold a long word rather than cut it ("Leiomyosarcoma," whole)
        table.add_column(name, no_wrap=name not in ("Centre", "Outcome"),
                         overflow="fold" if name in ("Centre", "Outcome") else "ellipsis",
                         min_width=16 if name == "Outcome" else None, max_width=12 if name == "Centre" else None,
                         justify="right" if name in ("#", "Days", "Docs") else "left")
    for r in rows:
        outcome = (r.outcome or "pending").replace("_", " ")
        if r.revised_histotype:
            outcome += f": {_histotype_label(r.revised_histotype)}" + (f", G{r.revised_grade}" if r.revised_grade else "")
        docs = str(len(r.documents)) + ("" if all(d.intact for d in r.documents) else " [red](changed!)[/]")
        table.add_row(str(r.id), escape(r.subject), r.kind, escape(r.referring_centre), r.received_date.isoformat(),
                      escape(outcome), "" if r.turnaround_days is None else str(r.turnaround_days), docs)
    console.print(table)
    if rates:
        summary_table = _table(f"Revised pathology diagnoses per referring centre ({level:.0%} CI, Clopper-Pearson)")
        for name in ("Centre", "Revised", "Assessed", "Rate", "CI", "Median days"):
            summary_table.add_column(name, no_wrap=name != "Centre", justify="left" if name == "Centre" else "right")
        for r in rates:
            rate = "" if r.rate is None else f"{r.rate:.0%}"
            ci = "" if r.ci is None else f"{r.ci[0]:.0%}-{r.ci[1]:.0%}"
            median = "" if r.median_turnaround_days is None else f"{r.median_turnaround_days:g}"
            summary_table.add_row(escape(r.centre), str(r.revised), str(r.assessed), rate, ci, median)
        console.print(summary_table)
