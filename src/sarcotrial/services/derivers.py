"""Derived values of the forms a protocol gives a role by declaration (schema version 2).

SPRINT's forms (schema version 1) have their clinical rules by form id (``forms.DERIVATIONS``: the
diagnosis, the pathology report...). A version 2 protocol says which of its forms plays a role, and
the rule follows the declaration, whatever the form is called:

- ``treatment.systemic.administration.form``: a cycle of systemic therapy (body surface area, the
  planned and given doses, the cumulative doxorubicin-equivalent dose and its warning);
- ``response.form`` / ``response.measurement_form``: a RECIST 1.1 tumour assessment and its lesions'
  measurements (the time point's response);
- ``treatment.radiotherapy_courses``: a further radiotherapy course (its prescription, modality and
  calendar) and its fractions;
- ``treatment.interventions.form``: a thermal ablation or chemoembolisation (its complications' CIRSE grade);
- ``functional_outcome.form``: function after limb surgery (the MSTS score from its six items).

:func:`declared_deriver` returns the rule of a form, or ``None`` where the protocol gives the form
no role (then the form-id rules apply, else the generic one).
"""

from __future__ import annotations

from typing import Any, Callable

from sarcotrial.protocol.schema import Protocol

Derive = Callable[..., dict[str, Any]]


def declared_deriver(protocol: Protocol, form_id: str) -> Derive | None:
    """The derivation of ``form_id`` that the protocol's declarations give it, if any."""
    from sarcotrial.services.systemic_entry import administration_of, derive_administration

    administration = administration_of(protocol)
    if administration is not None and administration.form == form_id:
        return derive_administration
    courses = protocol.treatment.radiotherapy_courses
    if courses is not None and form_id in (courses.course_form, courses.fraction_form):
        from sarcotrial.services.rt_courses import derive_course_form

        return derive_course_form
    interventions = protocol.treatment.interventions
    if interventions is not None and form_id == interventions.form:
        from sarcotrial.services.local_entry import derive_intervention

        return derive_intervention
    function = protocol.functional_outcome
    if function is not None and form_id == function.form:
        from sarcotrial.services.local_entry import derive_function

        return derive_function
    response = protocol.response
    if response is not None and form_id in (response.form, response.measurement_form, response.lesion_form):
        from sarcotrial.services.response_entry import derive_response_form

        return derive_response_form
    return None
