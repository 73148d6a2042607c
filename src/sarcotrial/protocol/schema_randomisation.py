"""The protocol file's arms and randomisation sections (schema version 2).

Standards: stratified permuted blocks with block sizes varied at random, or minimisation (Pocock SJ, Simon R.
Sequential treatment assignment with balancing for prognostic factors in the controlled clinical trial.
Biometrics 1975;31:103-115) with a random element; the scheme is documented in the protocol before the trial
starts (ICH E9, Statistical principles for clinical trials, 1998, section 2.3.2 "Randomisation") and the
allocation is concealed until it is made (Schulz KF, Grimes DA. Allocation concealment in randomised trials:
defending against deciphering. Lancet 2002;359:614-618; Generation of allocation sequences in randomised trials:
chance, not choice. Lancet 2002;359:515-519). The allocation engine is ``sarcotrial.domain.randomisation``;
the reference for trial teams is ``docs/randomisation.md``.

A file declares::

    arms:
      - {id: doxorubicin, name: Doxorubicin, ratio: 1}
      - {id: doxorubicin_antibody, name: Doxorubicin + antibody, ratio: 1}
    randomisation:
      method: permuted_blocks        # or minimisation, with a minimisation: {probability, imbalance, weights}
      block_sizes: [2, 4]
      factors:
        - {id: previous_lines, form: screening, field: previous_lines_group}
        - {id: ecog, form: screening, field: ecog, levels: {"0": [0], "1-2": [1, 2]}}
      site: true
      source: the scheme as the protocol's statistical section states it

The models check each value on its own (a known method, a block size of at least 1, a probability in
(0.5, 1]); :func:`randomisation_problems` checks the sections against each other and against the forms
and code lists, naming each problem by its path, so that ``protocol validate`` lists them all at once.
Hand-written, as the rest of the protocol schema: no library knows this project's protocol file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: the protocol file's identifier (as ``schema.Identifier``; this module is imported by ``schema``)
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Problem = tuple[str, str]

#: the field types whose values a factor can group into levels (a decimal or a date is grouped on the form,
#: into a code field, so that the grouping is recorded where the value is entered)
FACTOR_FIELD_TYPES = ("code", "boolean", "integer", "text")
#: the levels of a boolean factor that does not group its values
BOOLEAN_LEVELS: dict[str, list[Any]] = {"yes": [True], "no": [False]}
#: the id of the site's own factor (``site: true``)
SITE = "site"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Model):
    """A treatment arm; ``ratio`` is its share of the allocation (1 and 1: 1:1; 2 and 1: 2:1)."""

    id: Identifier
    name: Annotated[str, Field(min_length=1)]
    ratio: Annotated[int, Field(ge=1, le=20)] = 1


class Factor(_Model):
    """A stratification (permuted blocks) or minimisation factor: a field of a form, read at enrolment.

    Without ``levels``, a code field's levels are its codelist's codes and a boolean field's are ``yes`` and
    ``no``; ``levels`` groups a field's values (``{"0": [0], "1-2": [1, 2]}``), each value in one level."""

    id: Identifier
    form: Identifier
    field: Identifier
    levels: dict[Annotated[str, Field(min_length=1, max_length=32)],
                 Annotated[list[Any], Field(min_length=1)]] | None = None


class Minimisation(_Model):
    """Pocock and Simon's minimisation: the arm that minimises the weighted imbalance is given with
    ``probability`` (1: deterministic minimisation, Taves 1974); ``imbalance`` measures the spread of one
    factor level's counts across the arms (range: largest minus smallest; variance); ``weights`` weigh the
    factors (by factor id, ``site`` for the site; a factor not named weighs 1)."""

    probability: Annotated[float, Field(gt=0.5, le=1)]
    imbalance: Literal["range", "variance"] = "range"
    weights: dict[Identifier, Annotated[float, Field(gt=0)]] = {}


