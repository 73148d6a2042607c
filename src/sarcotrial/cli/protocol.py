"""``sarcotrial protocol``: list, validate and show protocol files."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    UserOption,
    actor,
    console,
    err_console,
    fail,
    handle_errors,
    print_json,
)

SHORT_UNITS = {"percent_volume": " %", "percent_prescription": " % Rx", "gy": " Gy", "cc": " cc"}

protocol_app = typer.Typer(help="Protocol files: list the shipped ones, validate, show; amend a running study.",
                           no_args_is_help=True)


@protocol_app.command("list")
def protocol_list() -> None:
    """The protocols that ship with SarcoTrial."""
    from sarcotrial.protocol import read_protocol, shipped_protocols

    for name in shipped_protocols():
        p = read_protocol(name).protocol
        console.print(f"{name}: {p.acronym} v{p.version} — {p.identification.title.split(':')[0]}")


@protocol_app.command("validate")
def protocol_validate(ref: str = typer.Argument(..., help="A shipped protocol's name (see 'protocol list', e.g. sprint) or a protocol file path.")) -> None:
    """Check a protocol file against the schema; every problem at once, each named by its path and rule
    (exit status 0 valid, 2 not valid)."""
    from sarcotrial.protocol import read_protocol
    from sarcotrial.protocol.loader import ProtocolError

    try:
        loaded = read_protocol(ref)
    except ProtocolError as exc:
        count = f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}"
        console.print(f"[bold red]{escape(exc.source)}: not valid, {count}[/]", soft_wrap=True)
        for problem in exc.problems:
            console.print(f"  - {escape(problem)}", soft_wrap=True)
        raise typer.Exit(2)
    p = loaded.protocol
    console.print(f"[green]valid[/]: {p.acronym} v{p.version} ({loaded.source}), {len(p.eligibility.criteria)} criteria, "
                  f"{len(p.forms)} forms, {len(p.visits)} visits, {len(p.endpoints)} endpoints, "
                  f"{len(p.assumptions)} assumed parameters to confirm; sha256 {loaded.sha256[:16]}")


def _item(indent: int, text: str) -> None:
    """A line of the protocol's summary, indented with its wrapped lines (readable at 80 columns)."""
    from rich.padding import Padding

    console.print(Padding(text, (0, 0, 0, indent)))


def _show_radiotherapy(rt, mark) -> None:
    console.print(f"{rt.technique}, {rt.timing}: {rt.fractions} fractions, {rt.fractions_per_week} per week "
                  f"({', '.join(rt.treatment_days)})")
    for level in rt.dose_levels:
        _item(2, f"{level.target} -> {level.ptv}: {level.total_dose_gy:g} Gy at {level.dose_per_fraction_gy:g} Gy/fraction"
                      f" — {level.description or ''}")
    margins = ", ".join(f"{k} {v:g} mm" for k, v in rt.ptv_margins_mm.items())
    _item(2, f"PTV margins: {margins}{mark('treatment.radiotherapy.ptv_margins_mm')}")
    _item(2, f"alpha/beta {rt.alpha_beta_gy:g} Gy{mark('treatment.radiotherapy.alpha_beta_gy')}")
    dev = rt.deviations
    _item(2, f"Deviations: prolongation minor > {dev.prolongation_minor_days} d, major > {dev.prolongation_major_days} d; "
                  f"dose minor > {dev.dose_minor_percent:g} %, major > {dev.dose_major_percent:g} %"
                  f"{mark('treatment.radiotherapy.deviations')}")
    if rt.objectives:
        from rich import box

        # readable at 80 columns: the objective and its limits in short units, the source wrapped
        console.print("Dose objectives" + mark("treatment.radiotherapy.objectives") + ":")
        table = Table("structure", "per protocol", "minor deviation", "source", box=box.SIMPLE_HEAD, pad_edge=False,
                      show_edge=False, collapse_padding=True)
        table.columns[1].no_wrap = table.columns[2].no_wrap = True
        table.columns[0].overflow = table.columns[3].overflow = "fold"
        for o in rt.objectives:
            unit = SHORT_UNITS[o.unit]
            table.add_row(o.structure, f"{o.metric} {o.comparator} {o.per_protocol:g}{unit}",
                          f"{o.comparator} {o.minor_deviation:g}{unit}", o.source or "")
        console.print(table)
        console.print("  [dim]%: of the structure's volume; % Rx: of the prescribed dose; worse than the minor "
                      "deviation's limit: a major deviation[/]")


