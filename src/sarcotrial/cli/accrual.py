"""``sarcotrial accrual``: accrual against the protocol's target and planned enrolment period, with the
forecast completion date and its predictive interval (the model: :mod:`sarcotrial.outcomes.accrual`;
the read: :func:`sarcotrial.services.overview.accrual_forecast`; the choices: docs/accrual.md)."""

from __future__ import annotations

from typing import Optional

import typer

from sarcotrial.cli.common import (
    DbOption,
    JsonOption,
    UserOption,
    actor,
    console,
    handle_errors,
    parse_date,
    print_json,
)
from sarcotrial.errors import InvalidValue


def _number(text: str, field: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise InvalidValue(field, "must be a number", text) from None


def _day(day) -> str:
    return f"{day.day} {day:%B %Y}"


@handle_errors
def accrual(db: Optional[str] = DbOption, user: Optional[str] = UserOption,
            level: str = typer.Option("0.95", "--level", help="Level of the predictive intervals."),
            prior_weight: str = typer.Option(
                "0.5", "--prior-weight",
                help="Weight P of the protocol's plan (target in its enrolment period), 0 to 1: the prior counts as "
                     "P x target patients (Gajewski 2008); 0 uses the observed rate alone."),
            as_of: Optional[str] = typer.Option(None, "--as-of", help="Cut-off date YYYY-MM-DD (default: today).",
                                                show_default=False),
            start: Optional[str] = typer.Option(None, "--start",
                                                help="Start of accrual YYYY-MM-DD (default: the first screening).",
                                                show_default=False),
            as_json: bool = JsonOption) -> None:
    """Accrual against the target and the planned period; forecast of the completion date with its interval."""
    from sarcotrial.services import overview
    from sarcotrial.services.study import StudyDB

    weight, lvl = _number(prior_weight, "prior_weight"), _number(level, "level")
    cutoff = parse_date(as_of, "--as-of") if as_of else None
    begin = parse_date(start, "--start") if start else None
    with StudyDB.open(db) as study:
        view, result, source = overview.accrual_forecast(study, actor(user), as_of=cutoff, start=begin,
                                                         prior_weight=weight, level=lvl)
        acronym = study.protocol.acronym
    if as_json:
        print_json({"study": acronym, **result.as_dict(), "start_source": source,
                    "patients_seen": "some sites" if view.limited else "all"})
        return
    console.print(f"[bold]{acronym}[/] accrual at {_day(result.cutoff)}"
                  + (" (patients of your sites; the target is the study's)" if view.limited else ""))
    share = result.enrolled / result.target
    rate = result.observed_rate_per_month
    months = result.observed_days / (365.25 / 12)
    until = f" to {_day(result.completed_on)}" if result.completed_on else ""
    console.print(f"Enrolled {result.enrolled} of {result.target} ({share:.0%}) from {_day(result.start)} "
                  f"({source}){until}: {months:.1f} months"
                  + (f", {rate:.2f} patients a month" if rate is not None else ""))
    if result.planned_years is not None:
        console.print(f"Planned: {result.target} in {result.planned_years:g} years, by {_day(result.planned_end)} "
                      f"({result.planned_rate_per_month:.2f} a month)")
    else:
        console.print("Planned: the protocol gives no enrolment period")
    if result.status == "forecast":
        posterior = result.rate_per_month
        console.print(f"Rate a month (posterior): {posterior[0]:.2f} ({result.level:.0%} interval {posterior[1]:.2f} "
                      f"to {posterior[2]:.2f}); {result.note}")
    console.print(result.sentence())
    if result.status == "forecast" and result.enrolled_by_planned_end is not None:
        median, lower, upper = result.enrolled_by_planned_end
        console.print(f"Enrolled by the planned end: {median} (median; {lower} to {upper})")
    if result.on_track is not None:
        console.print("On track: " + ("[green]yes[/]" if result.on_track else "[bold red]no[/]")
                      + (" (the forecast median is past the planned end)" if result.on_track is False
                         and result.status == "forecast" else ""))
