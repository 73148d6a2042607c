"""Hereditary predisposition: the 2015 Chompret criteria and the 2021 NF1 criteria, at their boundaries.

Sources (the expected verdicts below are read from the criterion texts, not from the code):
- Bougeard G, et al. Revisiting Li-Fraumeni syndrome from TP53 mutation carriers. J Clin Oncol
  2015;33:2345-2352, the 2015 version of the Chompret criteria, as reproduced by the IARC TP53
  database (p53.iarc.fr, "Li-Fraumeni syndrome") and by recommendation 1 of Frebourg T, et al.
  Eur J Hum Genet 2020;28:1379-1386:
    familial presentation: proband with an LFS-spectrum tumour (premenopausal breast cancer,
    soft-tissue sarcoma, osteosarcoma, CNS tumour, adrenocortical carcinoma) before age 46 AND a
    first- or second-degree relative with an LFS tumour (except breast cancer if the proband has
    breast cancer) before age 56 or with multiple tumours;
    multiple primary tumours: multiple tumours (except multiple breast tumours), two of which
    belong to the spectrum, the first before 46;
    rare tumours: adrenocortical carcinoma, choroid plexus carcinoma, rhabdomyosarcoma of
    embryonal anaplastic subtype, whatever the family history;
    very early-onset breast cancer: breast cancer before age 31.
- Legius E, et al. Revised diagnostic criteria for neurofibromatosis type 1 and Legius syndrome.
  Genet Med 2021;23:1506-1513, Table 1 as reproduced on medicalcriteria.com (seven features; two
  or more without an affected parent, one or more with a parent who meets the criteria;
  footnotes a and b), and the mosaic NF1 criteria as reproduced by CERENEF.
No worked family from either paper is reproduced: the papers' own cases could not be checked.
"""

from __future__ import annotations

import pytest

from sarcotrial.domain.predisposition import (
    CHOMPRET_2015,
    MET,
    NF1_LEGIUS_2021,
    NOT_MET,
    UNKNOWN,
    Cancer,
    FamilyHistory,
    Germline,
    GermlineFinding,
    Nf1Findings,
    Proband,
    Relative,
    assess_predisposition,
    chompret_2015,
    family_history_from_dict,
    nf1_legius_2021,
    relationship_degree,
)
from sarcotrial.errors import InvalidValue


def sts(age):
    return Cancer("soft_tissue_sarcoma", age)


def breast(age, status="premenopausal"):
    return Cancer("breast_cancer", age, menopausal_status=status)


def family(proband_cancers, relatives=(), sex="female"):
    rels = None if relatives is None else tuple(Relative(rel.replace(" ", "_"), tuple(cancers))
                                                for rel, cancers in relatives)
    proband = tuple(Cancer(c.type, c.age, c.name, c.subtype, c.menopausal_status, f"proband.cancers[{i}]")
                    for i, c in enumerate(proband_cancers))
    return FamilyHistory(Proband(sex, proband), rels)


def criterion(fam, cid):
    result = chompret_2015(fam)
    return next(c for c in result.criteria if c.id == cid)


def familial(proband_cancers, relatives=(), sex="female"):
    return criterion(family(proband_cancers, relatives, sex), "familial_presentation").verdict


# --- The texts kept as data ---------------------------------------------------------------------

def test_criterion_texts_carry_the_published_limits():
    assert list(CHOMPRET_2015) == ["familial_presentation", "multiple_primary_tumours", "rare_tumours",
                                   "early_onset_breast_cancer"]
    assert "before age 46 years" in CHOMPRET_2015["familial_presentation"]["text"]
    assert "before age 56 years" in CHOMPRET_2015["familial_presentation"]["text"]
    assert "except breast cancer if the proband has breast cancer" in CHOMPRET_2015["familial_presentation"]["text"]
    assert "except multiple breast tumors" in CHOMPRET_2015["multiple_primary_tumours"]["text"]
    assert "embryonal anaplastic" in CHOMPRET_2015["rare_tumours"]["text"]
    assert "before age 31 years" in CHOMPRET_2015["early_onset_breast_cancer"]["text"]
    assert len(NF1_LEGIUS_2021) == 7
    assert "over 5 mm" in NF1_LEGIUS_2021["cafe_au_lait_macules"]["text"]
    assert "over 15 mm" in NF1_LEGIUS_2021["cafe_au_lait_macules"]["text"]


