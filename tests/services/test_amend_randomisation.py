"""An amendment may not change the arms or the randomisation of a study whose patients are allocated.

docs/randomisation.md ("Verification"): every allocation replays from the study's seed under the scheme it
was made with; an amendment that changed the scheme would leave the stored allocations unverifiable (ICH E9
2.3.2: a reproducible scheme, documented before the trial). Before the first allocation it is a change like
any other, named in the amendment's changes.
"""

from __future__ import annotations

import pytest
import yaml

from sarcotrial.protocol import read_protocol
from sarcotrial.services import amend as amendments
from sarcotrial.services.amend import AmendmentRefused
from sarcotrial.services.study import Actor, StudyDB
from tests.helpers import doxab_enrolled

ADMIN = Actor("tester", "test")


def _amended(tmp_path) -> str:
    data = yaml.safe_load(read_protocol("doxab").text)
    data["identification"]["version"] = "1.1"
    data["randomisation"]["minimisation"]["probability"] = 0.9
    path = tmp_path / "doxab-1.1.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def test_the_scheme_cannot_change_once_a_patient_is_allocated(database_url, tmp_path):
    study, _notice = StudyDB.create(database_url, "doxab", ADMIN)
    try:
        from sarcotrial.protocol.amendment import DataInUse, review_amendment

        before = review_amendment(study.protocol, read_protocol(_amended(tmp_path)).protocol, DataInUse())
        assert before.acceptable and "randomisation changed" in before.changes
        doxab_enrolled(study)  # allocated at enrolment (minimisation)
        with pytest.raises(AmendmentRefused) as refused:
            amendments.amend(study, ADMIN, _amended(tmp_path), "Ethics approval")
        assert "randomisation: changed, but 1 patient(s) are allocated" in str(refused.value)
        assert study.protocol.version == "1.0"
    finally:
        study.close()


def test_a_factors_codes_cannot_change_once_a_patient_is_allocated():
    """DOXAB's histotype_group factor takes its levels from its codelist: removing a code changes the scheme
    even though the randomisation section is the same text (a stratum in the history would no longer exist)."""
    from sarcotrial.protocol import parse_protocol
    from sarcotrial.protocol.amendment import DataInUse, review_amendment

    old = read_protocol("doxab").protocol
    data = yaml.safe_load(read_protocol("doxab").text)
    data["identification"]["version"] = "1.1"
    data["codelists"]["histotype_group"] = [c for c in data["codelists"]["histotype_group"]
                                             if c["code"] != "synovial_sarcoma"]
    new = parse_protocol(yaml.safe_dump(data, sort_keys=False), "doxab-1.1.yaml").protocol
    assert review_amendment(old, new, DataInUse()).acceptable  # before any allocation
    review = review_amendment(old, new, DataInUse(allocations=3))
    assert any(p.startswith("randomisation: the levels of a factor change") for p in review.problems)
