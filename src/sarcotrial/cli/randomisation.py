"""``sarcotrial randomisation``: the allocations a protocol's scheme makes, before and during the trial.

``simulate`` allocates simulated patients with random strata as a fresh study would, with the engine the
enrolment uses (``sarcotrial.domain.randomisation``), so that a statistician checks the scheme's balance
within each stratum (permuted blocks) or each factor level (minimisation). With ``--json`` it prints exactly
one JSON object, ``{"scheme": {...}, "allocations": [{"patient", "strata", "arm"}]}``.

``list`` shows the study's allocations (the patients the user may see), each flagged with its stratification
errors (a factor's value corrected after the allocation; the arm stands); ``verify`` replays every allocation
from the study's encrypted seed (ICH E9 2.3.2: a reproducible sequence) and exits 1 on any mismatch. The rules
are in ``sarcotrial.services.randomisation``; the seed is never printed.
"""

from __future__ import annotations

from typing import Optional

import typer

from sarcotrial.cli.common import DbOption, JsonOption, ProtocolOption, UserOption, actor, console, handle_errors, \
    print_json
from sarcotrial.errors import InvalidValue

randomisation_app = typer.Typer(help="Randomisation: simulate a scheme; list and verify a study's allocations.",
                                no_args_is_help=True)

#: the most patients one simulation allocates (a trial's accrual is far below it)
MAX_PATIENTS = 100_000
MAX_SITES = 999


def _whole(text: str, field: str, most: int) -> int:
    try:
        value = int(text.strip())
    except (AttributeError, ValueError):
        raise InvalidValue(field, f"must be a whole number from 1 to {most}", text) from None
    if not 1 <= value <= most:
        raise InvalidValue(field, f"must be a whole number from 1 to {most}", value)
    return value


@randomisation_app.command("simulate")
@handle_errors
def simulate_cmd(protocol: str = ProtocolOption,
                 patients: str = typer.Option(..., "--patients", help="How many simulated patients to allocate."),
                 seed: str = typer.Option(..., "--seed", help="The seed of the simulated study (any text; a real "
                                                             "study's seed is a secret generated at its creation)."),
                 sites: Optional[str] = typer.Option(None, "--sites", help="How many sites the patients come from, "
                                                     "when the scheme stratifies by site (default 1)."),
                 as_json: bool = JsonOption) -> None:
    """The allocations a fresh study makes for N simulated patients with random strata, and its balance."""
    from sarcotrial.domain.randomisation import marginal_balance, scheme_from_protocol, simulate, stratum_balance
    from sarcotrial.protocol import load_protocol

    n = _whole(patients, "patients", MAX_PATIENTS)
    if not seed.strip():
        raise InvalidValue("seed", "must not be empty", show_value=False)
    p = load_protocol(protocol)
    scheme = scheme_from_protocol(p)
    if sites is not None and not scheme.site:
        raise InvalidValue("sites", "the protocol's scheme does not stratify by site (randomisation.site is false)",
                           show_value=False)
    k = 1 if sites is None else _whole(sites, "sites", MAX_SITES)
    allocations = simulate(scheme, seed, n, sites=k)
    if as_json:
        print_json({"scheme": {"protocol": f"{p.acronym} v{p.version}", **scheme.as_dict(), "seed": seed,
                               "patients": n, "sites": k if scheme.site else None},
                    "allocations": [{"patient": a.number, "strata": dict(a.strata), "arm": a.arm}
                                    for a in allocations]})
        return
    _print_balance(p, scheme, allocations, n, k, seed, stratum_balance if scheme.method == "permuted_blocks"
                   else marginal_balance)