# --- Relationships ------------------------------------------------------------------------------

@pytest.mark.parametrize("relationship, degree, side", [
    ("mother", 1, "maternal"), ("father", 1, "paternal"), ("sister", 1, None), ("brother", 1, None),
    ("son", 1, None), ("daughter", 1, None),
    ("maternal aunt", 2, "maternal"), ("paternal uncle", 2, "paternal"), ("maternal grandmother", 2, "maternal"),
    ("paternal-grandfather", 2, "paternal"), ("maternal half sister", 2, "maternal"), ("niece", 2, None),
    ("grandson", 2, None), ("aunt", 2, "unknown"),
    ("maternal first cousin", 3, "maternal"), ("paternal cousin", 3, "paternal"),
    ("maternal great grandmother", 3, "maternal"), ("paternal great aunt", 3, "paternal"), ("grandniece", 3, None),
])
def test_degree_and_side_from_the_relationship(relationship, degree, side):
    assert relationship_degree(relationship) == (degree, side)


def test_unknown_relationship_is_refused():
    with pytest.raises(InvalidValue, match="relationship"):
        relationship_degree("neighbour")


# --- Chompret: familial presentation -------------------------------------------------------------

@pytest.mark.parametrize("proband_age, expected", [(45, MET), (46, NOT_MET)])
def test_familial_proband_before_46(proband_age, expected):
    assert familial([sts(proband_age)], [("mother", [sts(40)])]) == expected


@pytest.mark.parametrize("relative_age, expected", [(55, MET), (56, NOT_MET)])
def test_familial_relative_before_56(relative_age, expected):
    assert familial([sts(30)], [("father", [Cancer("osteosarcoma", relative_age)])]) == expected


@pytest.mark.parametrize("relationship, expected", [
    ("brother", MET),                 # first degree
    ("maternal aunt", MET),           # second degree
    ("paternal grandmother", MET),    # second degree
    ("maternal first cousin", NOT_MET),   # third degree: does not count
    ("paternal great uncle", NOT_MET),
])
def test_familial_first_and_second_degree_only(relationship, expected):
    assert familial([sts(30)], [(relationship, [Cancer("cns_tumour", 20)])]) == expected


def test_familial_relative_breast_cancer_excluded_when_the_proband_has_breast_cancer():
    # proband: premenopausal breast cancer at 40 (spectrum, before 46); sister: breast cancer at 45
    assert familial([breast(40)], [("sister", [breast(45)])]) == NOT_MET
    # the same sister counts for a proband with a sarcoma
    assert familial([sts(40)], [("sister", [breast(45)])]) == MET
    # and a non-breast spectrum tumour of the relative still counts for a breast-cancer proband
    assert familial([breast(40)], [("sister", [Cancer("adrenocortical_carcinoma", 10)])]) == MET


def test_familial_relative_with_multiple_tumours_at_any_age():
    two = [Cancer("other_cancer", 70, name="colon"), Cancer("other_cancer", 75, name="lung")]
    assert familial([sts(30)], [("paternal uncle", two)]) == MET
    assert familial([sts(30)], [("paternal uncle", two[:1])]) == NOT_MET


def test_familial_non_spectrum_tumours_do_not_count():
    assert familial([Cancer("leukaemia", 10)], [("mother", [sts(30)])]) == NOT_MET
    assert familial([sts(30)], [("mother", [Cancer("lymphoma", 30)])]) == NOT_MET