def _show_arms(p, mark) -> None:
    arms = ", ".join(f"{a.name} ({a.id}, ratio {a.ratio})" for a in p.arms)
    _item(0, f"Arms: {arms}")
    r = p.randomisation
    if r is None:
        return
    factors = ", ".join(f.id for f in r.factors) + (", site" if r.site else "")
    how = {"permuted_blocks": "stratified permuted blocks", "minimisation": "minimisation (Pocock-Simon)"}.get(r.method, r.method)
    extra = ""
    if r.method == "permuted_blocks" and getattr(r, "block_sizes", None):
        extra = f", block sizes {', '.join(str(b) for b in r.block_sizes)} drawn at random"
    elif r.method == "minimisation" and getattr(r, "minimisation", None) is not None:
        extra = f", the minimising arm with probability {r.minimisation.probability:g}"
    _item(2, f"Randomisation: {how} on {factors or 'no factor'}{extra}{mark('randomisation.factors')}")


def _show_systemic(systemic, mark) -> None:
    console.print("Systemic therapy:")
    for regimen in systemic.regimens:
        drugs = "; ".join(f"{d.drug} {d.dose:g} mg/{d.per} day{'s' if len(d.days) > 1 else ''} "
                          f"{', '.join(str(x) for x in d.days)}" for d in regimen.drugs)
        cycles = f", up to {regimen.max_cycles} cycles" if getattr(regimen, "max_cycles", None) else ""
        arms = f" [dim](arms: {', '.join(regimen.arms)})[/]" if getattr(regimen, "arms", None) else ""
        _item(2, f"{regimen.name}: {drugs}, every {regimen.cycle_days} days{cycles}{arms}")
    administration = getattr(systemic, "administration", None)
    if administration is not None:
        _item(2, f"Cycles entered on form {administration.form}")
    anthracycline = getattr(systemic, "anthracycline", None)
    if anthracycline is not None:
        _item(2, f"Cumulative doxorubicin-equivalent dose: warned before a cycle that would cross "
                 f"{anthracycline.warn_cumulative_mg_m2:g} mg/m2 ({anthracycline.equivalence})"
                 f"{mark('treatment.systemic.anthracycline.warn_cumulative_mg_m2')}")