class Randomisation(_Model):
    method: Literal["permuted_blocks", "minimisation"]
    #: permuted blocks: the sizes a block's size is drawn from, each a multiple of the sum of the arms' ratios
    block_sizes: Annotated[list[Annotated[int, Field(ge=2, le=100)]], Field(min_length=1)] | None = None
    minimisation: Minimisation | None = None
    factors: list[Factor] = []
    #: the site is a stratum (permuted blocks) or a factor (minimisation)
    site: bool = False
    #: the scheme as the protocol documents it (ICH E9 2.3.2): who generated it, when, with what
    source: Annotated[str, Field(min_length=1)]

    def factor(self, factor_id: str) -> Factor:
        for factor in self.factors:
            if factor.id == factor_id:
                return factor
        raise KeyError(factor_id)


def _duplicates(ids: list[Any], what: str) -> list[str]:
    from sarcotrial.protocol.schema import duplicates  # schema.py imports this module: read at call time

    return duplicates(ids, what)


def randomisation_problems(p: Any, unparsed: Any = None) -> list[Problem]:
    """Each problem of the arms and randomisation sections, ``(path, rule)``.

    ``p`` is a :class:`~sarcotrial.protocol.schema.Protocol` or the parsed parts of one (a section is
    ``None`` where it did not parse; ``forms`` may hold ``None`` for an entry that did not). A section
    that did not parse is judged by its own problems, never called missing: ``unparsed`` (the loader's
    ``Unparsed``) says which did not; without it, only a full protocol's missing section is reported."""
    from sarcotrial.protocol.schema import Protocol

    out: list[Problem] = []
    arms = getattr(p, "arms", None)
    scheme = getattr(p, "randomisation", None)
    identification = getattr(p, "identification", None)
    design = getattr(identification, "design", None)
    failed = getattr(unparsed, "sections", set()) or set()
    complete = isinstance(p, Protocol)

    if arms is not None:
        out.extend(("arms", problem) for problem in _duplicates([a.id for a in arms if a is not None], "arm id"))
    if scheme is not None and arms is not None and len(arms) < 2:
        out.append(("arms", f"a randomisation needs at least 2 arms ({len(arms)} declared)"))
    if design is not None:
        randomised = design.allocation == "randomised"
        if scheme is not None and not randomised:
            out.append(("identification.design.allocation", f"is '{design.allocation}', but the protocol has a "
                                                            "randomisation section: say randomised, or remove it"))
        # schema version 1 has no randomisation section: a version 1 file that says randomised stays valid
        if scheme is None and randomised and getattr(p, "schema_version", None) != 1 \
                and "randomisation" not in failed and (complete or unparsed is not None):
            out.append(("randomisation", "identification.design.allocation is randomised: the protocol needs a "
                                         "randomisation section (method, factors, source)"))
    if scheme is None:
        return out

    where = "randomisation"
    total = sum(a.ratio for a in arms if a is not None) if arms is not None and all(a is not None for a in arms) else None
    if scheme.method == "permuted_blocks":
        if scheme.block_sizes is None:
            out.append((f"{where}.block_sizes", "permuted blocks need block_sizes (e.g. [2, 4])"))
        if scheme.minimisation is not None:
            out.append((f"{where}.minimisation", "goes with method minimisation, not permuted_blocks"))
    else:
        if scheme.minimisation is None:
            out.append((f"{where}.minimisation", "method minimisation needs its parameters: "
                                                 "{probability, imbalance, weights}"))
        if scheme.block_sizes is not None:
            out.append((f"{where}.block_sizes", "go with method permuted_blocks, not minimisation"))
        if not scheme.factors and not scheme.site:
            out.append((f"{where}.factors", "minimisation needs at least one factor, or site: true"))
        if arms is not None and len({a.ratio for a in arms if a is not None}) > 1:
            out.append(("arms", "minimisation (Pocock and Simon 1975) allocates in equal ratios here; for unequal "
                                "ratios use method permuted_blocks"))
    if scheme.block_sizes is not None:
        out.extend((f"{where}.block_sizes", problem) for problem in _duplicates(scheme.block_sizes, "block size"))
        if total is not None:
            for size in scheme.block_sizes:
                if size % total:
                    out.append((f"{where}.block_sizes", f"{size} is not a multiple of {total}, the sum of the arms' "
                                                        "ratios"))
    ids = [f.id for f in scheme.factors]
    out.extend((f"{where}.factors", problem) for problem in _duplicates(ids, "factor id"))
    for factor in scheme.factors:
        if factor.id == SITE:
            out.append((f"{where}.factors.{factor.id}.id", "'site' is the site's own factor: say site: true instead"))
        out.extend(_factor_problems(p, factor, f"{where}.factors.{factor.id}"))
    if scheme.minimisation is not None:
        known = set(ids) | ({SITE} if scheme.site else set())
        for name in scheme.minimisation.weights:
            if name not in known:
                out.append((f"{where}.minimisation.weights.{name}", f"'{name}' is not a factor of the scheme "
                                                                    f"(factors: {', '.join(sorted(known)) or 'none'})"))
    return out