def test_breast_cancer_needs_the_premenopausal_status_for_the_spectrum():
    assert familial([breast(40, "postmenopausal")], [("mother", [sts(30)])]) == NOT_MET
    assert familial([breast(40, None)], [("mother", [sts(30)])]) == UNKNOWN
    c = criterion(family([breast(40, None)], [("mother", [sts(30)])]), "familial_presentation")
    assert c.missing == ("proband.cancers[0].menopausal_status",)
    # a man's breast cancer is not "premenopausal breast cancer"
    assert familial([sts(30)], [("father", [Cancer("breast_cancer", 40)])]) == NOT_MET


def test_familial_unknowns_are_never_not_met():
    assert familial([sts(30)], None) == UNKNOWN                       # family history not taken
    assert familial([Cancer("soft_tissue_sarcoma", None)], [("mother", [sts(30)])]) == UNKNOWN
    assert familial([sts(30)], [("mother", [Cancer("unknown_type", 40)])]) == UNKNOWN
    fam = FamilyHistory(Proband("female", (sts(30),)), (Relative("mother", None, path="relatives[0]"),))
    c = criterion(fam, "familial_presentation")
    assert (c.verdict, c.missing) == (UNKNOWN, ("relatives[0].cancers",))
    # but a proband with no spectrum tumour before 46 is not met whatever the family holds
    assert familial([sts(50)], None) == NOT_MET


# --- Chompret: multiple primary tumours ------------------------------------------------------------

@pytest.mark.parametrize("cancers, expected", [
    ([sts(45), Cancer("osteosarcoma", 60)], MET),            # first of the two before 46
    ([sts(46), Cancer("osteosarcoma", 60)], NOT_MET),        # first at 46
    ([Cancer("osteosarcoma", 60), sts(30)], MET),            # order of entry does not matter
    ([sts(30)], NOT_MET),                                     # a single tumour
    ([breast(30), breast(35)], NOT_MET),                      # multiple breast tumours excluded
    ([breast(30), breast(35), Cancer("other_cancer", 40)], NOT_MET),  # the two spectrum ones are both breast
    ([breast(30), sts(50)], MET),                             # breast + sarcoma
    ([sts(30), Cancer("other_cancer", 35)], NOT_MET),         # only one spectrum tumour
    ([sts(30), Cancer("unknown_type", 35)], UNKNOWN),
    ([sts(None), sts(50)], UNKNOWN),                          # the first could be before 46
])
def test_multiple_primary_tumours(cancers, expected):
    assert criterion(family(cancers), "multiple_primary_tumours").verdict == expected


# --- Chompret: rare tumours and early breast cancer -------------------------------------------------

@pytest.mark.parametrize("cancer, expected", [
    (Cancer("adrenocortical_carcinoma", 50), MET),
    (Cancer("choroid_plexus_carcinoma", 2), MET),
    (Cancer("rhabdomyosarcoma", 3, subtype="embryonal_anaplastic"), MET),
    (Cancer("rhabdomyosarcoma", 3, subtype="embryonal"), NOT_MET),     # plain embryonal RMS
    (Cancer("rhabdomyosarcoma", 3, subtype="alveolar"), NOT_MET),
    (Cancer("rhabdomyosarcoma", 3), UNKNOWN),                          # subtype not recorded
    (Cancer("choroid_plexus_papilloma", 2), NOT_MET),
    (Cancer("choroid_plexus_tumour", 2), UNKNOWN),
    (sts(20), NOT_MET),
])
def test_rare_tumours_whatever_the_family_history(cancer, expected):
    fam = family([cancer], relatives=None)   # family history not even taken
    assert criterion(fam, "rare_tumours").verdict == expected
    if expected == MET:
        assert chompret_2015(fam).verdict == "met"


def test_adrenocortical_carcinoma_at_any_age():
    assert criterion(family([Cancer("adrenocortical_carcinoma", 70)]), "rare_tumours").verdict == MET


@pytest.mark.parametrize("age, expected", [(30, MET), (31, NOT_MET)])
def test_breast_cancer_before_31(age, expected):
    # no menopausal status needed for this criterion
    assert criterion(family([breast(age, None)]), "early_onset_breast_cancer").verdict == expected


def test_breast_cancer_age_unknown_is_unknown():
    assert criterion(family([breast(None)]), "early_onset_breast_cancer").verdict == UNKNOWN


