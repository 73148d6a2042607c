"""``sarcotrial stats``: survival, competing risks, Cox, binomial and single-arm designs from a CSV file.

Each command prints a readable answer, or with ``--json`` exactly one JSON object (numbers that
are not defined, such as a median CI limit that is never reached, are ``null``). Bad arguments
and bad data get one line naming the field and the rule (exit status 2). Rows with a missing
value in a column the command uses are left out, as R's ``na.omit`` does, and counted
(``n_dropped``). The numbers are R's: ``survival`` 3.5 (survfit, survdiff, coxph), ``cmprsk``
2.2 (cuminc, Gray's test) and ``binom.test``; see ``sarcotrial.outcomes``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import JsonOption, console, handle_errors, print_json
from sarcotrial.errors import InvalidValue

stats_app = typer.Typer(help="Outcome statistics as R computes them: Kaplan-Meier, cumulative incidence, log-rank, Cox, "
                             "exact binomial, Simon and A'Hern designs, Schoenfeld's two-arm events.", no_args_is_help=True)

CsvOption = typer.Option(..., "--csv", help="A CSV file with a header row.")
LevelOption = typer.Option("0.95", "--level", help="Confidence level of the intervals.")
_MISSING = {"", "na", "nan", "null", "none", "."}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def json_safe(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return json_safe(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def parse_number(text: str, field: str, kind=float):
    try:
        value = kind(str(text).strip())
    except (TypeError, ValueError):
        raise InvalidValue(field, "must be a whole number" if kind is int else "must be a number", text) from None
    if kind is float and not math.isfinite(value):
        raise InvalidValue(field, "must be a finite number", text)
    return value


def _level(text: str) -> float:
    level = parse_number(text, "level")
    if not 0 < level < 1:
        raise InvalidValue("level", "must be between 0 and 1 (exclusive), e.g. 0.95", text)
    return level


def _times(text: Optional[str], field: str = "at") -> list[float]:
    if text is None or not text.strip():
        return []
    return [parse_number(part, field) for part in text.split(",") if part.strip()]


def _read_csv(path: Path, columns: dict[str, str]) -> tuple[dict[str, list[str]], int, int]:
    """The named columns (role -> column name) of the rows where none of them is missing."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidValue("csv", f"cannot read {path}: {exc.strerror}", show_value=False) from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for role, name in columns.items():
            if name not in header:
                raise InvalidValue(role, f"no column {name!r} in {path.name} (columns: {', '.join(header)})",
                                   show_value=False)
        out: dict[str, list[str]] = {role: [] for role in columns}
        total = dropped = 0
        for row in reader:
            total += 1
            values = {role: (row.get(name) or "").strip() for role, name in columns.items()}
            if any(v.lower() in _MISSING for v in values.values()):
                dropped += 1
                continue
            for role, v in values.items():
                out[role].append(v)
    if total - dropped == 0:
        raise InvalidValue("csv", f"{path.name} has no complete rows for the columns {', '.join(columns.values())}",
                           show_value=False)
    return out, total, dropped


def _numeric(values: list[str], field: str) -> list[float]:
    out = []
    for i, v in enumerate(values):
        try:
            x = float(v)
        except ValueError:
            raise InvalidValue(field, f"must be numbers (data row {i + 1})", v) from None
        out.append(x)
    return out


def _labels(values: list[str]) -> list:
    """Group values; numeric ones become numbers so that they sort as R's factor levels do."""
    try:
        nums = [float(v) for v in values]
    except ValueError:
        return values
    return [int(x) if x.is_integer() else x for x in nums]


