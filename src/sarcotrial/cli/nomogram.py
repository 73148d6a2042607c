"""``sarcotrial nomogram validate`` and ``nomogram predict``: risk models read from files.

The file format and the formulas (points nomograms after Kattan et al., J Clin Oncol 2002;20:791-796;
Cox, J R Stat Soc B 1972;34:187-220; Fine and Gray, J Am Stat Assoc 1999;94:496-509) live in
:mod:`sarcotrial.riskmodels`, documented in ``docs/risk-models.md``; this module reads options and
prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from sarcotrial.cli.common import JsonOption, console, err_console, handle_errors, print_json
from sarcotrial.errors import InvalidValue

nomogram_app = typer.Typer(help="Risk models from files: points nomograms, Cox and Fine-Gray models "
                                "(see docs/risk-models.md).", no_args_is_help=True)

FileArgument = typer.Argument(..., help="The risk-model file (YAML).", show_default=False, exists=True,
                              dir_okay=False)


@nomogram_app.command("validate")
@handle_errors
def validate(file: Path = FileArgument, as_json: bool = JsonOption) -> None:
    """Check a model file: a one-line summary when it is valid, else every problem with its path."""
    from rich.markup import escape

    from sarcotrial.riskmodels import ModelFileError, load_model

    try:
        model = load_model(file)
    except ModelFileError as exc:
        if as_json:
            print_json({"file": str(file), "valid": False, "problems": exc.problems})
            raise typer.Exit(2) from None
        _refuse(exc)
    if as_json:
        print_json({"file": str(file), "valid": True, "model": model.id, "kind": model.kind,
                    "inputs": [i.name for i in model.inputs], "horizons": model.horizons,
                    "synthetic": model.synthetic, "validation_status": model.validation_status,
                    "provenance": {**model.provenance, "measured_error": model.measured_error},
                    "examples": len(model.spec.examples)})
        return
    console.print(f"{escape(str(file))}: valid {_summary(model)}", soft_wrap=True)
    for spec in model.inputs:  # what a prediction asks for (the names to give with --set)
        what = (f"{spec.min:g} to {spec.max:g} {spec.unit}" if spec.kind == "numeric"
                else "one of " + ", ".join(spec.categories))
        record = f"; from the study's record: {spec.record}" if spec.record else ""
        console.print(f"  input {escape(spec.name)}: {escape(spec.label)}, {escape(what)}{escape(record)}")


def _refuse(exc: Any) -> None:
    """A model file's problems: the count on the error line, then each problem on its own line."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(str(exc).splitlines()[0])}", soft_wrap=True)
    for line in exc.problems:
        err_console.print(f"  {escape(line)}", soft_wrap=True)
    raise typer.Exit(2)


def _summary(model: Any) -> str:
    kinds = {"points": "points nomogram", "cox": "Cox model", "fine_gray": "Fine-Gray model"}
    horizons = ", ".join(f"{h:g}" for h in model.horizons)
    examples = len(model.spec.examples)
    checked = (f"; {examples} worked example{'s' if examples != 1 else ''} reproduced within "
               f"{model.measured_error * 100:.2f} %" if examples else "; no worked examples")
    synthetic = " (SYNTHETIC)" if model.synthetic else ""
    return (f"{kinds[model.kind]} '{model.id}'{synthetic} of {model.outcome}: {len(model.inputs)} inputs, "
            f"horizons {horizons} years, {model.validation_status}, "
            f"numbers {'the file’s own' if model.synthetic else model.provenance['numbers']}{checked}")


@nomogram_app.command("predict")
@handle_errors
def predict(file: Path = FileArgument,
            input_file: Optional[Path] = typer.Option(None, "--input", help="The patient's inputs: a YAML or JSON "
                                                      "mapping of input name to value.", show_default=False),
            assignments: List[str] = typer.Option([], "--set", help="name=value, once per input: completes or "
                                                  "overrides --input."),
            as_json: bool = JsonOption) -> None:
    """One patient's risk at the model's horizons; inputs missing or outside the model's ranges are refused."""
    from sarcotrial.riskmodels import ModelFileError, load_model

    values = _values(input_file, assignments)
    try:
        model = load_model(file)
    except ModelFileError as exc:
        _refuse(exc)
    prediction = model.predict(values)
    if as_json:
        print_json(prediction.as_dict())
        return
    _print(model, prediction)


def _values(input_file: Optional[Path], assignments: list[str]) -> dict[str, Any]:
    import yaml

    if input_file is None and not assignments:
        raise InvalidValue("--input", "give the patient's inputs with --input FILE and/or --set name=value",
                           show_value=False)
    values: dict[str, Any] = {}
    if input_file is not None:
        try:
            loaded = yaml.safe_load(input_file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidValue("--input", f"{input_file} is not valid YAML or JSON ({getattr(exc, 'problem', exc)})",
                               show_value=False) from None
        if not isinstance(loaded, dict):
            raise InvalidValue("--input", f"{input_file} must hold one mapping of input name: value",
                               show_value=False)
        values.update({str(k): v for k, v in loaded.items()})
    given: set[str] = set()
    for pair in assignments:
        if "=" not in pair:
            raise InvalidValue("--set", "expected name=value, e.g. age=61", pair)
        key, value = (part.strip() for part in pair.split("=", 1))
        if key in given:
            raise InvalidValue("--set", f"{key} is given twice; give each input once", show_value=False)
        given.add(key)
        values[key] = value
    return values


def _print(model: Any, prediction: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    title = f"[bold]{escape(model.name)}[/] (version {escape(model.version)})"
    if model.synthetic:
        title += " [bold red]SYNTHETIC[/]"
    console.print(title, soft_wrap=True)
    console.print(f"Developed on: {escape(model.population)}")
    points = prediction.total_points is not None
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("Input", max_width=34)
    table.add_column("Value", max_width=24)
    table.add_column("Points" if points else "Term in lp", justify="right")
    for spec in model.inputs:
        value = prediction.inputs[spec.name]
        shown = (f"{value:g} {spec.unit}" if spec.kind == "numeric"
                 else f"{spec.categories[value]} ({value})")
        table.add_row(escape(spec.label), escape(shown), f"{prediction.contributions[spec.name]:.4g}")
    console.print(table)
    if points:
        console.print(f"Total points: [bold]{prediction.total_points:.4g}[/]")
    else:
        ratio = prediction.as_dict()["relative_hazard"]
        console.print(f"Linear predictor: [bold]{prediction.linear_predictor:.4f}[/] (centre {model.centre:g}; "
                      f"relative {'subdistribution ' if model.kind == 'fine_gray' else ''}hazard {ratio:.3g})")
    risks = Table(show_edge=False, pad_edge=False)
    risks.add_column("Horizon")
    risks.add_column(f"Risk of {escape(model.outcome)}", justify="right")
    for horizon, risk in prediction.risks.items():
        risks.add_row(f"{horizon:g} years", f"{risk * 100:.1f} %")
    console.print(risks)
    console.print(f"Source: {escape(model.citation)}", soft_wrap=False)
    console.print("Limits:")
    for limit in model.limits:
        console.print(f"  - {escape(limit)}")


# the commands that work on a study's database (assess needs none, but shares the performance printing)
from sarcotrial.cli import registry as _registry  # noqa: E402
from sarcotrial.cli.nomogram_assess import assess as _assess  # noqa: E402

nomogram_app.command("assess")(_assess)
nomogram_app.command("load")(_registry.nomogram_load)
nomogram_app.command("loaded")(_registry.nomogram_loaded)
nomogram_app.command("study")(_registry.nomogram_study)