def test_chompret_overall():
    assert chompret_2015(family([sts(50)], [])).verdict == "not_met"
    assert chompret_2015(family([], [])).verdict == "not_met"
    undecided = chompret_2015(family([Cancer("rhabdomyosarcoma", 3)], []))
    assert undecided.verdict == "undecided" and "proband.cancers[0].subtype" in undecided.summary
    assert chompret_2015(family([breast(28)], None)).verdict == "met"


# --- NF1: each feature ----------------------------------------------------------------------------

def nf1_result(findings=None, germline=Germline()):
    return nf1_legius_2021(FamilyHistory(Proband("female", ()), (), findings, germline))


def feature(findings, fid, germline=Germline()):
    return next(c for c in nf1_result(findings, germline).criteria if c.id == fid)


@pytest.mark.parametrize("status, diameters, expected", [
    ("prepubertal", [6] * 6, MET),
    ("prepubertal", [6] * 5, NOT_MET),                # five only
    ("prepubertal", [5] * 6, NOT_MET),                # exactly 5 mm is not "over 5 mm"
    ("prepubertal", [5.1] * 6, MET),
    ("postpubertal", [15] * 6, NOT_MET),              # exactly 15 mm is not "over 15 mm"
    ("postpubertal", [16] * 6, MET),
    ("postpubertal", [10] * 8, NOT_MET),              # over 5 but not over 15 after puberty
    (None, [16] * 6, MET),                            # over 15 meets it either way
    (None, [10] * 6, UNKNOWN),                        # the pubertal status decides
    (None, [10] * 5, NOT_MET),                        # fewer than six over 5 mm either way
])
def test_cafe_au_lait_macules(status, diameters, expected):
    c = feature(Nf1Findings(pubertal_status=status, calm_diameters_mm=tuple(diameters)), "cafe_au_lait_macules")
    assert c.verdict == expected
    if expected == UNKNOWN:
        assert c.missing == ("nf1.pubertal_status",)


def test_calms_not_recorded_are_unknown():
    assert feature(Nf1Findings(), "cafe_au_lait_macules").verdict == UNKNOWN
    assert feature(Nf1Findings(calm_diameters_mm=()), "cafe_au_lait_macules").verdict == NOT_MET


@pytest.mark.parametrize("axillary, inguinal, expected", [
    (True, None, MET), (None, True, MET), (False, False, NOT_MET), (False, None, UNKNOWN), (None, None, UNKNOWN)])
def test_freckling(axillary, inguinal, expected):
    assert feature(Nf1Findings(freckling_axillary=axillary, freckling_inguinal=inguinal), "freckling").verdict == expected


@pytest.mark.parametrize("total, plexiform, expected", [
    (2, 0, MET), (1, 0, NOT_MET), (1, 1, MET), (0, None, NOT_MET), (1, None, UNKNOWN), (None, 1, MET),
    (None, 0, UNKNOWN)])
def test_neurofibromas(total, plexiform, expected):
    f = Nf1Findings(neurofibromas=total, plexiform_neurofibromas=plexiform)
    assert feature(f, "neurofibromas").verdict == expected


@pytest.mark.parametrize("value, expected", [(True, MET), (False, NOT_MET), (None, UNKNOWN)])
def test_optic_pathway_glioma(value, expected):
    assert feature(Nf1Findings(optic_pathway_glioma=value), "optic_pathway_glioma").verdict == expected


@pytest.mark.parametrize("lisch, choroidal, expected", [
    (2, None, MET), (None, 2, MET), (1, 1, NOT_MET), (1, None, UNKNOWN), (0, 0, NOT_MET)])
def test_lisch_nodules_or_choroidal_abnormalities(lisch, choroidal, expected):
    f = Nf1Findings(lisch_nodules=lisch, choroidal_abnormalities=choroidal)
    assert feature(f, "lisch_nodules_or_choroidal_abnormalities").verdict == expected