def _fmt(x: Optional[float], digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NA"
    return f"{x:.{digits}g}"


def _ci(pair) -> str:
    lo, hi = pair
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


# ---------------------------------------------------------------------------------------------
# km
# ---------------------------------------------------------------------------------------------

def _km_dict(km, landmarks: list[float]) -> dict:
    data = km.as_dict()
    if landmarks:
        data["at"] = km.at(landmarks).rows()
    return data


@stats_app.command("km")
@handle_errors
def km_cmd(csv_file: Path = CsvOption,
           time: str = typer.Option(..., "--time", help="Column of follow-up times."),
           event: str = typer.Option(..., "--event", help="Column of the event indicator (1 event, 0 censored)."),
           group: Optional[str] = typer.Option(None, "--group", help="Column of groups: one curve each, and the log-rank test."),
           conf_type: str = typer.Option("log", "--conf-type", help="Pointwise CI: log (R's default), log-log or plain."),
           reverse: bool = typer.Option(False, "--reverse", help="Reverse Kaplan-Meier (censoring is the event): median follow-up."),
           at: Optional[str] = typer.Option(None, "--at", help="Landmark times, comma-separated: survival and number at risk."),
           level: str = LevelOption, as_json: bool = JsonOption) -> None:
    """Kaplan-Meier curves with median and CI (R survfit), per group with the log-rank test (survdiff)."""
    from sarcotrial.outcomes import fit_kaplan_meier, logrank_test
    from sarcotrial.outcomes.kaplan_meier import CONF_TYPES

    if conf_type not in CONF_TYPES:
        raise InvalidValue("conf_type", f"must be one of {', '.join(CONF_TYPES)}", conf_type)
    lv = _level(level)
    landmarks = _times(at)
    cols = {"time": time, "event": event}
    if group:
        cols["group"] = group
    data, total, dropped = _read_csv(csv_file, cols)
    t = _numeric(data["time"], "time")
    e = _numeric(data["event"], "event")
    if not group:
        km = fit_kaplan_meier(t, e, conf_type=conf_type, conf_level=lv, reverse=reverse)
        out = {**_km_dict(km, landmarks), "n_dropped": dropped}
        if as_json:
            print_json(json_safe(out))
            return
        _print_km([("all", km)], out, landmarks)
        return
    labels = _labels(data["group"])
    from sarcotrial.outcomes.kaplan_meier import as_codes, as_times, group_labels

    tt = as_times(t)
    ee = as_codes(e, tt.size, "event", 1)
    levels, idx = group_labels(labels, tt.size, "group")
    curves = [(lab, fit_kaplan_meier(tt[idx == k], ee[idx == k], conf_type=conf_type, conf_level=lv, reverse=reverse))
              for k, lab in enumerate(levels)]
    test = logrank_test(tt, ee, idx) if len(levels) > 1 else None  # of the event, also with --reverse
    out = {"conf_type": conf_type, "conf_level": lv, "reverse": reverse, "n": int(tt.size), "n_dropped": dropped,
           "groups": [{"group": lab, **_km_dict(km, landmarks)} for lab, km in curves]}
    if test is not None:
        lr = test.as_dict()
        for g, lab in zip(lr["groups"], levels):
            g["group"] = lab
        out["logrank"] = lr
    if as_json:
        print_json(json_safe(out))
        return
    _print_km(curves, out, landmarks)


def _print_km(curves, out: dict, landmarks: list[float]) -> None:
    what = "reverse Kaplan-Meier (median follow-up)" if curves[0][1].reverse else "Kaplan-Meier"
    console.print(f"{what}; pointwise CI: {curves[0][1].conf_type}, level {curves[0][1].conf_level:g}"
                  + (f"; {out['n_dropped']} row(s) with missing values left out" if out.get("n_dropped") else ""))
    table = Table("group", "n", "events", "median", f"{curves[0][1].conf_level:g} CI")
    for lab, km in curves:
        table.add_row(escape(str(lab)), str(km.n), str(km.events), _fmt(km.median), _ci(km.median_ci))
    console.print(table)
    if landmarks:
        lt = Table("group", "time", "n at risk", "survival", "CI")
        for lab, km in curves:
            for row in km.at(landmarks).rows():
                lt.add_row(escape(str(lab)), _fmt(row["time"]), str(row["n_risk"]), _fmt(row["survival"]),
                           _ci((row["lower"], row["upper"])))
        console.print(lt)
    if "logrank" in out:
        lr = out["logrank"]
        console.print(f"log-rank: chi-square {lr['statistic']:.4g} on {lr['df']} df, p = {lr['p_value']:.4g}")


# ---------------------------------------------------------------------------------------------
# cif
# ---------------------------------------------------------------------------------------------

def _cause_dict(curve, at: list[float]) -> dict:
    out = curve.as_dict()
    out.pop("group", None)
    if at:
        a = curve.at(at)
        out["at"] = [{"time": t, "cif": f, "variance": v, "ci": [lo, hi]}
                     for t, f, v, lo, hi in zip(a.times.tolist(), a.estimate.tolist(), a.variance.tolist(),
                                                a.lower.tolist(), a.upper.tolist())]
    else:
        out["at"] = []
    return out


@stats_app.command("cif")
@handle_errors
def cif_cmd(csv_file: Path = CsvOption,
            time: str = typer.Option(..., "--time", help="Column of follow-up times."),
            status: str = typer.Option(..., "--status", help="Column of status: 0 censored, 1..k the cause of the event."),
            cause: Optional[str] = typer.Option(None, "--cause", help="Only this cause (default: every cause seen)."),
            at: Optional[str] = typer.Option(None, "--at", help="Times, comma-separated, at which to report the incidence."),
            test_group: Optional[str] = typer.Option(None, "--test-group", help="Column of groups: curves per group and Gray's test."),
            variance: str = typer.Option("delta", "--variance", help="delta (cmprsk's, default) or ij (survfit's infinitesimal jackknife)."),
            level: str = LevelOption, as_json: bool = JsonOption) -> None:
    """Cumulative incidence of competing risks (Aalen-Johansen, cmprsk::cuminc) with log(-log) CIs, Gray's test."""
    from sarcotrial.outcomes import fit_cumulative_incidence

    lv = _level(level)
    times = _times(at)
    causes = None if cause is None else [parse_number(cause, "cause", int)]
    cols = {"time": time, "status": status}
    if test_group:
        cols["test_group"] = test_group
    data, total, dropped = _read_csv(csv_file, cols)
    t = _numeric(data["time"], "time")
    s = _numeric(data["status"], "status")
    groups = _labels(data["test_group"]) if test_group else None
    fit = fit_cumulative_incidence(t, s, group=groups, causes=causes, variance=variance, conf_level=lv)
    out: dict = {"n": fit.n, "n_dropped": dropped, "variance": variance, "conf_level": lv,
                 "ci_method": "log(-log): F ** exp(-+ z sqrt(V) / (F log F))"}
    if groups is None:
        out["causes"] = [_cause_dict(fit.curve(c), times) for c in fit.causes]
    else:
        out["groups"] = [{"group": g, "causes": [_cause_dict(fit.curve(c, g), times) for c in fit.causes]}
                         for g in fit.groups]
        out["gray_test"] = [fit.tests[c].as_dict() for c in fit.causes if c in fit.tests]
    if as_json:
        print_json(json_safe(out))
        return
    console.print(f"Cumulative incidence (Aalen-Johansen); variance: {variance}; log(-log) CI, level {lv:g}"
                  + (f"; {dropped} row(s) with missing values left out" if dropped else ""))
    table = Table("group", "cause", "events", "time", "incidence", "CI")
    for g in fit.groups:
        for c in fit.causes:
            curve = fit.curve(c, g)
            rows = curve.at(times) if times else None
            if rows is None:
                last = (curve.estimate[-1] if curve.estimate.size else 0.0)
                table.add_row(escape(str(g if g is not None else "all")), str(c), str(curve.events), f"<= {curve.max_time:g}",
                              _fmt(float(last)), "")
                continue
            for tt, f, lo, hi in zip(rows.times, rows.estimate, rows.lower, rows.upper):
                table.add_row(escape(str(g if g is not None else "all")), str(c), str(curve.events), _fmt(float(tt)),
                              _fmt(float(f)), _ci((float(lo), float(hi))))
    console.print(table)
    for test in out.get("gray_test", []):
        stat = test["statistic"]
        console.print(f"Gray's test, cause {test['cause']}: "
                      + ("variance singular, no test" if stat is None else
                         f"chi-square {stat:.4g} on {test['df']} df, p = {test['p_value']:.4g}"))


# ---------------------------------------------------------------------------------------------
# binomial, simon, ahern
# ---------------------------------------------------------------------------------------------

@stats_app.command("binomial")
@handle_errors
def binomial_cmd(successes: str = typer.Option(..., "--successes", help="Number of successes (responses)."),
                 n: str = typer.Option(..., "--n", help="Number of patients."),
                 null: Optional[str] = typer.Option(None, "--null", help="Null rate to test against (no test without it)."),
                 alternative: str = typer.Option("greater", "--alternative", help="greater, less or two-sided."),
                 level: str = LevelOption, as_json: bool = JsonOption) -> None:
    """Response rate with its exact Clopper-Pearson CI; exact binomial test against a null rate (R binom.test)."""
    from sarcotrial.outcomes import binomial_test, clopper_pearson

    x, m = parse_number(successes, "successes", int), parse_number(n, "n", int)
    lv = _level(level)
    if alternative not in ("greater", "less", "two-sided"):
        raise InvalidValue("alternative", "must be one of greater, less, two-sided", alternative)
    if null is None:
        ci = clopper_pearson(x, m, lv)
        out = {"successes": x, "n": m, "rate": x / m, "ci": list(ci), "level": lv, "null": None,
               "alternative": None, "p_value": None, "method": "exact binomial (Clopper-Pearson)"}
    else:
        out = binomial_test(x, m, parse_number(null, "null"), alternative, lv).as_dict()
    if as_json:
        print_json(json_safe(out))
        return
    console.print(f"{x}/{m} = [bold]{out['rate']:.4g}[/], exact {lv:g} CI (Clopper-Pearson) {_ci(out['ci'])}")
    if out["p_value"] is not None:
        console.print(f"exact binomial test against {out['null']:g} ({out['alternative']}): p = {out['p_value']:.4g}")


@stats_app.command("simon")
@handle_errors
def simon_cmd(p0: str = typer.Option(..., "--p0", help="Response rate not worth pursuing."),
              p1: str = typer.Option(..., "--p1", help="Response rate worth pursuing."),
              alpha: str = typer.Option("0.05", "--alpha", help="Type I error."),
              power: str = typer.Option("0.80", "--power", help="Power."),
              nmax: Optional[str] = typer.Option(None, "--nmax", help="Largest total sample size searched."),
              as_json: bool = JsonOption) -> None:
    """Simon's (1989) optimal and minimax two-stage designs."""
    from sarcotrial.outcomes import simon_two_stage

    d = simon_two_stage(parse_number(p0, "p0"), parse_number(p1, "p1"), parse_number(alpha, "alpha"), parse_number(power, "power"),
                        None if nmax is None else parse_number(nmax, "nmax", int))
    out = d.as_dict()
    if as_json:
        print_json(json_safe(out))
        return
    console.print(f"Simon two-stage, p0 {d.p0:g}, p1 {d.p1:g}, alpha {d.alpha:g}, power {d.power:g} "
                  f"(stop if <= r1 of n1 respond; reject if <= r of n)")
    table = Table("design", "r1/n1", "r/n", "EN0", "PET0", "alpha", "power")
    for name, s in (("optimal", d.optimal), ("minimax", d.minimax)):
        table.add_row(name, f"{s.r1}/{s.n1}", f"{s.r}/{s.n}", f"{s.en0:.1f}", f"{s.pet0:.2f}", f"{s.alpha:.4f}",
                      f"{s.power:.4f}")
    console.print(table)


@stats_app.command("ahern")
@handle_errors
def ahern_cmd(p0: str = typer.Option(..., "--p0", help="Response rate not worth pursuing."),
              p1: str = typer.Option(..., "--p1", help="Response rate worth pursuing."),
              alpha: str = typer.Option("0.05", "--alpha", help="Type I error."),
              power: str = typer.Option("0.80", "--power", help="Power."),
              as_json: bool = JsonOption) -> None:
    """A'Hern's (2001) exact single-stage design."""
    from sarcotrial.outcomes import ahern_single_stage

    d = ahern_single_stage(parse_number(p0, "p0"), parse_number(p1, "p1"), parse_number(alpha, "alpha"), parse_number(power, "power"))
    out = d.as_dict()
    if as_json:
        print_json(json_safe(out))
        return
    console.print(f"A'Hern single stage: n = [bold]{d.n}[/], promising if at least [bold]{d.r}[/] respond "
                  f"(actual alpha {d.actual_alpha:.4f}, power {d.actual_power:.4f})")


# ---------------------------------------------------------------------------------------------
# schoenfeld
# ---------------------------------------------------------------------------------------------

_SCHOENFELD_OPTIONS = {"hazard_ratio": "hr", "allocation": "ratio", "median_control_months": "median-control",
                       "accrual_months": "accrual", "follow_up_months": "follow-up"}


@stats_app.command("schoenfeld")
@handle_errors
def schoenfeld_cmd(hr: str = typer.Option(..., "--hr", help="Hazard ratio to detect, experimental vs control."),
                   alpha: str = typer.Option("0.05", "--alpha", help="Type I error (below 0.5)."),
                   power: str = typer.Option("0.80", "--power", help="Power."),
                   sided: str = typer.Option("two-sided", "--sided", help="two-sided or one-sided."),
                   ratio: str = typer.Option("1:1", "--ratio", help="Allocation experimental:control, e.g. 2:1."),
                   median_control: Optional[str] = typer.Option(None, "--median-control",
                                                                help="Control arm's median (months), for patients."),
                   accrual: Optional[str] = typer.Option(None, "--accrual", help="Accrual period (months), uniform."),
                   follow_up: Optional[str] = typer.Option(None, "--follow-up",
                                                           help="Follow-up after accrual ends (months)."),
                   as_json: bool = JsonOption) -> None:
    """Two-arm time-to-event design (log-rank / Cox): Schoenfeld's (1983) events; patients with the three times."""
    from sarcotrial.outcomes.design import schoenfeld_events, schoenfeld_sample_size

    times = {"median-control": median_control, "accrual": accrual, "follow-up": follow_up}
    given = [k for k, v in times.items() if v is not None]
    if given and len(given) < 3:
        missing = [k for k in times if k not in given]
        raise InvalidValue(missing[0], "patients need --median-control, --accrual and --follow-up together",
                           show_value=False)
    args = (parse_number(hr, "hr"), parse_number(alpha, "alpha"), parse_number(power, "power"))
    try:
        if given:
            design = schoenfeld_sample_size(*args, sided=sided, allocation=ratio,
                                            median_control_months=parse_number(median_control, "median-control"),
                                            accrual_months=parse_number(accrual, "accrual"),
                                            follow_up_months=parse_number(follow_up, "follow-up"))
            ev = design.events
        else:
            design = ev = schoenfeld_events(*args, sided=sided, allocation=ratio)
    except InvalidValue as exc:
        raise InvalidValue(_SCHOENFELD_OPTIONS.get(exc.field, exc.field), exc.rule, exc.value) from None
    out = design.as_dict()
    if as_json:
        print_json(json_safe(out))
        return
    alloc = ":".join(f"{v:g}" for v in ev.allocation)
    console.print(f"Schoenfeld (1983): HR {ev.hazard_ratio:g}, alpha {ev.alpha:g} {ev.sided}, power {ev.power:g}, "
                  f"allocation {alloc} (experimental:control)")
    console.print(f"events required: [bold]{ev.events}[/] (exact {ev.events_exact:.2f}); "
                  f"power with {ev.events} events {ev.power_at_events:.4f}")
    if design is ev:
        return
    console.print(f"exponential survival: control median {design.median_control_months:g} months, experimental "
                  f"{design.median_experimental_months:.4g} months; accrual {design.accrual_months:g} months, "
                  f"follow-up {design.follow_up_months:g} months after accrual")
    console.print(f"P(event) by Simpson's rule: control {design.p_event_control:.4f}, experimental "
                  f"{design.p_event_experimental:.4f}, overall {design.p_event:.4f}")
    console.print(f"patients: [bold]{design.patients}[/] (experimental {design.patients_experimental}, "
                  f"control {design.patients_control}; {ev.events} / {design.p_event:.4f} = "
                  f"{design.patients_exact:.1f}, each arm rounded up)")


# ---------------------------------------------------------------------------------------------
# cox
# ---------------------------------------------------------------------------------------------

@stats_app.command("cox")
@handle_errors
def cox_cmd(csv_file: Path = CsvOption,
            time: str = typer.Option(..., "--time", help="Column of follow-up times."),
            event: str = typer.Option(..., "--event", help="Column of the event indicator (1 event, 0 censored)."),
            covariates: str = typer.Option(..., "--covariates", help="Numeric covariate columns, comma-separated."),
            ties: str = typer.Option("efron", "--ties", help="efron (R's default) or breslow."),
            level: str = LevelOption, as_json: bool = JsonOption) -> None:
    """Cox proportional hazards (R coxph): coefficients, hazard ratios, likelihood-ratio, Wald and score tests."""
    from sarcotrial.outcomes import fit_cox

    names = [c.strip() for c in covariates.split(",") if c.strip()]
    if not names:
        raise InvalidValue("covariates", "name at least one column", covariates)
    if len(set(names)) != len(names):
        raise InvalidValue("covariates", "name each column once", covariates)
    cols = {"time": time, "event": event, **{f"covariate {c}": c for c in names}}
    data, total, dropped = _read_csv(csv_file, cols)
    x = list(zip(*[_numeric(data[f"covariate {c}"], c) for c in names]))
    fit = fit_cox(_numeric(data["time"], "time"), _numeric(data["event"], "event"), x, ties=ties, names=names,
                  conf_level=_level(level))
    out = {**fit.as_dict(), "n_dropped": dropped}
    if as_json:
        print_json(json_safe(out))
        return
    console.print(f"Cox proportional hazards, {fit.ties} ties: n = {fit.n}, events = {fit.events}"
                  + (f"; {dropped} row(s) with missing values left out" if dropped else "")
                  + ("" if fit.converged else " [bold red](did not converge)[/]"))
    table = Table("covariate", "coef", "se", "HR", f"{fit.conf_level:g} CI", "p")
    for row in out["coefficients"]:
        table.add_row(escape(row["covariate"]), f"{row['coef']:.4g}", f"{row['se']:.4g}", f"{row['hazard_ratio']:.4g}",
                      _ci(row["hr_ci"]), f"{row['p']:.4g}")
    console.print(table)
    for key, label in (("likelihood_ratio", "likelihood ratio"), ("wald", "Wald"), ("score", "score (log-rank)")):
        test = out[key]
        console.print(f"{label} test: {test['statistic']:.4g} on {test['df']} df, p = {test['p_value']:.4g}")