def _print_balance(p, scheme, allocations, n: int, sites: int, seed: str, balance) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Column, Table

    ratio = ":".join(str(r) for r in scheme.ratios)
    factors = ", ".join(scheme.factor_ids) or "none"
    if scheme.method == "permuted_blocks":
        method = f"permuted blocks of {' or '.join(map(str, scheme.block_sizes))} drawn at random, stratified by {factors}"
        bound = max(scheme.block_sizes) / scheme.total
        first = "stratum"
    else:
        method = (f"minimisation (Pocock-Simon, {scheme.imbalance}) with probability {scheme.probability:g}, "
                  f"factors {factors}")
        bound = None
        first = "factor level"
    where = f", {sites} site{'s' if sites != 1 else ''}" if scheme.site else ""
    console.print(escape(f"{p.acronym} v{p.version}: {method}; arms {', '.join(scheme.arms)} in ratio {ratio}. "
                         f"{n} simulated patient{'s' if n != 1 else ''}{where}, seed {seed!r}."))
    # at 80 columns: the stratum whole, the arms' names folded over two lines where long
    table = Table(Column(first, overflow="fold"), Column("n", justify="right"),
                  *(Column(arm, justify="right", overflow="fold", max_width=12) for arm in scheme.arms),
                  Column("max\nimbalance", justify="right"),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    rows = balance(scheme, allocations)
    for row in rows:
        label = row.stratum
        if scheme.method == "permuted_blocks":
            label = " / ".join(part.split("=", 1)[1] for part in label.split(", ")) if scheme.factor_ids else "all"
        table.add_row(escape(label), str(row.n), *(str(row.counts[a]) for a in scheme.arms), f"{row.max_imbalance:g}")
    console.print(table)
    totals = {arm: 0 for arm in scheme.arms}
    for allocation in allocations:
        totals[allocation.arm] += 1
    overall = ", ".join(f"{arm} {count}" for arm, count in totals.items())
    worst = max((row.max_imbalance for row in rows), default=0)
    text = f"Overall: {overall}. Largest imbalance seen: {worst:g}"
    if bound is not None:
        text += f" (the largest block allows at most {bound:g} within a stratum)"
    console.print(escape(text + "."))
    console.print("[dim]imbalance: the largest minus the smallest of count / ratio over the arms[/]")


@randomisation_app.command("list")
@handle_errors
def list_cmd(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The study's allocations (subject, date, arm, strata used), each stratification error flagged. Exit 1 if none."""
    from sarcotrial.services import randomisation
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        p = study.protocol
        if not randomisation.randomises(p):
            raise InvalidValue("protocol", f"{p.acronym} v{p.version} declares no randomisation: nothing is "
                               "allocated", show_value=False)
        rows = randomisation.allocations(study, actor(user))
        factors = [f.id for f in p.randomisation.factors] + (["site"] if p.randomisation.site else [])
    if as_json:
        print_json({"protocol": f"{p.acronym} v{p.version}", "method": p.randomisation.method,
                    "arms": [{"id": a.id, "name": a.name, "ratio": a.ratio} for a in p.arms],
                    "allocations": [r.as_dict() for r in rows]})
    elif not rows:
        console.print("No patient is allocated (among those you may see).")
    if not rows:
        raise typer.Exit(1)
    if not as_json:
        _print_allocations(p, rows, factors)


def _print_allocations(p, rows, factors: list[str]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Column, Table

    levels = [f for f in factors if f != "site"]
    console.print(escape(f"{p.acronym} v{p.version}: {len(rows)} allocation{'s' if len(rows) != 1 else ''} "
                         f"({p.randomisation.method.replace('_', ' ')}). Strata as used at allocation: "
                         f"{'/'.join(levels) or 'none'}" + ("; the site is a stratum." if "site" in factors else ".")))
    # at 80 columns: the number, subject, site and date whole; the arm and the strata folded where long
    table = Table(Column("#", justify="right"), Column("subject", no_wrap=True), Column("site", no_wrap=True),
                  Column("enrolled", no_wrap=True), Column("arm", overflow="fold", max_width=22),
                  Column("strata", overflow="fold"), Column("", no_wrap=True),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for r in rows:
        strata = "/".join(str(r.strata.get(f, "")) for f in levels) or "-"
        table.add_row(str(r.number), r.subject_id, escape(r.site), r.allocated_on.isoformat(), escape(r.arm),
                      escape(strata), "[bold red]![/]" if r.stratification_errors else "")
    console.print(table)
    flagged = [r for r in rows if r.stratification_errors]
    if flagged:
        console.print(f"[bold red]! Stratification errors[/] ({len(flagged)}): a factor's value now differs from the "
                      "one used at allocation; the arm and the strata used stand.")
        for r in flagged:
            parts = [f"{f} used {used}, now {'missing' if now is None else 'in no level' if now == '?' else now}"
                     for f, (used, now) in r.stratification_errors.items()]
            console.print(escape(f"  ! {r.subject_id}: {'; '.join(parts)}"), soft_wrap=True)


@randomisation_app.command("verify")
@handle_errors
def verify_cmd(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Replay every allocation from the study's seed (never shown); the check is recorded. Exit 1 on a mismatch."""
    from rich.markup import escape

    from sarcotrial.services import randomisation
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        result = randomisation.verify(study, actor(user))
    if as_json:
        print_json(result.as_dict())
    elif result.ok and not result.allocations:
        console.print("No allocation to verify yet: the seed is made at the first enrolment.")
    elif result.ok:
        console.print(f"[green]Randomisation verified[/]: all {result.allocations} allocation"
                      f"{'s' if result.allocations != 1 else ''} match the replay from the study's seed.")
    else:
        console.print(f"[bold red]Randomisation does NOT verify[/]: {len(result.mismatches)} of {result.allocations} "
                      "allocations differ from the replay from the study's seed.")
        for m in result.mismatches:
            who = m.subject_id or "a patient of a site you do not see"
            console.print(escape(f"  - allocation {m.number} ({who}): stored {m.stored}, the seed gives {m.expected}"),
                          soft_wrap=True)
        for problem in result.problems:
            console.print(escape(f"  - {problem}"), soft_wrap=True)
    if not result.ok or not result.allocations:  # exit 1: a check failed, or nothing was found to check
        raise typer.Exit(1)