def test_osseous_lesion_and_footnote_b():
    none = dict(anterolateral_tibial_bowing=False, long_bone_pseudarthrosis=False)
    assert feature(Nf1Findings(anterolateral_tibial_bowing=True), "osseous_lesion").verdict == MET
    assert feature(Nf1Findings(long_bone_pseudarthrosis=True), "osseous_lesion").verdict == MET
    assert feature(Nf1Findings(sphenoid_dysplasia=False, **none), "osseous_lesion").verdict == NOT_MET
    assert feature(Nf1Findings(sphenoid_dysplasia=True, ipsilateral_orbital_plexiform_neurofibroma=False, **none),
                   "osseous_lesion").verdict == MET
    # footnote b: not a separate criterion with an ipsilateral orbital plexiform neurofibroma
    with_pn = Nf1Findings(sphenoid_dysplasia=True, ipsilateral_orbital_plexiform_neurofibroma=True, **none)
    assert feature(with_pn, "osseous_lesion").verdict == NOT_MET
    assert any("Sphenoid wing dysplasia is not a separate criterion" in n for n in nf1_result(with_pn).notes)
    # whether the orbital plexiform is ipsilateral is unknown -> unknown; no plexiform at all -> counts
    assert feature(Nf1Findings(sphenoid_dysplasia=True, **none), "osseous_lesion").verdict == UNKNOWN
    assert feature(Nf1Findings(sphenoid_dysplasia=True, plexiform_neurofibromas=0, neurofibromas=0, **none),
                   "osseous_lesion").verdict == MET


def nf1_variant(classification="pathogenic", mosaic=False, tissue="blood", vaf=50.0):
    return Germline(("NF1",), (GermlineFinding("NF1", classification, "NM_000267.3:c.1A>G", vaf, tissue, mosaic,
                                               "germline.findings[0]"),))


def test_nf1_variant():
    assert feature(None, "nf1_variant", nf1_variant()).verdict == MET
    assert feature(None, "nf1_variant", nf1_variant(mosaic=True, vaf=15)).verdict == NOT_MET
    assert feature(None, "nf1_variant", nf1_variant(mosaic=None)).verdict == UNKNOWN   # laboratory's call missing
    assert feature(None, "nf1_variant", nf1_variant(tissue="neurofibroma")).verdict == NOT_MET  # not normal tissue
    assert feature(None, "nf1_variant", nf1_variant(tissue=None)).verdict == UNKNOWN
    assert feature(None, "nf1_variant", nf1_variant("likely_pathogenic")).verdict == UNKNOWN
    assert feature(None, "nf1_variant", nf1_variant("uncertain_significance")).verdict == NOT_MET
    assert feature(Nf1Findings(), "nf1_variant", Germline(("NF1",))).verdict == NOT_MET     # tested, nothing found
    assert feature(Nf1Findings(), "nf1_variant", Germline(("TP53",))).verdict == UNKNOWN    # NF1 not tested


# --- NF1: the rule, the parent, the notes ----------------------------------------------------------

ALL_ABSENT = dict(calm_diameters_mm=(), freckling_axillary=False, freckling_inguinal=False, neurofibromas=0,
                  optic_pathway_glioma=False, lisch_nodules=0, choroidal_abnormalities=0, sphenoid_dysplasia=False,
                  anterolateral_tibial_bowing=False, long_bone_pseudarthrosis=False)


def absent_but(**changes):
    return Nf1Findings(**{**ALL_ABSENT, **changes})


NF1_NEGATIVE = Germline(("NF1",))


def test_two_features_without_an_affected_parent():
    two = absent_but(optic_pathway_glioma=True, neurofibromas=2, parent_meets_nf1_criteria=False)
    one = absent_but(optic_pathway_glioma=True, parent_meets_nf1_criteria=False)
    assert nf1_result(two, NF1_NEGATIVE).verdict == "met"
    assert nf1_result(one, NF1_NEGATIVE).verdict == "not_met"