@protocol_app.command("show")
@handle_errors
def protocol_show(ref: str = typer.Argument(..., help="A shipped protocol's name (see 'protocol list', e.g. sprint) or a protocol file path."),
                  as_json: bool = JsonOption) -> None:
    """The protocol as a clinician reads it; assumed parameters are marked."""
    from sarcotrial.protocol import ASSUMED, read_protocol

    loaded = read_protocol(ref)
    p = loaded.protocol
    if as_json:
        from sarcotrial.services.shapes import protocol_json

        print_json(protocol_json(loaded))
        return
    ident = p.identification
    d = ident.design
    console.rule(f"[bold]{ident.acronym}[/] v{ident.version} ({ident.version_date})")
    _item(0, escape(ident.title))
    console.print(f"Design: {d.allocation}, {d.centres}, phase {d.phase or '-'}, target accrual {d.target_accrual}")
    mark = lambda path: f" [yellow]({ASSUMED})[/]" if p.is_assumed(path) else ""  # noqa: E731

    console.rule("Eligibility")
    for c in p.eligibility.criteria:
        _item(2, f"{c.kind}: {escape(c.text)}  [dim]({c.id})[/]")

    console.rule("Treatment")
    if p.arms:
        _show_arms(p, mark)
    rt = p.treatment.radiotherapy
    if rt is not None:
        _show_radiotherapy(rt, mark)
    if p.treatment.systemic is not None:
        _show_systemic(p.treatment.systemic, mark)
    if p.treatment.interventions is not None:
        _item(0, f"Interventional procedures on form {p.treatment.interventions.form}; complications graded by CIRSE")
    courses = p.treatment.radiotherapy_courses
    if courses is not None:
        _item(0, f"Further radiotherapy courses on forms {courses.course_form} and {courses.fraction_form}: "
                 f"alpha/beta {courses.alpha_beta_gy:g} Gy, {courses.calendar} holidays, schedules "
                 f"{', '.join(courses.schedules)}{mark('treatment.radiotherapy_courses.alpha_beta_gy')}")
    if p.functional_outcome is not None:
        _item(0, f"Function after limb surgery: {p.functional_outcome.score.upper()} on form {p.functional_outcome.form}")
    chemo = p.treatment.chemotherapy
    if chemo is not None:
        console.print(f"Chemotherapy: {'allowed' if chemo.allowed else 'not allowed'} ({'; '.join(chemo.regimens)})")
    s = p.treatment.surgery
    if s is not None:
        console.print(f"Surgery: {s.timing}, {s.interval_after_rt_weeks_min}-{s.interval_after_rt_weeks_max} weeks after RT"
                      f"{mark('treatment.surgery.interval_after_rt_weeks_min')}")
    if p.response is not None:
        r = p.response
        confirmed = (f"confirmed by a second assessment at least {r.confirmation_min_days} days later" if r.confirmation
                     else f"unconfirmed (confirmed, at least {r.confirmation_min_days} days apart, also reported)")
        every = f", assessed every {r.assessment_every_weeks} weeks" if r.assessment_every_weeks else ""
        _item(0, f"Response: {r.criteria} on form {r.form}{every}; best response {confirmed}; stable disease at "
                 f"least {r.sd_min_days} days from enrolment{mark('response.sd_min_days')}")

    console.rule("Visit schedule")
    for v in p.visits:
        ref = v.anchor_ref
        anchor = v.anchor if isinstance(v.anchor, str) else \
            f"{ref.instance if ref.instance != 'first' else ''} {ref.form}.{ref.field}".strip() + \
            (f" where {', '.join(f'{k}={_shown(w)}' for k, w in ref.where.items())}" if ref.where else "")
        when = f"{anchor} + {v.offset_months} months" if v.offset_months else f"{anchor} + {v.offset_days} days"
        repeat = ""
        if v.repeat:
            r = v.repeat
            step = f"every {r.every_days} days" if r.every_days else f"every {r.every_months} months"
            until = f"{r.count} times" if r.count else (f"to day {r.until_days}" if r.until_days is not None else f"to month {r.until_months}")
            repeat = f", {step} {until}"
        window = f" (window -{v.window_before_days}/+{v.window_after_days} d)" if v.window_before_days or v.window_after_days else ""
        parts = [", ".join(v.forms)] if v.forms else []
        if v.optional_forms:
            parts.append(f"(when they occur: {', '.join(v.optional_forms)})")
        collected = " ".join(parts) or "none"
        _item(2, f"{v.name}: {when}{repeat}{window}; forms {collected}{mark(f'visits.{v.id}.window_after_days')}")

    console.rule("Endpoints")
    for e in p.endpoints:
        _item(2, f"[bold]{e.name}[/] ({e.role}, {e.kind}): {escape(p.render(e.definition))}")
        if e.kind == "time_to_event":
            competing = f"; competing: {', '.join(e.competing_risks)}" if e.competing_risks else ""
            _item(6, f"origin {e.origin}; events {', '.join(e.events)}{competing}; censoring: {e.censoring}"
                          f"{mark(f'endpoints.{e.id}.events') or mark(f'endpoints.{e.id}.competing_risks')}")
    st = p.statistics.primary
    console.rule("Statistics")
    primary = next((e.name for e in p.endpoints if e.id == st.endpoint), st.endpoint)
    if st.kind == "comparison":
        from sarcotrial.outcomes.design import schoenfeld_events

        # a valid protocol's comparison has two arms, one of them the control (references.version_problems)
        control = next(a for a in p.arms if a.id == st.control_arm)
        experimental = next(a for a in p.arms if a.id != st.control_arm)
        events = schoenfeld_events(st.hazard_ratio, st.alpha, st.power, sided=st.sided,
                                   allocation=(experimental.ratio, control.ratio))
        strata = f" (stratified by {', '.join(st.stratified_by)})" if st.stratified_by else ""
        _item(0, f"Primary: {primary}, arms compared among {st.population} patients by the log-rank test{strata} "
                 f"and the Cox hazard ratio ({st.ci_level:.0%} CI); hazard ratio to detect {st.hazard_ratio:g}, "
                 f"{st.sided} alpha {st.alpha:g}, power {st.power:g}: {events.events} events "
                 f"(Schoenfeld){mark('statistics.primary.hazard_ratio')}")
    else:
        itt = "; intention to treat also reported" if st.also_report_itt else ""
        ci = {"clopper-pearson": "exact (Clopper-Pearson)"}.get(st.ci_method, st.ci_method)
        console.print(f"Primary: {primary} among {st.population} patients{itt}; "
                      f"H0 p = {st.null_rate:g} vs H1 p = {st.alternative_rate:g}, {st.sided} alpha {st.alpha:g}, "
                      f"power {st.power:g}; {st.ci_level:.0%} {ci} CI{mark('statistics.primary.null_rate')}")
    if p.pathology is not None:
        console.print(f"pCR: at most {p.pathology.pcr_max_viable_percent:g} % stainable tumour cells"
                      f"{mark('pathology.pcr_max_viable_percent')}; acute toxicity up to day {p.toxicity.acute_window_days} "
                      f"from the start of RT{mark('toxicity.acute_window_days')}")
    else:
        console.print(f"Acute toxicity up to day {p.toxicity.acute_window_days} from the start of treatment"
                      f"{mark('toxicity.acute_window_days')}")

    if p.checks:
        console.rule("Edit checks")
        ops = {"lt": "<", "le": "<=", "eq": "=", "ne": "!=", "ge": ">=", "gt": ">"}
        for c in p.checks:
            than = f"{c.than.instance if c.than.instance != 'first' else ''} {c.than.form}.{c.than.field}".strip()
            if c.than.where:
                than += f" ({', '.join(f'{k}={_shown(w)}' for k, w in c.than.where.items())})"
            rule = f"{c.min_days} to {c.max_days} days after {than}" if c.op == "within_days" else f"{ops[c.op]} {than}"
            when = f" when {', '.join(f'{k}={_shown(w)}' for k, w in c.when.items())}" if c.when else ""
            _item(2, f"[bold]{c.id}[/] ({c.kind}: {'refuses' if c.kind == 'hard' else 'opens a query'}): "
                     f"{c.field.form}.{c.field.field} {rule}{when}")
    if p.consent or p.withdrawal or p.safety or p.missing_codes:
        console.rule("Trial conduct")
    if p.consent:
        console.print(f"Consent on form {p.consent.form}; current consent document {p.consent.current_version}"
                      f"{mark('consent.current_version')}")
    if p.withdrawal:
        stops = "; ".join(f"{kind}: {', '.join(forms)}" for kind, forms in p.withdrawal.stops.items())
        _item(0, f"Withdrawal on form {p.withdrawal.form}; it stops later {stops}{mark('withdrawal.stops')}")
    if p.safety:
        console.print(f"Serious adverse events reported within {p.safety.report_within_hours} h of the site's awareness")
    if p.missing_codes:
        console.print("Missing-data codes: " + ", ".join(f"{c.code} ({c.label})" for c in p.missing_codes))

    console.rule("Case report forms")
    for form in p.forms:
        fields = ", ".join(f"{f.id}{'*' if f.required else ''}" for f in form.fields)
        _item(2, f"[bold]{form.id}[/] ({form.name}): {fields}")
    console.print("  (* required)")
    if p.assumptions:
        console.rule(f"Assumed parameters ({len(p.assumptions)}): {ASSUMED}")
        for path, note in p.assumptions.items():
            _item(2, f"{path}: {escape(str(note))}")


