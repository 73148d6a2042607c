"""Randomisation at enrolment (``sarcotrial.services.randomisation``, called by ``pathway.enrol``).

Sources of the rules checked here:

- ICH E9 (1998) section 2.3.2: the allocation of the next patient is concealed and the sequence reproducible;
  Schulz KF, Grimes DA, Lancet 2002;359:614-618 (allocation concealment: the allocation made only once the
  patient is irrevocably entered, by a mechanism no one at the site can read ahead);
- the random streams, the permuted blocks and Pocock-Simon minimisation as ``docs/randomisation.md`` defines
  them, for an auditor with any tool: the expected arms below come from the plain-Python reference printed in
  that document (``stratum_sequence``) and from a minimisation written here from the document's definition
  (Pocock SJ, Simon R, Biometrics 1975;31:103-115), never from the engine;
- the permuted-block balance bound (Schulz & Grimes, Lancet 2002;359:515-519): within a stratum, with 1:1
  blocks of 2 or 4, the arms never differ by more than 2;
- ICH E6(R3) / 21 CFR 11.10(e): the allocation is an audited record; a correction of a stratification factor is
  flagged as a stratification error and changes no allocation (the analysis by the strata used at allocation).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select, text

from sarcotrial.errors import AccessDenied, InvalidValue
from sarcotrial.services import access, forms, pathway, randomisation, views
from sarcotrial.services.study import Actor, StudyDB
from sarcotrial.store.crypto import KeyError_, generate_key, key_from_environment
from sarcotrial.store.models import Allocation, AuditEntry, Enrolment, Patient, RandomisationCheck, \
    RandomisationSecret
from tests.helpers import SCREENING, consent, enrolled

RANDOMISED = Path(__file__).resolve().parents[1] / "protocols" / "randomised-test.yaml"
OS_USER = Actor("tester", "test")
ARMS = ["doxorubicin", "doxorubicin_antibody"]


# --------------------------------------------------------------------------- independent references
def stream(*context):
    """docs/randomisation.md, "The random numbers, for an auditor": the SHA-256 counter stream, as printed there."""
    key = hashlib.sha256(json.dumps(["sarcotrial.randomisation.v1", *context], separators=(",", ":"),
                                    ensure_ascii=False).encode()).digest()
    i = 0

    def below(n):
        nonlocal i
        while True:
            v = int.from_bytes(hashlib.sha256(key + i.to_bytes(8, "big")).digest(), "big")
            i += 1
            if v < 2**256 - 2**256 % n:
                return v % n
    return below


def stratum_sequence(seed, stratum, arms, ratios, block_sizes, n):
    """docs/randomisation.md: the replay of one stratum's permuted blocks, in plain Python, as printed there."""
    below, out = stream("permuted_blocks", seed, stratum), []
    while len(out) < n:
        size = block_sizes[below(len(block_sizes))]
        block = [a for a, r in zip(arms, ratios) for _ in range(r * size // sum(ratios))]
        for j in range(len(block) - 1, 0, -1):
            k = below(j + 1)
            block[j], block[k] = block[k], block[j]
        out += block
    return out[:n]


def minimisation_reference(seed, patients, arms, probability):
    """Pocock and Simon (1975) with the range as D, weights 1, and the draws of docs/randomisation.md:
    allocation n uses the stream ["minimisation", seed, n]; all arms minimising: arms[below(K)]; otherwise
    u = below(2**53) / 2**53, and u < probability takes minimising[below(m)], else others[below(K - m)]."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(arms, 0))
    out = []
    for n, strata in enumerate(patients, start=1):
        scores = {}
        for arm in arms:
            total = 0
            for pair in strata:
                trial = dict(counts[pair])
                trial[arm] += 1
                total += max(trial.values()) - min(trial.values())
            scores[arm] = total
        best = min(scores.values())
        minimising = [a for a in arms if scores[a] == best]
        others = [a for a in arms if scores[a] != best]
        below = stream("minimisation", seed, n)
        if not others:
            arm = arms[below(len(arms))]
        else:
            u = below(2**53) / 2**53
            arm = minimising[below(len(minimising))] if u < probability else others[below(len(others))]
        for pair in strata:
            counts[pair][arm] += 1
        out.append(arm)
    return out


def decrypted_seed(study: StudyDB) -> str:
    """The seed as an auditor holding the study's key reads it: Fernet under HKDF-SHA256(key, info "sarcotrial
    randomisation seed fernet"), as docs/randomisation.md states (written out here, not taken from the service)."""
    master = key_from_environment().master
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"sarcotrial randomisation seed fernet").derive(master)
    with study.reading() as session:
        token = session.scalars(select(RandomisationSecret.seed_enc)).one()
    return Fernet(base64.urlsafe_b64encode(key)).decrypt(token.encode()).decode()


# --------------------------------------------------------------------------- building patients
@pytest.fixture
def blocks(database_url):
    """A study of the permuted-block test protocol (1:1, blocks of 2 or 4, strata previous lines x ECOG x site)."""
    study, _ = StudyDB.create(database_url, str(RANDOMISED), OS_USER)
    access.add_site(study, OS_USER, "S02", "Second site")
    yield study
    study.close()


@pytest.fixture
def doxab(database_url):
    """A study of the shipped protocol doxab (minimisation, probability 0.8, range; site as a factor)."""
    study, _ = StudyDB.create(database_url, "doxab", OS_USER)
    access.add_site(study, OS_USER, "S02", "Second site")
    yield study
    study.close()


def registered(study: StudyDB, number: int, site: str, referral: dict) -> str:
    return pathway.register_patient(study, OS_USER, identifiers=pathway.Identifiers(
        "Test Patient (synthetic)", dt.date(1960, 5, 1), f"H{number:04d}"), sex="female", referral=referral,
        site_code=site).subject_id


def blocks_patient(study: StudyDB, number: int, site: str, lines: str, ecog: int | None, enrol: bool = True) -> str:
    subject = registered(study, number, site, {"referral_date": "2025-01-10", "anatomic_site": "extremity"})
    values = {"screening_date": "2025-01-20", "consent_date": "2025-01-20", **SCREENING, "previous_lines_group": lines}
    if ecog is not None:
        values["ecog"] = ecog
    assert pathway.screen(study, OS_USER, subject, values).decision == "eligible"
    consent(study, subject)
    if enrol:
        pathway.enrol(study, OS_USER, subject, dt.date(2025, 1, 22))
    return subject


DOXAB_SCREENING = {"screening_date": "2025-01-20", "age_years": 64, "histology_confirmed": True,
                   "disease_extent": "metastatic", "measurable_disease": True, "lvef_percent": 60,
                   "previous_anthracycline": False, "able_to_consent": True, "consent_signed": True,
                   "consent_date": "2025-01-20"}
GROUPS = ["leiomyosarcoma", "synovial_sarcoma", "other"]


def doxab_patient(study: StudyDB, number: int, site: str, lines: int, group: str, ecog: int) -> str:
    subject = registered(study, number, site, {"referral_date": "2025-01-10"})
    values = {**DOXAB_SCREENING, "previous_lines": lines, "histotype_group": group, "ecog": ecog}
    assert pathway.screen(study, OS_USER, subject, values).decision == "eligible"
    consent(study, subject)
    pathway.enrol(study, OS_USER, subject, dt.date(2025, 1, 22))
    return subject


def stored(study: StudyDB) -> list[tuple[str, int, str, dict]]:
    with study.reading() as session:
        return [(p.subject_id, a.number, a.arm, dict(a.strata)) for a, p in session.execute(
            select(Allocation, Patient).join(Patient, Patient.id == Allocation.patient_id).order_by(Allocation.number))]


def count(study: StudyDB, model) -> int:
    with study.reading() as session:
        return session.scalar(select(func.count(model.id))) or 0


# --------------------------------------------------------------------------- the same transaction
def test_enrolment_allocates_in_its_own_transaction(blocks, monkeypatch):
    """The allocation is written with the enrolment, after eligibility and consent: a failure after the
    allocation (here the schedule's planning, the step that follows it) leaves neither."""
    from sarcotrial.services import visits

    subject = blocks_patient(blocks, 1, "MAIN", "none", 0, enrol=False)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(visits, "sync_schedule", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            pathway.enrol(blocks, OS_USER, subject, dt.date(2025, 1, 22))
    assert count(blocks, Enrolment) == count(blocks, Allocation) == count(blocks, RandomisationSecret) == 0
    with blocks.reading() as session:
        assert session.scalars(select(Patient.status).where(Patient.subject_id == subject)).one() == "eligible"
    pathway.enrol(blocks, OS_USER, subject, dt.date(2025, 1, 22))
    [(who, number, arm, strata)] = stored(blocks)
    assert (who, number, strata) == (subject, 1, {"previous_lines": "none", "ecog": "0", "site": "MAIN"})
    assert arm in ARMS
    with blocks.reading() as session:
        patient = session.scalars(select(Patient).where(Patient.subject_id == subject)).one()
        assert randomisation.arm_of(session, patient) == arm


def test_a_factor_missing_or_in_no_level_refuses_the_enrolment(blocks):
    """docs/randomisation.md: a value the allocation cannot use refuses the enrolment, naming the field;
    nothing is written (no enrolment, no allocation, no seed)."""
    no_ecog = blocks_patient(blocks, 1, "MAIN", "one", None, enrol=False)
    with pytest.raises(InvalidValue, match=r"^screening\.ecog: is missing: the randomisation reads it"):
        pathway.enrol(blocks, OS_USER, no_ecog, dt.date(2025, 1, 22))
    ecog_3 = blocks_patient(blocks, 2, "MAIN", "one", 3, enrol=False)  # the levels are 0 and 1-2
    with pytest.raises(InvalidValue, match=r"^screening\.ecog: is in none of the factor's levels .* \(got 3\)"):
        pathway.enrol(blocks, OS_USER, ecog_3, dt.date(2025, 1, 22))
    assert count(blocks, Enrolment) == count(blocks, Allocation) == count(blocks, RandomisationSecret) == 0


# --------------------------------------------------------------------------- 30 enrolments, replayed
def test_permuted_blocks_30_enrolments_replay_from_the_documented_reference(blocks):
    """30 patients over 4 strata and 2 sites: each stratum's arms are the documented reference's sequence for
    the decrypted seed, the arms never differ by more than 2 within a stratum, and verify finds all 30."""
    plan = [("MAIN", "none", 0), ("S02", "none", 0), ("MAIN", "one", 1), ("S02", "two_or_more", 2)]
    for i in range(30):
        site, lines, ecog = plan[i % 4] if i % 5 else plan[0]  # uneven strata: 12, 6, 6, 6 patients
        blocks_patient(blocks, i + 1, site, lines, ecog)
    rows = stored(blocks)
    assert [number for _, number, _, _ in rows] == list(range(1, 31))
    seed = decrypted_seed(blocks)
    assert len(seed) == 32 and int(seed, 16) >= 0  # 128 bits as 32 hex digits (docs/randomisation.md)
    by_stratum: dict[tuple, list[str]] = defaultdict(list)
    for _, _, arm, strata in rows:
        by_stratum[(strata["previous_lines"], strata["ecog"], strata["site"])].append(arm)
    assert sorted(len(v) for v in by_stratum.values()) == [6, 6, 6, 12]
    for (lines, ecog, site), arms in by_stratum.items():
        context = [["previous_lines", lines], ["ecog", ecog], ["site", site]]
        assert arms == stratum_sequence(seed, context, ARMS, [1, 1], [2, 4], len(arms))
        running = Counter()
        for arm in arms:
            running[arm] += 1
            assert abs(running[ARMS[0]] - running[ARMS[1]]) <= 2
    result = randomisation.verify(blocks, OS_USER)
    assert result.ok and result.allocations == 30 and result.mismatches == []
    # an arm changed in the database around SarcoTrial: the replay names exactly that allocation (with permuted
    # blocks, a stratum's later entries come from its stream, whatever arm is stored before them)
    subject, _, arm, _ = rows[6]
    other = ARMS[1] if arm == ARMS[0] else ARMS[0]
    with blocks.engine.begin() as connection:
        connection.execute(text("UPDATE allocation SET arm = :arm WHERE number = 7"), {"arm": other})
    result = randomisation.verify(blocks, OS_USER)
    assert not result.ok and [(m.number, m.subject_id, m.stored, m.expected) for m in result.mismatches] == \
        [(7, subject, other, arm)]
    with blocks.reading() as session:
        checks = session.scalars(select(RandomisationCheck).order_by(RandomisationCheck.id)).all()
    assert [(c.allocations, c.mismatches) for c in checks] == [(30, ""), (30, "7")]  # each replay recorded


def test_minimisation_30_enrolments_replay_from_an_independent_pocock_simon(doxab):
    """doxab: minimisation on previous lines (0; 1+), histotype group, ECOG (0; 1; 2) and site, probability
    0.8, range: each arm is the one the document's definition gives from the decrypted seed."""
    given = []
    for i in range(30):
        site, lines, group = ("MAIN", "S02")[i % 2], (0, 1, 3)[i % 3], GROUPS[(i // 2) % 3]
        ecog = (0, 1, 2, 0, 1)[i % 5]
        doxab_patient(doxab, i + 1, site, lines, group, ecog)
        level = "0" if lines == 0 else "1+"
        given.append([("previous_lines", level), ("histotype_group", group), ("ecog", str(ecog)), ("site", site)])
    rows = stored(doxab)
    assert [sorted(strata.items()) for _, _, _, strata in rows] == [sorted(g) for g in given]
    arms = [arm for _, _, arm, _ in rows]
    assert arms == minimisation_reference(decrypted_seed(doxab), given, ARMS, 0.8)
    totals = Counter(arms)
    assert abs(totals[ARMS[0]] - totals[ARMS[1]]) <= 4, totals  # minimisation keeps the totals close
    assert randomisation.verify(doxab, OS_USER).ok


# --------------------------------------------------------------------------- corrections
def test_a_corrected_factor_is_flagged_and_changes_no_allocation(doxab):
    """A correction of ECOG from 0 to 1 after the allocation: the arm and the strata used stand, the list flags
    a stratification error (ecog: used 0, now 1), and the replay still verifies."""
    subjects = [doxab_patient(doxab, i + 1, ("MAIN", "S02")[i % 2], i % 2, GROUPS[i % 3], 0) for i in range(4)]
    before = stored(doxab)
    forms.correct(doxab, OS_USER, subjects[1], "screening", {"ecog": 1}, "source document: ECOG 1")
    assert stored(doxab) == before
    views_ = {v.subject_id: v for v in randomisation.allocations(doxab, OS_USER)}
    assert views_[subjects[1]].stratification_errors == {"ecog": ("0", "1")}
    assert views_[subjects[1]].strata["ecog"] == "0" and views_[subjects[1]].arm == before[1][2]
    assert all(not views_[s].stratification_errors for s in subjects if s != subjects[1])
    forms.correct(doxab, OS_USER, subjects[2], "screening", {"ecog": 4}, "source document: ECOG 4")
    assert randomisation.allocations(doxab, OS_USER)[2].stratification_errors == {"ecog": ("0", "?")}
    fifth = doxab_patient(doxab, 5, "MAIN", 0, GROUPS[0], 0)  # allocated from the strata used, not the corrected
    assert randomisation.verify(doxab, OS_USER).ok and stored(doxab)[4][0] == fifth
    assert views.verify_audit(doxab, None).ok  # every allocation and correction went through the audited session


# --------------------------------------------------------------------------- concealment and audit
def test_the_seed_is_encrypted_never_audited_and_needs_the_key(blocks, monkeypatch):
    for i in range(3):
        blocks_patient(blocks, i + 1, "MAIN", "none", 0)
    seed = decrypted_seed(blocks)
    with blocks.reading() as session:
        token = session.scalars(select(RandomisationSecret.seed_enc)).one()
        values = [v for e in session.scalars(select(AuditEntry)) for v in (e.old_value, e.new_value) if v]
        allocation_fields = {e.field for e in session.scalars(select(AuditEntry).where(
            AuditEntry.table_name == "allocation"))}
        secret_values = [e.new_value for e in session.scalars(select(AuditEntry).where(
            AuditEntry.table_name == "randomisation_secret", AuditEntry.field == "seed_enc"))]
    assert seed not in token
    assert not [v for v in values if seed in v or token in v]
    assert secret_values[0].startswith("[encrypted:")  # the trail keeps a fingerprint of the ciphertext only
    assert {"arm", "strata", "number", "details", "allocated_by"} <= allocation_fields  # the allocation is audited
    # how the arm was reached (a block's size and position) would let a site reading the trail predict its next
    # patient's arm: the trail keeps its fingerprint only (concealment: Schulz and Grimes, Lancet 2002)
    with blocks.reading() as session:
        details = [e.new_value for e in session.scalars(select(AuditEntry).where(
            AuditEntry.table_name == "allocation", AuditEntry.field == "details"))]
    assert details and all(v.startswith("[encrypted:") for v in details)
    assert not [v for v in values if "position" in v or "block_size" in v]
    with pytest.raises(KeyError_):  # the identifiers' own key does not open it: a key of its own
        blocks.cipher().decrypt(token)
    with pytest.raises(InvalidToken):  # another study's key does not open it
        Fernet(base64.urlsafe_b64encode(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"sarcotrial randomisation seed fernet").derive(base64.urlsafe_b64decode(generate_key())))
               ).decrypt(token.encode())
    shown = json.dumps([v.as_dict() for v in randomisation.allocations(blocks, OS_USER)], default=str) + \
        json.dumps(randomisation.verify(blocks, OS_USER).as_dict())
    assert seed not in shown and token not in shown


def test_sprint_enrolment_is_unchanged(study):
    """SPRINT declares no arms: the enrolment allocates nothing, and there is no seed."""
    subject = enrolled(study)
    assert count(study, Allocation) == count(study, RandomisationSecret) == 0
    assert randomisation.allocations(study, OS_USER) == []
    assert randomisation.arms_by_subject(study, OS_USER) == {}
    with study.reading() as session:
        patient = session.scalars(select(Patient).where(Patient.subject_id == subject)).one()
        assert patient.status == "enrolled" and randomisation.arm_of(session, patient) is None
    with pytest.raises(InvalidValue, match="declares no randomisation"):
        randomisation.verify(study, OS_USER)


# --------------------------------------------------------------------------- who sees and who verifies
def test_site_staff_see_their_patients_arms_and_reviewers_verify(blocks):
    """Open-label: a site's staff read their own patients' arms (site scoping as every listing); replaying the
    seed needs randomisation.verify (data manager, monitor, statistician; docs/roles.md)."""
    from tests.edc_support import NAMES, sign_in_as

    main = blocks_patient(blocks, 1, "MAIN", "none", 0)
    second = blocks_patient(blocks, 2, "S02", "none", 0)
    access.add_user(blocks, OS_USER, "admin", full_name="Ada Admin", role="admin", password="admin-password-1")
    admin = sign_in_as("admin")
    for role in ("investigator", "research_nurse", "monitor", "statistician"):
        username, full_name = NAMES[role]
        access.add_user(blocks, admin, username, full_name=full_name, role=role,
                        password=f"{username}-password-1", sites=("S02",) if role == "investigator" else ())
    investigator, nurse, monitor, statistician = (sign_in_as(NAMES[r][0]) for r in
                                                  ("investigator", "research_nurse", "monitor", "statistician"))
    assert [v.subject_id for v in randomisation.allocations(blocks, investigator)] == [second]
    assert set(randomisation.arms_by_subject(blocks, investigator)) == {second}
    with pytest.raises(InvalidValue, match="no such subject id"):
        randomisation.arms_by_subject(blocks, investigator, main)
    assert {v.subject_id for v in randomisation.allocations(blocks, nurse)} == {main, second}
    for refused in (investigator, nurse, admin):
        with pytest.raises(AccessDenied, match=r"permission randomisation\.verify"):
            randomisation.verify(blocks, refused)
    assert randomisation.verify(blocks, monitor).ok and randomisation.verify(blocks, statistician).ok
    with blocks.reading() as session:
        checks = session.scalars(select(AuditEntry.actor).where(AuditEntry.table_name == "randomisation_check",
                                                                AuditEntry.field == "allocations")).all()
    assert checks == [NAMES["monitor"][0], NAMES["statistician"][0]]
