"""define.xml (CDISC Define-XML 2.1) for the SDTM export: the metadata of every dataset and variable
written, with the controlled terminology they use.

Written directly with ElementTree rather than with odmlib's Define-XML 2.1 model: the document is
small, its element order is fixed by the Define-XML 2.1 schema (which the tests validate it against),
and the writer stays in plain view. One ItemGroupDef per dataset (with its def:Class and def:leaf to
the XPT file), one ItemDef per variable (DataType, Length, label, def:Origin), and CodeLists from
``data/sdtm_ct.yaml`` (CDISC CT, each term's NCI code as ``Alias Context="nci:ExtCodeID"``), from the
protocol's codelists (sponsor-defined) and for the external dictionaries (MedDRA, CTCAE).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sarcotrial import __version__
from sarcotrial.exchange.sdtm_model import Dataset, Var

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
IG_OID = "STD.SDTMIG.3.4"
CT_OID = "STD.CT.SDTM"
#: CTCAE v5.0 terms are MedDRA lowest level terms of MedDRA version 20.1 (NCI, CTCAE v5.0, 2017)
MEDDRA_VERSION = "20.1"

ET.register_namespace("", ODM_NS)
ET.register_namespace("def", DEF_NS)
ET.register_namespace("xlink", XLINK_NS)


@lru_cache(maxsize=1)
def controlled_terminology() -> dict[str, Any]:
    """The curated CDISC CT (``data/sdtm_ct.yaml``): its version and codelists."""
    text = resources.files("sarcotrial.exchange").joinpath("data/sdtm_ct.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _o(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _o(tag))
    ET.SubElement(element, _o("TranslatedText"), {XML_LANG: "en"}).text = text
    return element


def _data_type(dataset: Dataset, var: Var) -> str:
    if var.data_type:
        return var.data_type
    if var.type == "Char":
        return "text"
    values = [v for v in dataset.column(var.name) if v is not None]
    return "integer" if all(float(v).is_integer() for v in values) else "float"


def write_define(path: Path, datasets: list[Dataset], protocol, files: dict[str, str]) -> None:
    """Write define.xml for ``datasets`` (``files``: dataset name -> its XPT file name)."""
    ct = controlled_terminology()
    ct_version = ct["version"].split()[-1]
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    acronym = protocol.identification.acronym
    root = ET.Element(_o("ODM"), {
        "FileType": "Snapshot", "FileOID": f"DEFINE.{acronym}.SDTM", "CreationDateTime": created,
        "ODMVersion": "1.3.2", "Originator": "SarcoTrial", "SourceSystem": "SarcoTrial",
        "SourceSystemVersion": __version__, _d("Context"): "Submission"})
    study = ET.SubElement(root, _o("Study"), {"OID": f"STUDY.{acronym}"})
    gv = ET.SubElement(study, _o("GlobalVariables"))
    ET.SubElement(gv, _o("StudyName")).text = acronym
    ET.SubElement(gv, _o("StudyDescription")).text = " ".join(protocol.identification.title.split())
    ET.SubElement(gv, _o("ProtocolName")).text = f"{acronym} {protocol.identification.version}"
    mdv = ET.SubElement(study, _o("MetaDataVersion"), {
        "OID": f"MDV.{acronym}.SDTMIG.3.4", "Name": f"{acronym} SDTM datasets",
        "Description": f"SDTM IG 3.4 tabulation of {acronym}, protocol version {protocol.identification.version}",
        _d("DefineVersion"): "2.1.0"})
    standards = ET.SubElement(mdv, _d("Standards"))
    ET.SubElement(standards, _d("Standard"), {"OID": IG_OID, "Name": "SDTMIG", "Type": "IG", "Version": "3.4",
                                              "Status": "Final"})
    ET.SubElement(standards, _d("Standard"), {"OID": CT_OID, "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": "SDTM",
                                              "Version": ct_version, "Status": "Final"})
    used: dict[str, None] = {}
    comments: dict[str, str] = {}
    for d in datasets:
        _item_group(mdv, d, files[d.name])
    for d in datasets:
        for var in d.variables:
            _item_def(mdv, d, var, comments)
            if var.codelist:
                used.setdefault(var.codelist)
    for name in used:
        _codelist(mdv, name, protocol, ct)
    for oid, text in comments.items():
        comment = ET.SubElement(mdv, _d("CommentDef"), {"OID": oid})
        _text(comment, "Description", text)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def _item_group(mdv: ET.Element, d: Dataset, file_name: str) -> None:
    attrs = {"OID": f"IG.{d.name}", "Name": d.name, "SASDatasetName": d.name,
             "Repeating": "No" if d.name == "DM" else "Yes",
             "IsReferenceData": "Yes" if d.cls == "TRIAL DESIGN" else "No", "Purpose": "Tabulation",
             _d("Structure"): d.structure, _d("StandardOID"): IG_OID, _d("ArchiveLocationID"): f"LF.{d.name}"}
    if not d.name.startswith("SUPP"):
        attrs["Domain"] = d.name
    group = ET.SubElement(mdv, _o("ItemGroupDef"), attrs)
    _text(group, "Description", d.label)
    for order, var in enumerate(d.variables, start=1):
        ref = {"ItemOID": f"IT.{d.name}.{var.name}", "OrderNumber": str(order),
               "Mandatory": "Yes" if var.mandatory else "No"}
        if var.key is not None:
            ref["KeySequence"] = str(var.key)
        ET.SubElement(group, _o("ItemRef"), ref)
    ET.SubElement(group, _d("Class"), {"Name": d.cls})
    leaf = ET.SubElement(group, _d("leaf"), {"ID": f"LF.{d.name}", f"{{{XLINK_NS}}}href": file_name})
    ET.SubElement(leaf, _d("title")).text = file_name


def _item_def(mdv: ET.Element, d: Dataset, var: Var, comments: dict[str, str]) -> None:
    data_type = _data_type(d, var)
    attrs = {"OID": f"IT.{d.name}.{var.name}", "Name": var.name, "DataType": data_type, "SASFieldName": var.name}
    if data_type == "text":
        attrs["Length"] = str(d.char_length(var))
    elif data_type in ("integer", "float"):
        attrs["Length"] = "8"
    if var.comment:
        oid = f"COM.{d.name}.{var.name}"
        comments[oid] = var.comment
        attrs[_d("CommentOID")] = oid
    item = ET.SubElement(mdv, _o("ItemDef"), attrs)
    _text(item, "Description", var.label)
    if var.codelist:
        ET.SubElement(item, _o("CodeListRef"), {"CodeListOID": f"CL.{var.codelist}"})
    origin = {"Type": var.origin}
    if var.source and var.origin in ("Collected", "Derived", "Assigned"):
        origin["Source"] = var.source
    ET.SubElement(item, _d("Origin"), origin)


def _codelist(mdv: ET.Element, name: str, protocol, ct: dict[str, Any]) -> None:
    if name == "MEDDRA":
        cl = ET.SubElement(mdv, _o("CodeList"), {"OID": "CL.MEDDRA", "Name": "MedDRA lowest level term code",
                                                 "DataType": "integer"})
        ET.SubElement(cl, _o("ExternalCodeList"), {"Dictionary": "MedDRA", "Version": MEDDRA_VERSION})
        return
    if name in ct["codelists"]:
        spec = ct["codelists"][name]
        cl = ET.SubElement(mdv, _o("CodeList"), {"OID": f"CL.{name}", "Name": spec["name"], "DataType": "text",
                                                 _d("StandardOID"): CT_OID})
        for term in spec["terms"]:
            attrs = {"CodedValue": str(term["value"])}
            if term.get("extended"):
                attrs[_d("ExtendedValue")] = "Yes"
            item = ET.SubElement(cl, _o("CodeListItem"), attrs)
            _text(item, "Decode", term["decode"])
            if term.get("code"):
                ET.SubElement(item, _o("Alias"), {"Context": "nci:ExtCodeID", "Name": term["code"]})
        if spec.get("code"):
            ET.SubElement(cl, _o("Alias"), {"Context": "nci:ExtCodeID", "Name": spec["code"]})
        return
    # a codelist of the protocol: sponsor-defined, written as SDTM writes its values (upper case)
    cl = ET.SubElement(mdv, _o("CodeList"), {"OID": f"CL.{name}", "Name": f"{protocol.identification.acronym} {name}",
                                             "DataType": "text"})
    for code in protocol.codelists.get(name, []):
        value = sponsor_value(name, code.code, code.label)
        item = ET.SubElement(cl, _o("CodeListItem"), {"CodedValue": value})
        _text(item, "Decode", code.label)


def sponsor_value(codelist: str, code: str, label: str) -> str:
    """How a protocol code is written in the SDTM datasets: the label in upper case for procedures and
    sites, the code in upper case (underscores as spaces) otherwise."""
    if codelist in ("surgical_procedure", "anatomic_site"):
        return label.upper()
    return code.upper().replace("_", " ")