def _shown(value) -> str:
    """A filter's value as a reader writes it: a list as 'a or b'."""
    return " or ".join(map(str, value)) if isinstance(value, list) else str(value)


@protocol_app.command("amend")
@handle_errors
def protocol_amend(ref: str = typer.Argument(..., help="The new protocol version's file (or a shipped name)."),
                   reason: Optional[str] = typer.Option(None, "--reason", help="Why (e.g. ethics committee approval of "
                                                        "12 May); required unless --dry-run."),
                   dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes and problems; write nothing."),
                   db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Apply a new protocol version to a running study without losing or reinterpreting its data."""
    from sarcotrial.services import amend
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        if dry_run:
            review = amend.preview(study, actor(user), ref)
            for change in review.changes:
                console.print(f"  change: {escape(change)}", soft_wrap=True)
            for problem in review.problems:
                console.print(f"  [red]refused[/]: {escape(problem)}", soft_wrap=True)
            raise typer.Exit(0 if review.acceptable else 2)
        if not reason:
            fail("--reason: an amendment needs its reason (e.g. the ethics committee's approval)")
        try:
            result = amend.amend(study, actor(user), ref, reason)
        except amend.AmendmentRefused as exc:
            for problem in exc.review.problems:
                err_console.print(f"[bold red]error:[/] amendment: {escape(problem)}", soft_wrap=True)
            raise typer.Exit(2)
    console.print(f"Protocol {result.from_version} -> {result.to_version}; visits planned again for "
                  f"{result.patients_replanned} patients")
    for change in result.changes:
        console.print(f"  {escape(change)}", soft_wrap=True)
