"""``sarcotrial rules bsa`` and ``rules anthracycline``: body surface area and cumulative anthracycline dose.

Each prints a readable answer, or with ``--json`` exactly one JSON object. The values are checked by
the domain rules (:mod:`sarcotrial.domain.systemic`), so an impossible height or weight, or a drug the
chosen equivalence table gives no factor for, gets one line naming the field and the rule (exit 2).
"""

from __future__ import annotations

from typing import List, Optional

import typer
from rich.markup import escape

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json
from sarcotrial.errors import InvalidValue

DEFAULT_TABLE = "esc-2022"


def _number(text: str, field: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise InvalidValue(field, "must be a number", text) from None


def _doses(pairs: list[str] | None, option: str) -> dict[str, float]:
    """``DRUG=MG_PER_M2`` pairs, in the order given."""
    from sarcotrial.domain.systemic import normalise_drug

    out: dict[str, float] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise InvalidValue(option, "expected DRUG=MG_PER_M2, e.g. doxorubicin=300", pair)
        drug, value = (part.strip() for part in pair.split("=", 1))
        name = normalise_drug(drug)
        if name in out:
            raise InvalidValue(option, f"{name} is given twice; give each drug's cumulative dose once",
                               show_value=False)
        out[name] = _number(value, name)
    return out


@handle_errors
def bsa(height_cm: str = typer.Option(..., "--height-cm", help="Height in cm."),
        weight_kg: str = typer.Option(..., "--weight-kg", help="Weight in kg."),
        formula: str = typer.Option("mosteller", "--formula", help="mosteller (default) or dubois."),
        as_json: bool = JsonOption) -> None:
    """Body surface area from height and weight (Mosteller 1987, or DuBois 1916)."""
    from sarcotrial.domain.systemic import BSA_FORMULAS, body_surface_area

    height = _number(height_cm, "height_cm")
    weight = _number(weight_kg, "weight_kg")
    name = formula.strip().lower()
    value = body_surface_area(height, weight, name)
    data = {"bsa_m2": value, "formula": name, "height_cm": height, "weight_kg": weight,
            "reference": BSA_FORMULAS[name]}
    if as_json:
        print_json(data)
        return
    console.print(f"Body surface area [bold]{value:.2f} m2[/] ({escape(BSA_FORMULAS[name])}; "
                  f"height {height:g} cm, weight {weight:g} kg)", soft_wrap=True)


DoseOption = typer.Option(None, "--dose", help="DRUG=MG_PER_M2: a cumulative dose received (repeat for each drug).")
NextOption = typer.Option(None, "--next", help="DRUG=MG_PER_M2 planned in the next cycle: warn if it would cross --limit.")
TablesOption = typer.Option(False, "--tables", help="List the equivalence tables, their sources and the drugs each "
                            "gives no factor for.")


@handle_errors
def anthracycline(dose: Optional[List[str]] = DoseOption,
                  table: str = typer.Option(DEFAULT_TABLE, "--table", help="Equivalence table id (--tables lists them)."),
                  limit: Optional[str] = typer.Option(None, "--limit", help="Cumulative limit, doxorubicin-equivalent mg/m2."),
                  next_cycle: Optional[List[str]] = NextOption, tables: bool = TablesOption,
                  as_json: bool = JsonOption) -> None:
    """Cumulative doxorubicin-equivalent anthracycline dose, each drug's part, and the limit."""
    from sarcotrial.domain.systemic import (anthracycline_warning, doxorubicin_equivalent, equivalence_table,
                                            equivalence_tables)

    if tables:
        listed = [t.as_dict() for t in equivalence_tables().values()]
        if as_json:
            print_json({"tables": listed})
            return
        for t in listed:
            factors = ", ".join(f"{drug} {factor:g}" for drug, factor in t["factors"].items())
            console.print(f"[bold]{t['id']}[/]: {escape(t['name'])} (version {escape(t['version'])})", soft_wrap=True)
            console.print(f"  factors: {factors}", soft_wrap=True)
            if t["no_factor"]:
                console.print(f"  no factor given for: {', '.join(t['no_factor'])}", soft_wrap=True)
            if t["not_verified"]:
                console.print(f"  left out (not verified against the source): {', '.join(t['not_verified'])}",
                              soft_wrap=True)
            console.print(f"  source: {escape(t['source'])}", soft_wrap=True)
        return
    doses = _doses(dose, "--dose")
    if not doses:
        raise InvalidValue("--dose", "give at least one DRUG=MG_PER_M2 (or --tables to list the tables)",
                           show_value=False)
    chosen = equivalence_table(table.strip())
    result = doxorubicin_equivalent(doses, chosen)
    cap = None if limit is None else _number(limit, "limit")
    step = None
    if next_cycle:
        if cap is None:
            raise InvalidValue("--next", "needs --limit, the cumulative limit to check the next cycle against",
                               show_value=False)
        step = doxorubicin_equivalent(_doses(next_cycle, "--next"), chosen).total_mg_m2
    warning = None if cap is None else anthracycline_warning(result.total_mg_m2, step or 0.0, cap)
    data = {**result.as_dict(), "limit_mg_m2": cap, "next_cycle_mg_m2": step,
            "over_limit": None if cap is None else result.total_mg_m2 > cap, "warning": warning}
    if as_json:
        print_json(data)
        return
    console.print(f"Cumulative doxorubicin-equivalent dose [bold]{result.total_mg_m2:.1f} mg/m2[/] "
                  f"(table {chosen.id}, version {escape(chosen.version)})", soft_wrap=True)
    for part in result.parts:
        console.print(f"  {part['drug']}: {part['dose_mg_m2']:g} mg/m2 x {part['factor']:g} = "
                      f"{part['equivalent_mg_m2']:.1f} mg/m2", soft_wrap=True)
    console.print(f"  source: {escape(chosen.source)}", soft_wrap=True)
    if warning:
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    elif cap is not None:
        left = cap - result.total_mg_m2
        console.print(f"Below the limit of {cap:g} mg/m2 ({left:.1f} mg/m2 left)"
                      + (f"; the next cycle ({step:.1f} mg/m2) stays within it" if step else ""), soft_wrap=True)