def _factor_problems(p: Any, factor: Factor, where: str) -> list[Problem]:
    forms_list = getattr(p, "forms", None)
    if forms_list is None:
        return []
    forms = {f.id: f for f in forms_list if f is not None}
    form = forms.get(factor.form)
    if form is None:
        if any(f is None for f in forms_list):
            return []  # an entry that did not parse may be this form: its own problem is reported
        return [(f"{where}.form", f"unknown form '{factor.form}'")]
    fld = form.field(factor.field)
    if fld is None:
        return [(f"{where}.field", f"form '{form.id}' has no field '{factor.field}'")]
    out: list[Problem] = []
    if fld.type not in FACTOR_FIELD_TYPES:
        return [(f"{where}.field", f"'{fld.id}' is {_a(fld.type)} field; a factor reads a code, boolean, integer or "
                                   "text field (group a measurement into a code field on the form)")]
    if not fld.required:
        out.append((f"{where}.field", f"'{form.id}.{fld.id}' must be required on its form: the allocation reads it"))
    codes = None
    if fld.type == "code":
        codelists = getattr(p, "codelists", None)
        if codelists is not None:
            codelist = codelists.get(fld.codelist)
            if codelist is not None:
                codes = [c.code for c in codelist]
            elif fld.codelist not in codelists:
                out.append((f"{where}.field", f"'{fld.id}' names codelist '{fld.codelist}', which does not exist"))
    if factor.levels is None:
        if fld.type in ("integer", "text"):
            out.append((f"{where}.levels", f"'{fld.id}' is {_a(fld.type)} field: group its values into levels "
                                           "(e.g. {\"0\": [0], \"1-2\": [1, 2]})"))
        elif codes is not None and len(codes) < 2:
            out.append((f"{where}.field", f"codelist '{fld.codelist}' has a single code: a factor needs 2 levels"))
        return out
    if len(factor.levels) < 2:
        out.append((f"{where}.levels", "a factor needs at least 2 levels"))
    seen: dict[Any, str] = {}
    for level, values in factor.levels.items():
        for value in values:
            key = (type(value) is bool, value)
            if key in seen:
                out.append((f"{where}.levels.{level}", f"{value!r} is also in level '{seen[key]}': each value "
                                                       "belongs to one level"))
                continue
            seen[key] = level
            problem = _value_problem(fld, value, codes)
            if problem:
                out.append((f"{where}.levels.{level}", problem))
    return out


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _value_problem(fld: Any, value: Any, codes: list[str] | None) -> str | None:
    """Why a value listed in a level cannot be a value of the field (``None`` if it can)."""
    if fld.type == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not true or false ('{fld.id}' is boolean)"
    if fld.type == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{value!r} is not a whole number ('{fld.id}' is integer)"
        if (fld.min is not None and value < fld.min) or (fld.max is not None and value > fld.max):
            return f"{value} is outside '{fld.id}''s range {fld.min:g} to {fld.max:g}" \
                if fld.min is not None and fld.max is not None else f"{value} is outside '{fld.id}''s range"
        return None
    if not isinstance(value, str):
        return f"{value!r} is not text ('{fld.id}' is {fld.type})"
    if fld.type == "code" and codes is not None and value not in codes:
        return f"{value!r} is not a code of codelist '{fld.codelist}' ({', '.join(codes)})"
    return None
