"""Molecular findings: the gene list, HGVS and fusion notation, histotype meaning and actionability.

Expected values come from the published sources, never from this code:
- Fusions and alterations: WHO Classification of Tumours Editorial Board. Soft tissue and bone
  tumours. Lyon: IARC; 2020 (5th ed.), each entity's chapter: synovial sarcoma SS18::SSX1/SSX2/SSX4;
  ALT/WDLPS and DDLPS MDM2 amplification (intimal sarcoma MDM2 amplification too); myxoid
  liposarcoma FUS::DDIT3 / EWSR1::DDIT3; Ewing sarcoma EWSR1::FLI1, EWSR1::ERG, FUS::ERG;
  CIC-rearranged sarcoma CIC::DUX4; solitary fibrous tumour NAB2::STAT6; DFSP COL1A1::PDGFB; GIST
  KIT / PDGFRA mutations; clear cell sarcoma and angiomatoid fibrous histiocytoma EWSR1::ATF1;
  epithelioid sarcoma loss of SMARCB1 (INI1).
- Fusion notation GENE1::GENE2: Bruford EA et al., Leukemia 2021;35:3040-3043 (HGNC).
- HGVS: den Dunnen JT et al., Hum Mutat 2016;37:564-569 and the HGVS examples p.Arg97ProfsTer23,
  p.Trp24Ter / p.Trp24*, c.4375C>T; BRAF V600E is c.1799T>A, p.Val600Glu; PDGFRA D842V is
  p.Asp842Val (exon 18); KIT exon 11 p.Trp557_Lys558del.
- Actionability: FDA approvals: larotrectinib (Nov 2018) and entrectinib (Aug 2019) for NTRK
  fusion-positive solid tumours; crizotinib for ALK-positive IMT (Jul 2022); avapritinib for
  PDGFRA exon 18 (incl. D842V) GIST (Jan 2020); dabrafenib + trametinib for BRAF V600E solid
  tumours (Jun 2022); tazemetostat for epithelioid sarcoma (Jan 2020); nab-sirolimus for malignant
  PEComa (Nov 2021).
- Previous symbols (HGNC): SYT -> SS18, CHOP -> DDIT3, INI1 -> SMARCB1, DOG1 -> ANO1,
  H3F3A -> H3-3A, FAM22A -> NUTM2A, TRKA -> NTRK1.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sarcotrial.domain import molecular as m
from sarcotrial.domain.histology import histotype
from sarcotrial.errors import InvalidValue


def finding(**raw):
    return m.finding_from_dict(raw)


def one(histotype_id, **raw):
    return m.interpret(histotype_id, [finding(**raw)])[0]


# --------------------------------------------------------------------------------------------
# The gene list
# --------------------------------------------------------------------------------------------

SARCOMA_PANEL_GENES = """SS18 SSX1 SSX2 SSX4 EWSR1 FLI1 ERG FUS DDIT3 NAB2 STAT6 MDM2 CDK4 HMGA2 ALK ROS1 NTRK1 NTRK2
NTRK3 ETV6 TFE3 ASPSCR1 CIC DUX4 BCOR CCNB3 PAX3 PAX7 FOXO1 COL1A1 PDGFB USP6 MYOD1 WWTR1 CAMTA1 YAP1
KIT PDGFRA SDHA SDHB SDHC SDHD NF1 BRAF TP53 RB1 APC SMARCB1 SMARCA4 CTNNB1 GLI1 PLAG1 CSF1 DICER1
SUFU PTCH1""".split()


def test_gene_list_is_versioned_sourced_and_holds_the_sarcoma_genes():
    assert re.fullmatch(r"\d{4}\.\d+", m.gene_list_version())
    symbols = {g.symbol for g in m.genes()}
    assert len(symbols) >= 200
    assert set(SARCOMA_PANEL_GENES) <= symbols
    for g in m.genes():
        assert re.fullmatch(r"[A-Z0-9][A-Z0-9-]*", g.symbol), g.symbol  # HGNC symbols are upper case
        assert g.groups


def test_no_alias_is_another_genes_symbol_or_names_two_genes():
    symbols = {g.symbol.upper() for g in m.genes()}
    seen: dict[str, str] = {}
    for g in m.genes():
        for alias in g.aliases:
            assert alias.upper() not in symbols, alias
            assert seen.setdefault(alias.upper(), g.symbol) == g.symbol, alias


@pytest.mark.parametrize("written, approved", [
    ("SYT", "SS18"), ("CHOP", "DDIT3"), ("INI1", "SMARCB1"), ("DOG1", "ANO1"), ("H3F3A", "H3-3A"),
    ("FAM22A", "NUTM2A"), ("TRKA", "NTRK1"), ("FKHR", "FOXO1"), ("ss18", "SS18"),
])
def test_previous_symbols_and_aliases_map_to_the_approved_symbol(written, approved):
    match = m.resolve_gene(written, "gene")
    assert match.symbol == approved
    assert match.via_alias is (written.upper() != approved)
    if match.via_alias:
        assert approved in match.note and "HGNC approved symbol" in match.note


def test_unknown_gene_refused_with_nearest_symbols():
    with pytest.raises(InvalidValue) as exc:
        m.resolve_gene("SS19", "findings[0].gene")
    assert exc.value.field == "findings[0].gene"
    assert "unknown gene symbol" in exc.value.rule and "SS18" in exc.value.rule
    assert "NTRK1" in m.nearest_genes("NTRK")


# --------------------------------------------------------------------------------------------
# Notation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("p.Val600Glu", "p.Val600Glu"), ("p.V600E", "p.Val600Glu"), ("p.(V600E)", "p.(Val600Glu)"),
    ("p.Arg97ProfsTer23", "p.Arg97ProfsTer23"), ("p.R97Pfs*23", "p.Arg97ProfsTer23"),
    ("p.Trp24*", "p.Trp24Ter"), ("p.Trp24Ter", "p.Trp24Ter"), ("p.D842V", "p.Asp842Val"),
    ("p.W557_K558del", "p.Trp557_Lys558del"), ("p.Ala502_Tyr503dup", "p.Ala502_Tyr503dup"),
    ("p.Lys558_Val559insPro", "p.Lys558_Val559insPro"), ("p.Leu122Arg", "p.Leu122Arg"),
])
def test_hgvs_protein_accepted_and_normalised_to_three_letters(text, expected):
    assert m.normalise_protein(text, "protein") == expected


@pytest.mark.parametrize("text", ["V600E", "p.V600", "p.Val600E", "p.val600glu", "p.600E", "c.1799T>A", "p.V600E "
                                  "extra", "BRAF V600E"])
def test_bad_hgvs_protein_refused_with_an_example(text):
    with pytest.raises(InvalidValue) as exc:
        m.normalise_protein(text, "findings[0].protein")
    assert "p.Val600Glu" in exc.value.rule


@pytest.mark.parametrize("text", ["c.1799T>A", "c.4375C>T", "c.1669_1674del", "c.1669_1674delTGGAAG",
                                  "c.2524-1G>A", "c.*12G>A", "c.-5C>T", "c.1504_1509dup", "c.1500_1501insATG",
                                  "c.100_102delinsTT"])
def test_hgvs_cdna_accepted(text):
    assert m.normalise_cdna(text, "cdna") == text


@pytest.mark.parametrize("text", ["1799T>A", "c.T1799A", "c.1799t>a", "c.1799T>", "c.1669_1674", "c.0A>T",
                                  "c.1500ins"])
def test_bad_hgvs_cdna_refused(text):
    with pytest.raises(InvalidValue) as exc:
        m.normalise_cdna(text, "findings[0].cdna")
    assert "c.1799T>A" in exc.value.rule


def test_fusion_notation():
    five, three = m.parse_fusion("SS18::SSX2", "fusion")
    assert (five.symbol, three.symbol) == ("SS18", "SSX2")
    for bad in ("SS18-SSX2", "SS18/SSX2", "SS18::", "SS18::SSX2::SSX1", "SS18::SS18", "t(X;18)"):
        with pytest.raises(InvalidValue) as exc:
            m.parse_fusion(bad, "findings[0].fusion")
        assert exc.value.field == "findings[0].fusion"


def test_fusion_partners_as_aliases_are_noted():
    f = finding(test="RT-PCR", kind="fusion", fusion="SYT::SSX2")
    assert f.fusion == "SS18::SSX2"
    assert any("SYT" in n and "SS18" in n for n in f.notes)
    f2 = finding(test="NGS panel", kind="fusion", five_prime="TLS", three_prime="CHOP")
    assert f2.fusion == "FUS::DDIT3" and len(f2.notes) == 2


# --------------------------------------------------------------------------------------------
# Validation of a finding
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vaf", [1.2, -0.1, 45])
def test_vaf_outside_0_1_refused(vaf):
    with pytest.raises(InvalidValue) as exc:
        m.finding_from_dict({"test": "NGS panel", "kind": "mutation", "gene": "KIT", "protein": "p.V560D",
                             "vaf": vaf}, 3)
    assert exc.value.field == "findings[3].vaf"


def test_vaf_only_on_mutations_and_bounds_accepted():
    assert finding(test="NGS", kind="mutation", gene="KIT", protein="p.V560D", vaf=0).vaf == 0
    assert finding(test="NGS", kind="mutation", gene="KIT", protein="p.V560D", vaf=1).vaf == 1
    with pytest.raises(InvalidValue) as exc:
        finding(test="FISH", kind="amplification", gene="MDM2", vaf=0.5)
    assert exc.value.field == "findings[0].vaf"


@pytest.mark.parametrize("raw, field", [
    ({"test": "IHC", "kind": "mutation", "gene": "KIT", "protein": "p.V560D"}, "test"),
    ({"test": "FISH", "kind": "expression", "gene": "STAT6", "result": "positive"}, "test"),
    ({"test": "PCR", "kind": "fusion", "fusion": "SS18::SSX1"}, "test"),
    ({"test": "NGS panel", "kind": "translocation", "gene": "SS18"}, "kind"),
    ({"test": "NGS panel", "kind": "mutation", "gene": "KIT"}, "protein"),
    ({"test": "IHC", "kind": "expression", "gene": "STAT6", "result": "weak"}, "result"),
    ({"test": "NGS panel", "kind": "copy_number", "gene": "MDM2"}, "copies"),
    ({"test": "NGS panel", "kind": "copy_number", "gene": "MDM2", "copies": -1}, "copies"),
    ({"test": "NGS panel", "kind": "copy_number", "gene": "MDM2", "copies": 12, "call": "high"}, "call"),
    ({"test": "FISH", "kind": "amplification", "gene": "MDM2", "date": "02/03/2026"}, "date"),
    ({"test": "FISH", "kind": "amplification", "gene": "MDM2", "colour": "red"}, "colour"),
    ({"test": "NGS panel", "kind": "mutation", "gene": "KIT", "protein": "p.V560D", "exon": 0}, "exon"),
])
def test_bad_findings_name_the_field(raw, field):
    with pytest.raises(InvalidValue) as exc:
        m.finding_from_dict(raw, 2)
    assert exc.value.field == f"findings[2].{field}"


def test_document_with_histotype_and_dates():
    hist, items = m.findings_from_document({"histotype": "synovial_sarcoma", "findings": [
        {"test": "RT-PCR", "kind": "fusion", "fusion": "SS18::SSX1", "laboratory": "Molecular pathology",
         "date": dt.date(2026, 3, 2)}]})
    assert hist == "synovial_sarcoma" and items[0].date == dt.date(2026, 3, 2)
    with pytest.raises(InvalidValue) as exc:
        m.findings_from_document({"findings": []})
    assert exc.value.field == "findings"



def test_every_bad_finding_is_named_at_once():
    """A document with three bad findings names all three (each finding's first problem), in order, so
    that one run shows every correction to make; one bad finding is its own error, as before."""
    from sarcotrial.errors import InvalidValues

    good = {"test": "FISH", "kind": "amplification", "gene": "MDM2"}
    with pytest.raises(InvalidValues) as exc:
        m.findings_from_document({"findings": [
            {"test": "FISH", "kind": "fusion", "fusion": "SS18X::SSX1"}, good,
            {"test": "FISH", "kind": "amplificationz", "gene": "MDM2"},
            {"test": "NGS panel", "kind": "mutation", "gene": "NTRKK1", "protein": "p.G595R"}]})
    assert [p.field for p in exc.value.problems] == ["findings[0].fusion", "findings[2].kind", "findings[3].gene"]
    assert exc.value.field == "findings[0].fusion" and isinstance(exc.value, InvalidValue)
    lines = str(exc.value).splitlines()
    assert lines[0].startswith("3 problems") and "nearest known: SS18" in lines[1] and "NTRK1" in lines[3]
    with pytest.raises(InvalidValue) as one:
        m.findings_from_document({"findings": [good, {"test": "FISH", "kind": "amplificationz", "gene": "MDM2"}]})
    assert not isinstance(one.value, InvalidValues) and one.value.field == "findings[1].kind"

# --------------------------------------------------------------------------------------------
# The catalogue: each entry cited, ids and genes valid
# --------------------------------------------------------------------------------------------

def test_every_diagnostic_entry_cites_who_2020_and_names_known_entities():
    entries = m.diagnostic_entries()
    assert len(entries) >= 40
    for e in entries:
        assert "WHO 2020" in e.source, e.id
        for h in e.known_in:
            histotype(h)  # a histotypes.yaml id
        assert not (set(e.defining_in) & set(e.characteristic_in)), e.id


def test_every_actionable_entry_has_drugs_level_evidence_and_source():
    for e in m.actionable_entries():
        assert e.drugs and e.evidence and e.source, e.id
        assert e.level in ("approved (tumour-agnostic)", "approved (histotype)", "investigational")
        if e.level.startswith("approved"):
            assert re.search(r"(FDA|EU).*(19|20)\d\d", e.evidence), e.id  # the approval and its year


@pytest.mark.parametrize("fusion, entity", [
    ("SS18::SSX1", "synovial_sarcoma"), ("SS18::SSX2", "synovial_sarcoma"), ("SS18::SSX4", "synovial_sarcoma"),
    ("FUS::DDIT3", "myxoid_liposarcoma"), ("EWSR1::DDIT3", "myxoid_liposarcoma"),
    ("EWSR1::FLI1", "ewing_sarcoma"), ("EWSR1::ERG", "ewing_sarcoma"), ("FUS::ERG", "ewing_sarcoma"),
    ("NAB2::STAT6", "solitary_fibrous_tumour"), ("COL1A1::PDGFB", "dermatofibrosarcoma_protuberans"),
    ("ASPSCR1::TFE3", "alveolar_soft_part_sarcoma"), ("PAX3::FOXO1", "alveolar_rhabdomyosarcoma"),
    ("PAX7::FOXO1", "alveolar_rhabdomyosarcoma"), ("EWSR1::WT1", "desmoplastic_small_round_cell_tumour"),
    ("EWSR1::ATF1", "clear_cell_sarcoma"), ("EWSR1::CREB1", "clear_cell_sarcoma"),
    ("CIC::DUX4", "cic_rearranged_sarcoma"), ("BCOR::CCNB3", "bcor_sarcoma"),
    ("WWTR1::CAMTA1", "epithelioid_haemangioendothelioma"), ("HEY1::NCOA2", "mesenchymal_chondrosarcoma"),
    ("EWSR1::NR4A3", "extraskeletal_myxoid_chondrosarcoma"), ("ETV6::NTRK3", "infantile_fibrosarcoma"),
])
def test_who_2020_defining_fusions_support_their_entity(fusion, entity):
    r = one(entity, test="NGS panel", kind="fusion", fusion=fusion)
    assert (r.relation, r.level) == ("supports", "defining")
    reverse = "::".join(reversed(fusion.split("::")))  # the reciprocal transcript (RT-PCR)
    assert one(entity, test="RT-PCR", kind="fusion", fusion=reverse).relation == "supports"


# --------------------------------------------------------------------------------------------
# Support and contradiction: synovial sarcoma, liposarcoma, Ewing, SFT, GIST
# --------------------------------------------------------------------------------------------

def test_synovial_sarcoma():
    assert one("synovial_sarcoma", test="FISH", kind="rearrangement", gene="SS18").level == "defining"
    r = one("synovial_sarcoma", test="NGS panel", kind="fusion", fusion="EWSR1::FLI1")
    assert r.relation == "contradicts" and r.entities == ("ewing_sarcoma",) and r.flag_for_board
    assert "flag for the board" in r.explanation
    # reduced SMARCB1 (INI1) expression is known in synovial sarcoma: no contradiction
    assert one("synovial_sarcoma", test="IHC", kind="expression", gene="INI1", result="lost").relation == "supports"
    # and SS18::SSX in a tumour recorded otherwise is flagged
    r = one("undifferentiated_spindle_cell_sarcoma", test="RT-PCR", kind="fusion", fusion="SS18::SSX2")
    assert r.relation == "contradicts" and r.entities == ("synovial_sarcoma",)


def test_liposarcoma_mdm2():
    for entity in ("atypical_lipomatous_tumour", "well_differentiated_liposarcoma", "dedifferentiated_liposarcoma"):
        r = one(entity, test="FISH", kind="amplification", gene="MDM2")
        assert (r.relation, r.level) == ("supports", "defining")
    r = one("pleomorphic_liposarcoma", test="FISH", kind="amplification", gene="MDM2")
    assert r.relation == "contradicts" and "dedifferentiated_liposarcoma" in r.entities
    assert one("undifferentiated_pleomorphic_sarcoma", test="NGS panel", kind="copy_number", gene="MDM2",
               copies=25, call="amplification").relation == "contradicts"
    # known in intimal sarcoma (characteristic): supports, no flag
    r = one("intimal_sarcoma", test="FISH", kind="amplification", gene="MDM2")
    assert (r.relation, r.level, r.flag_for_board) == ("supports", "characteristic", False)
    # a copy number without the laboratory's call is not interpreted
    assert one("pleomorphic_liposarcoma", test="NGS panel", kind="copy_number", gene="MDM2",
               copies=25).relation == "nothing known"
    # DDIT3 fusion in a myxoid liposarcoma supports; in a pleomorphic liposarcoma contradicts
    assert one("myxoid_liposarcoma", test="RT-PCR", kind="fusion", fusion="FUS::DDIT3").level == "defining"
    assert one("myxoid_pleomorphic_liposarcoma", test="FISH", kind="rearrangement",
               gene="DDIT3").relation == "contradicts"
    # CDK4 alone is characteristic, not specific: no contradiction anywhere
    assert one("leiomyosarcoma", test="FISH", kind="amplification", gene="CDK4").relation == "nothing known"


def test_ewing_sarcoma_and_the_non_specific_ewsr1_break_apart():
    assert one("ewing_sarcoma", test="RT-PCR", kind="fusion", fusion="EWSR1::FLI1").level == "defining"
    r = one("ewing_sarcoma", test="FISH", kind="rearrangement", gene="EWSR1")
    assert (r.relation, r.level) == ("supports", "compatible")
    assert "desmoplastic_small_round_cell_tumour" in r.known_in
    # the same break-apart does not contradict the other EWSR1-rearranged entities
    for entity in ("desmoplastic_small_round_cell_tumour", "clear_cell_sarcoma", "myxoid_liposarcoma",
                   "extraskeletal_myxoid_chondrosarcoma", "angiomatoid_fibrous_histiocytoma", "myoepithelioma"):
        assert one(entity, test="FISH", kind="rearrangement", gene="EWSR1").relation == "supports", entity
    r = one("ewing_sarcoma", test="NGS panel", kind="fusion", fusion="CIC::DUX4")
    assert r.relation == "contradicts" and r.entities == ("cic_rearranged_sarcoma",)
    r = one("undifferentiated_round_cell_sarcoma", test="NGS panel", kind="fusion", fusion="EWSR1::FLI1")
    assert r.relation == "contradicts" and r.entities == ("ewing_sarcoma",)
    # EWSR1::ATF1 defines two entities: supports either, names both elsewhere
    assert one("angiomatoid_fibrous_histiocytoma", test="RT-PCR", kind="fusion",
               fusion="EWSR1::ATF1").level == "defining"
    assert set(one("ewing_sarcoma", test="RT-PCR", kind="fusion", fusion="EWSR1::ATF1").entities) == {
        "clear_cell_sarcoma", "angiomatoid_fibrous_histiocytoma"}


def test_solitary_fibrous_tumour_and_its_subtypes():
    for entity in ("solitary_fibrous_tumour", "solitary_fibrous_tumour_malignant", "solitary_fibrous_tumour_benign"):
        r = one(entity, test="NGS panel", kind="fusion", fusion="NAB2::STAT6")
        assert (r.relation, r.level) == ("supports", "defining"), entity
    r = one("synovial_sarcoma", test="NGS panel", kind="fusion", fusion="NAB2::STAT6")
    assert r.relation == "contradicts" and r.entities == ("solitary_fibrous_tumour",)
    # STAT6 IHC is a surrogate, not specific: characteristic in SFT, never a contradiction
    assert one("solitary_fibrous_tumour", test="IHC", kind="expression", gene="STAT6",
               result="positive").level == "characteristic"
    assert one("leiomyosarcoma", test="IHC", kind="expression", gene="STAT6",
               result="positive").relation == "nothing known"


def test_gist():
    r = one("gastrointestinal_stromal_tumour", test="NGS panel", kind="mutation", gene="KIT",
            protein="p.W557_K558del", cdna="c.1669_1674del", exon=11, vaf=0.42)
    assert (r.relation, r.level) == ("supports", "defining")
    assert [a.entry.drugs for a in r.actionable] == [("imatinib",)]
    r = one("leiomyosarcoma", test="NGS panel", kind="mutation", gene="KIT", protein="p.W557_K558del")
    assert r.relation == "contradicts" and r.entities == ("gastrointestinal_stromal_tumour",)
    assert r.actionable == ()  # imatinib's approval is for GIST
    d842v = one("gastrointestinal_stromal_tumour", test="NGS panel", kind="mutation", gene="PDGFRA",
                protein="p.D842V", exon=18)
    assert [a.entry.drugs for a in d842v.actionable] == [("avapritinib",)]  # imatinib-resistant
    other = one("gastrointestinal_stromal_tumour", test="NGS panel", kind="mutation", gene="PDGFRA",
                protein="p.V561D", exon=12)
    assert [a.entry.drugs for a in other.actionable] == [("imatinib",)]
    assert one("gastrointestinal_stromal_tumour", test="IHC", kind="expression", gene="SDHB",
               result="lost").level == "characteristic"


def test_subtype_inherits_its_entity():
    r = one("dermatofibrosarcoma_protuberans_fibrosarcomatous", test="FISH", kind="fusion", fusion="COL1A1::PDGFB")
    assert (r.relation, r.level) == ("supports", "defining")
    r = one("inflammatory_myofibroblastic_tumour", test="NGS panel", kind="fusion", fusion="RANBP2::ALK")
    assert r.relation == "supports"  # defining of its subtype, epithelioid inflammatory myofibroblastic sarcoma


def test_nothing_known_and_no_histotype():
    r = one("leiomyosarcoma", test="NGS panel", kind="mutation", gene="TP53", protein="p.Arg273His")
    assert r.relation == "nothing known" and not r.flag_for_board
    r = one(None, test="FISH", kind="amplification", gene="MDM2")
    assert r.relation == "not assessed" and "dedifferentiated_liposarcoma" in r.defining_of
    with pytest.raises(InvalidValue) as exc:
        m.interpret("no_such_entity", [])
    assert exc.value.field == "histotype"


# --------------------------------------------------------------------------------------------
# Actionability
# --------------------------------------------------------------------------------------------

def test_ntrk_fusions_are_actionable_in_any_histotype():
    for entity in ("infantile_fibrosarcoma", "leiomyosarcoma", None):
        r = one(entity, test="NGS panel", kind="fusion", fusion="TPM3::NTRK1")
        [a] = r.actionable
        assert set(a.entry.drugs) == {"larotrectinib", "entrectinib"} and a.applies
        assert a.entry.level == "approved (tumour-agnostic)"
        assert "2018" in a.entry.evidence and "2019" in a.entry.evidence


def test_braf_v600e_tumour_agnostic_but_not_other_braf_variants():
    [a] = one("leiomyosarcoma", test="NGS panel", kind="mutation", gene="BRAF", protein="p.V600E").actionable
    assert set(a.entry.drugs) == {"dabrafenib", "trametinib"} and "2022" in a.entry.evidence
    assert one("leiomyosarcoma", test="NGS panel", kind="mutation", gene="BRAF", protein="p.K601E").actionable == ()


def test_histotype_restricted_approvals():
    [a] = one("inflammatory_myofibroblastic_tumour", test="NGS panel", kind="fusion", fusion="TPM3::ALK").actionable
    assert a.entry.drugs == ("crizotinib",) and "2022" in a.entry.evidence
    assert one("leiomyosarcoma", test="NGS panel", kind="fusion", fusion="EML4::ALK").actionable == ()
    [a] = one("epithelioid_sarcoma", test="IHC", kind="expression", gene="SMARCB1", result="lost").actionable
    assert a.entry.drugs == ("tazemetostat",) and "2020" in a.entry.evidence
    [a] = one("malignant_pecoma", test="NGS panel", kind="mutation", gene="TSC2", protein="p.R611Q").actionable
    assert a.entry.drugs == ("nab-sirolimus",) and "2021" in a.entry.evidence
    # without a histotype, a restricted entry is listed with the histotypes it needs
    [a] = one(None, test="NGS panel", kind="fusion", fusion="TPM3::ALK").actionable
    assert not a.applies and a.entry.histotypes == ("inflammatory_myofibroblastic_tumour",)


def test_mdm2_and_cdk4_are_investigational_only():
    [a] = one("dedifferentiated_liposarcoma", test="FISH", kind="amplification", gene="MDM2").actionable
    assert a.entry.level == "investigational"
    [a] = one("dedifferentiated_liposarcoma", test="FISH", kind="amplification", gene="CDK4").actionable
    assert a.entry.level == "investigational"


def test_pdgfra_given_as_cdna_alone_gets_no_imatinib():
    """PDGFRA c.2525A>T is p.Asp842Val (D842V), imatinib-resistant (Heinrich MC et al., Lancet Oncol
    2020;21:935-946; ESMO-EURACAN-GENTURIS GIST guideline, Casali 2022): a mutation named by its cDNA
    alone may be the excluded change, so imatinib is not offered; named by its protein, D842V gets
    avapritinib and not imatinib, and another PDGFRA change gets imatinib."""
    def drugs(raw):
        (item,) = m.interpret("gastrointestinal_stromal_tumour", [m.finding_from_dict(raw)])
        return {d for a in item.actionable if a.applies for d in a.entry.drugs}

    assert "imatinib" not in drugs({"test": "NGS panel", "kind": "mutation", "gene": "PDGFRA", "cdna": "c.2525A>T"})
    named = drugs({"test": "NGS panel", "kind": "mutation", "gene": "PDGFRA", "protein": "p.Asp842Val"})
    assert "avapritinib" in named and "imatinib" not in named
    assert "imatinib" in drugs({"test": "NGS panel", "kind": "mutation", "gene": "PDGFRA", "protein": "p.Val561Asp"})


def test_smarcb1_loss_supports_an_ossifying_fibromyxoid_tumour():
    """Mosaic SMARCB1 (INI1) loss is characteristic of ossifying fibromyxoid tumour (WHO 2020): no
    contradiction flag for the board."""
    (item,) = m.interpret("ossifying_fibromyxoid_tumour",
                        [m.finding_from_dict({"test": "IHC", "kind": "expression", "gene": "SMARCB1", "result": "lost"})])
    assert item.relation == "supports" and not item.flag_for_board
