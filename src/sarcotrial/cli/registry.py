"""``sarcotrial registry``: the unit's registry beside its study (molecular findings, family history,
risk predictions, trial matching, the case file), and ``nomogram load`` / ``nomogram loaded``.

The use cases live in :mod:`sarcotrial.services.registry` and the rules in the domain
(:mod:`~sarcotrial.domain.molecular`, :mod:`~sarcotrial.domain.predisposition`,
:mod:`~sarcotrial.domain.eligibility`, :mod:`sarcotrial.riskmodels`); this module reads options and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    UserOption,
    actor,
    console,
    handle_errors,
    parse_assignments,
    parse_date,
    print_json,
    read_document,
)

registry_app = typer.Typer(help="The unit's registry: molecular findings, family history, risk predictions, "
                           "trial matching and each patient's case file.", no_args_is_help=True)

ReasonOption = typer.Option(None, "--reason", help="Why a recorded document is replaced (required then).")
SubjectArgument = typer.Argument(..., metavar="SUBJECT_ID", help="The registry patient's subject id.")


def _indented(markup: str) -> None:
    """A line indented by two, its continuation lines too."""
    console.print(Padding(markup, (0, 0, 0, 2)))


def _table(title: str | None = None) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def _record(kind: str, subject_id: str, file: Path, reason: Optional[str], db: Optional[str], user: Optional[str]) -> None:
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    document = read_document(file, kind)
    with StudyDB.open(db) as study:
        revision = registry.record_document(study, actor(user), subject_id, kind, document, reason=reason)
    label = kind.replace("_", " ")
    console.print(f"{subject_id.upper()}: {label} recorded (revision {revision}). "
                  f"See: sarcotrial registry show {subject_id.upper()}", soft_wrap=True)


@registry_app.command("molecular")
@handle_errors
def molecular(subject_id: str = SubjectArgument,
              file: Path = typer.Argument(..., metavar="FINDINGS", help="The findings document (YAML or JSON; "
                                          "docs/molecular.md)."),
              reason: Optional[str] = ReasonOption, db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Record a registry patient's molecular findings (every gene, alteration and HGVS checked first)."""
    _record("molecular", subject_id, file, reason, db, user)