def test_one_feature_with_a_parent_who_meets_the_criteria():
    one = absent_but(optic_pathway_glioma=True, parent_meets_nf1_criteria=True)
    none = absent_but(parent_meets_nf1_criteria=True)
    assert nf1_result(one, NF1_NEGATIVE).verdict == "met"
    assert nf1_result(none, NF1_NEGATIVE).verdict == "not_met"


def test_parent_status_unknown():
    # one feature: a parent would make it, none would not -> undecided, naming the parent
    result = nf1_result(absent_but(optic_pathway_glioma=True), NF1_NEGATIVE)
    assert result.verdict == "undecided" and "nf1.parent_meets_nf1_criteria" in result.missing
    # two features: met either way; none: not met either way
    assert nf1_result(absent_but(optic_pathway_glioma=True, neurofibromas=3), NF1_NEGATIVE).verdict == "met"
    assert nf1_result(absent_but(), NF1_NEGATIVE).verdict == "not_met"


def test_unknown_features_leave_it_undecided_never_not_met():
    # one feature met, the others not examined, no affected parent: another could still be found
    result = nf1_result(Nf1Findings(optic_pathway_glioma=True, parent_meets_nf1_criteria=False))
    assert result.verdict == "undecided"
    assert "nf1.lisch_nodules" in result.missing and "germline.genes_tested (NF1)" in result.missing


def test_not_assessed_without_findings_or_nf1_test():
    assert nf1_result(None).verdict == "not_assessed"
    assert nf1_result(None, NF1_NEGATIVE).verdict == "undecided"


def test_legius_syndrome_note_with_pigmentary_features_only():
    f = absent_but(pubertal_status="prepubertal", calm_diameters_mm=(6,) * 7, freckling_axillary=True,
                   calm_bilateral=True, parent_meets_nf1_criteria=False)
    result = nf1_result(f, NF1_NEGATIVE)
    assert result.verdict == "met"
    assert any("Legius syndrome" in n and "SPRED1" in n for n in result.notes)
    # footnote a: at least one pigmentary finding bilateral
    unilateral = nf1_result(absent_but(**{**f.as_dict(), "calm_diameters_mm": (6,) * 7, "calm_bilateral": False,
                                          "freckling_bilateral": False}), NF1_NEGATIVE)
    assert unilateral.verdict == "not_met"
    not_said = nf1_result(absent_but(**{**f.as_dict(), "calm_diameters_mm": (6,) * 7, "calm_bilateral": None}),
                          NF1_NEGATIVE)
    assert not_said.verdict == "undecided" and "nf1.calm_bilateral" in not_said.missing
    # a non-pigmentary feature: no Legius note
    other = nf1_result(absent_but(optic_pathway_glioma=True, freckling_axillary=True, parent_meets_nf1_criteria=False),
                       NF1_NEGATIVE)
    assert other.verdict == "met" and not any("Legius" in n for n in other.notes)


def test_mosaic_note():
    result = nf1_result(absent_but(optic_pathway_glioma=True, parent_meets_nf1_criteria=False),
                        nf1_variant(mosaic=True, vaf=12))
    assert result.verdict == "not_met"    # one criterion, the variant is mosaic
    assert any(n.startswith("Mosaic NF1") and "are met" in n for n in result.notes)
    alone = nf1_result(absent_but(parent_meets_nf1_criteria=False), nf1_variant(mosaic=True, vaf=12))
    assert any("no other criterion is met yet" in n for n in alone.notes)


# --- Referral ------------------------------------------------------------------------------------

def test_referral_reasons():
    fam = FamilyHistory(Proband("female", (Cancer("adrenocortical_carcinoma", 3),)), ())
    r = assess_predisposition(fam).referral
    assert r.refer and "Chompret" in r.reasons[0]
    lp = FamilyHistory(Proband("male", (sts(60),)), (),
                       germline=Germline(("BRCA2",), (GermlineFinding("BRCA2", "likely_pathogenic", "c.1A>G"),)))
    r = assess_predisposition(lp).referral
    assert r.refer and r.reasons == ("germline BRCA2 c.1A>G, likely pathogenic",)
    vus = FamilyHistory(Proband("male", (sts(60),)), (),
                        germline=Germline(("TP53",), (GermlineFinding("TP53", "uncertain_significance"),)))
    r = assess_predisposition(vus).referral
    assert not r.refer and r.reasons == ()
    pending = assess_predisposition(family([breast(40, None)], [("mother", [sts(30)])])).referral
    assert not pending.refer and pending.pending and "menopausal_status" in pending.pending[0]


def test_nf1_met_raises_the_flag():
    fam = FamilyHistory(Proband("female", ()), (), absent_but(optic_pathway_glioma=True, neurofibromas=2),
                        NF1_NEGATIVE)
    r = assess_predisposition(fam).referral
    assert r.refer and r.reasons == ("NF1 diagnostic criteria met (Legius 2021)",)


# --- Reading a document --------------------------------------------------------------------------

def doc(**changes):
    base = {"proband": {"sex": "female", "age": 40, "cancers": [{"type": "soft_tissue_sarcoma", "age": 30}]},
            "relatives": [{"relationship": "mother", "cancers": [{"type": "breast", "age": 50,
                                                                  "menopausal_status": "premenopausal"}]},
                          {"relationship": "maternal aunt", "cancers": [{"type": "osteosarcoma", "age": 20}]}]}
    base.update(changes)
    return base


def test_document_reads_into_the_model():
    fam = family_history_from_dict(doc())
    assert fam.relatives[1].relationship == "maternal_aunt" and fam.relatives[1].degree == 2
    assert fam.relatives[0].cancers[0].type == "breast_cancer"
    assert chompret_2015(fam).verdict == "met"


@pytest.mark.parametrize("mutate, path", [
    (lambda d: d["relatives"][1]["cancers"][0].update(age=-1), "relatives[1].cancers[0].age"),
    (lambda d: d["relatives"][1]["cancers"][0].update(age="young"), "relatives[1].cancers[0].age"),
    (lambda d: d["relatives"][1].update(relationship="neighbour"), "relatives[1].relationship"),
    (lambda d: d["relatives"][0].update(sex="male"), "relatives[0].sex"),
    (lambda d: d["proband"]["cancers"][0].update(age=45), "proband.cancers[0].age"),      # after age 40
    (lambda d: d["proband"]["cancers"][0].update(type="sarcoma-ish"), "proband.cancers[0].type"),
    (lambda d: d["proband"]["cancers"][0].update(subtype="embryonal"), "proband.cancers[0].subtype"),
    (lambda d: d["proband"]["cancers"][0].update(menopausal_status="premenopausal"),
     "proband.cancers[0].menopausal_status"),
    (lambda d: d["proband"].update(sex="f"), "proband.sex"),
    (lambda d: d["proband"].pop("cancers"), "proband.cancers"),
    (lambda d: d["proband"].update(cancer=[]), "proband.cancer"),
    (lambda d: d.update(nf1={"lisch_nodules": -2}), "nf1.lisch_nodules"),
    (lambda d: d.update(nf1={"calm_diameters_mm": [10, "big"]}), "nf1.calm_diameters_mm[1]"),
    (lambda d: d.update(nf1={"optic_pathway_glioma": "yes"}), "nf1.optic_pathway_glioma"),
    (lambda d: d.update(nf1={"neurofibromas": 1, "plexiform_neurofibromas": 2}), "nf1.plexiform_neurofibromas"),
    (lambda d: d.update(germline={"findings": [{"gene": "TP53", "classification": "bad"}]}),
     "germline.findings[0].classification"),
    (lambda d: d.update(germline={"findings": [{"gene": "TP53", "classification": "vus", "vaf_percent": 150}]}),
     "germline.findings[0].vaf_percent"),
    (lambda d: d.update(germline={"findings": [{"gene": "TP 53", "classification": "benign"}]}),
     "germline.findings[0].gene"),
])
def test_bad_input_names_the_path(mutate, path):
    d = doc()
    mutate(d)
    with pytest.raises(InvalidValue) as err:
        family_history_from_dict(d)
    assert err.value.field == path