@registry_app.command("family")
@handle_errors
def family(subject_id: str = SubjectArgument,
           file: Path = typer.Argument(..., metavar="FAMILY", help="The family-history document (YAML or JSON; "
                                       "docs/predisposition.md)."),
           reason: Optional[str] = ReasonOption, db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Record a registry patient's family history, NF1 findings and germline findings."""
    _record("family_history", subject_id, file, reason, db, user)


@registry_app.command("predict")
@handle_errors
def predict(subject_id: str = SubjectArgument,
            model: str = typer.Argument(..., metavar="MODEL", help="A loaded model's id (sarcotrial nomogram loaded)."),
            set_values: Optional[List[str]] = typer.Option(None, "--set", help="An input, name=value (repeatable)."),
            input_file: Optional[Path] = typer.Option(None, "--input", help="The inputs as one JSON object."),
            on: Optional[str] = typer.Option(None, "--date", help="The prediction's date (default today)."),
            db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Predict a registry patient's risk with a loaded model, and keep it in the patient's file; an input the
    model file says the study records is taken from the record when not given, refused when it disagrees."""
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    inputs = parse_assignments(set_values, input_file)
    day = parse_date(on, "date") if on else None
    with StudyDB.open(db) as study:
        view = registry.predict(study, actor(user), subject_id, model, inputs, on=day)
    if as_json:
        print_json(view.as_dict())
        return
    _print_prediction(view)


def _print_prediction(view) -> None:
    console.print(f"[bold]{escape(view.model.name)}[/] ({escape(view.model.key)} {escape(view.model.version)}): "
                  f"{escape(view.model.outcome)}, {view.predicted_on.isoformat()}")
    table = _table()
    table.add_column("Horizon")
    table.add_column("Risk", justify="right")
    for horizon, risk in sorted(view.risks.items()):
        table.add_row(f"{horizon:g} year{'' if horizon == 1 else 's'}", f"{100 * risk:.1f} %")
    console.print(table)
    taken = getattr(view, "from_record", {}) or {}
    if taken:
        _indented("From the study's record: " + "; ".join(
            f"{escape(name)} = {escape(str(view.inputs.get(name)))} ({escape(where)})" for name, where in taken.items()))
    for limit in view.limits:
        _indented(escape(limit))


def _print_matches(matches) -> None:
    if not matches:
        console.print("No open study to match (the patient is enrolled, withdrawn or dead).")
        return
    for m in matches:
        style = {"meets": "bold green", "fails": "bold red", "may meet": "bold yellow"}[m.verdict]
        console.print(f"{escape(m.protocol)} {escape(m.protocol_version)}: [{style}]{m.verdict}[/]"
                      + (f" (as {escape(m.subject_id)})" if m.subject_id else "")
                      + (f" [bold]but closed to accrual[/]: {escape(m.closed)}" if m.closed else ""))
        for reason in m.failed:
            _indented(f"fails: {escape(reason)}")
        for text in m.unknown:
            _indented(f"unknown: {escape(text)}")
        if m.known:
            known = ", ".join(f"{k}={v}" for k, v in sorted(m.known.items()))
            _indented(f"known: {escape(known)}")


@registry_app.command("match")
@handle_errors
def match(subject_id: str = SubjectArgument, db: Optional[str] = DbOption, user: Optional[str] = UserOption,
          as_json: bool = JsonOption) -> None:
    """The loaded protocols the patient meets, fails (with the criterion) or may meet (with what is unknown).

    Exit status 1 when the patient meets and may meet no study open for accrual.
    """
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        matches = registry.match(study, actor(user), subject_id)
    if as_json:
        print_json({"subject_id": subject_id.upper(), "matches": [m.as_dict() for m in matches]})
    else:
        _print_matches(matches)
    if not any(m.verdict in ("meets", "may meet") and m.open_for_accrual for m in matches):
        raise typer.Exit(1)


@registry_app.command("screen")
@handle_errors
def screen(subject_id: str = SubjectArgument,
           set_values: Optional[List[str]] = typer.Option(None, "--set", help="A screening answer, field=value "
                                                          "(repeatable); wins over what is known."),
           on: Optional[str] = typer.Option(None, "--date", help="The screening date (default today)."),
           for_study: Optional[str] = typer.Option(None, "--for", help="The study to screen for (an acronym that "
                                                   "'study list' shows; default: the study worked in)."),
           db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Open screening for a study with what is already known of the patient filled in; a registry patient
    of another study is taken into it first (one identity, a subject id of that study)."""
    from sarcotrial.services import pathway, registry
    from sarcotrial.services.study import StudyDB

    answers = parse_assignments(set_values)
    day = parse_date(on, "date") if on else None
    with StudyDB.open(db) as study:
        who = actor(user)
        row = registry.open_screening(study, who, subject_id, answers, screening_date=day, for_study=for_study)
        target = study.sibling(for_study) if for_study else study
        screened = pathway.subject_of_screening(target, row)
        result = pathway.screening_file(target, who, screened)
    if as_json:
        print_json({"subject_id": screened, "study": target.protocol.acronym, "decision": row.decision,
                    "screening": result.as_dict() if hasattr(result, "as_dict") else None})
        return
    taken = f" (taken into {target.protocol.acronym} as {screened})" if screened != subject_id.strip().upper() else ""
    console.print(f"{subject_id.upper()}{taken} screened for {target.protocol.acronym}: {row.decision.replace('_', ' ')}.")
    for line in (row.reasons or "").splitlines():
        console.print(f"  {escape(line)}")


@registry_app.command("show")
@handle_errors
def show(subject_id: str = SubjectArgument, db: Optional[str] = DbOption, user: Optional[str] = UserOption,
         as_json: bool = JsonOption) -> None:
    """A registry patient's file: board cases, molecular findings and flags, predisposition, predictions, trials."""
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        file = registry.case_file(study, actor(user), subject_id)
    if as_json:
        print_json(file.as_dict())
        return
    histotype = f"{file.histotype_name} ({file.histotype_source})" if file.histotype else "not recorded"
    console.print(f"[bold]{file.subject_id}[/]  {file.sex}, born {file.year_of_birth}, site {escape(file.site)}, "
                  f"{file.status.replace('_', ' ')}; histotype {escape(histotype)}")
    if len(file.studies) > 1:
        _indented("in " + "; ".join(f"{escape(a)} as {escape(sid)} ({status.replace('_', ' ')})"
                                    for a, sid, status in file.studies))
    for flag in file.flags:
        _indented(f"[bold red]flag[/] {escape(flag)}")
    if file.cases:
        table = _table("Board")
        table.add_column("Date")
        table.add_column("Question", overflow="fold")
        table.add_column("Decision", overflow="fold")
        for day, case in file.cases:
            decision = getattr(case, "decision", None)
            table.add_row(day.isoformat(), escape(case.question or ""),
                          escape(getattr(decision, "strategy_label", None) or getattr(decision, "strategy", "") or "")
                          if decision else "-")
        console.print(table)
    if file.second_opinions:
        table = _table("Second opinions")
        table.add_column("#", justify="right")
        table.add_column("Kind")
        table.add_column("Centre", overflow="fold")
        table.add_column("Received")
        table.add_column("Outcome", overflow="fold")
        for o in file.second_opinions:
            outcome = (o.outcome or "awaiting review").replace("_", " ")
            if o.revised_histotype:
                outcome += f": {registry.histotype_name(o.revised_histotype)}" + (f", G{o.revised_grade}" if o.revised_grade else "")
            table.add_row(str(o.id), o.kind, escape(o.referring_centre), o.received_date.isoformat(), escape(outcome))
        console.print(table)
    if file.interpretation:
        table = _table("Molecular findings")
        table.add_column("Finding", overflow="fold")
        table.add_column("Meaning", overflow="fold")
        for item in file.interpretation:
            table.add_row(escape(item.finding.label), escape(item.relation + (f" ({item.level})" if item.level else "")))
        console.print(table)
    if file.predisposition is not None:
        p = file.predisposition
        console.print(f"Predisposition: Chompret 2015 {p.chompret.verdict.replace('_', ' ')}; "
                      f"NF1 (Legius 2021) {p.nf1.verdict.replace('_', ' ')}; counselling referral "
                      f"{'suggested' if p.referral.refer else 'not suggested'}")
    for view in file.predictions:
        _print_prediction(view)
    _print_matches(file.matches)


# --------------------------------------------------------------------------- loaded risk models
@handle_errors
def nomogram_load(file: Path = typer.Argument(..., metavar="FILE", help="A risk-model file (docs/risk-models.md)."),
                  endpoint: Optional[str] = typer.Option(None, "--endpoint", help="The study's time-to-event endpoint "
                                                         "that observes the model's outcome (e.g. dmfs, lrfs, dss), "
                                                         "to check the model on the study's patients."),
                  db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Load a risk-model file into the study database (validated first; kept with its SHA-256)."""
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        view = registry.load_model_file(study, actor(user), file, endpoint=endpoint)
    if as_json:
        print_json(view.as_dict())
        return
    console.print(f"Loaded {escape(view.key)} {escape(view.version)} ({escape(view.name)}), sha256 {view.sha256[:12]}...",
                  soft_wrap=True)


@handle_errors
def nomogram_loaded(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The risk-model files loaded in the study database. Exit status 1 when none is."""
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        views = registry.model_files(study, actor(user))
    if as_json:
        print_json({"models": [v.as_dict() for v in views]})
    else:
        table = _table("Loaded risk models")
        table.add_column("Id")
        table.add_column("Version")
        table.add_column("Outcome", overflow="fold")
        table.add_column("Horizons")
        table.add_column("Status", overflow="fold")
        for v in views:
            status = "synthetic" if v.synthetic else (v.validation_status or "")
            table.add_row(escape(v.key), escape(v.version), escape(v.outcome),
                          ", ".join(f"{h:g}" for h in v.horizons) + " y", escape(status))
        console.print(table if views else "No risk model is loaded (sarcotrial nomogram load FILE).")
    if not views:
        raise typer.Exit(1)


@handle_errors
def nomogram_study(model: str = typer.Argument(..., metavar="MODEL", help="A loaded model's id."),
                   horizon: Optional[float] = typer.Option(None, "--horizon", help="One of the model's horizons, years "
                                                           "(default: the longest at which the numbers can be computed)."),
                   groups: int = typer.Option(3, "--groups", help="Risk groups for the calibration table."),
                   cutoff: Optional[str] = typer.Option(None, "--cutoff", help="Data cut-off date (default today)."),
                   plot: Optional[Path] = typer.Option(None, "--plot", help="Write the calibration figure (.png, .svg, .pdf)."),
                   db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Does the model hold here? Its predictions for the study's patients against the endpoint it was loaded with.

    Exit status 1 when it cannot be computed (too few patients with a prediction, no event, ...).
    """
    from sarcotrial.cli.nomogram_assess import check_plot_path, print_performance, write_plot
    from sarcotrial.services import registry
    from sarcotrial.services.study import StudyDB

    check_plot_path(plot)
    day = parse_date(cutoff, "cutoff") if cutoff else None
    with StudyDB.open(db) as study:
        result = registry.performance_on_study(study, actor(user), model, horizon=horizon, cutoff=day, groups=groups)
    perf, view = result.performance, result.model
    if perf is not None and plot is not None:
        write_plot(perf, f"{view.name}, {result.horizon:g} years", plot)
    if as_json:
        print_json(result.as_dict())
    elif perf is None:
        console.print(f"{escape(view.key)} on the study's patients ({len(result.patients)} with a prediction, "
                      f"{result.not_predicted} enrolled without one): not computable: {escape(result.problem or '')}",
                      soft_wrap=True)
    else:
        for h, why in result.longer_left:
            console.print(f"[yellow]{h:g}-year horizon left:[/] {escape(why)}")
        print_performance(view.name, view.key, view.version, view.outcome, view.synthetic, perf,
                          f"The study's patients, endpoint {view.endpoint}", len(result.patients) + result.not_predicted,
                          result.not_predicted, plot, dropped_as="(enrolled without a prediction by this model)")
    if perf is None:
        raise typer.Exit(1)
