"""The plan QA report (HTML): the DVHs with the protocol's objectives drawn on them, and the verdicts."""

from __future__ import annotations

import re
from pathlib import Path

from sarcotrial.radiotherapy.planqa import PlanQA, index_text
from sarcotrial.publishing import html, plotting
from sarcotrial.publishing.document import Document, Figure, Section, Table

VERDICT_COLOURS = {"per protocol": "#4f8f3a", "minor deviation": "#d08c28", "major deviation": "#c0504d",
                   "not evaluated": "#888888"}


def dvh_figure(qa: PlanQA, prescriptions: dict[str, float]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    for k, (name, dvh) in enumerate(qa.dvhs.items()):
        dose, volume = dvh.cumulative(bin_width_gy=0.05, relative=True)
        ax.plot(dose, volume, color=plotting.COLOURS[k % len(plotting.COLOURS)], lw=1.4, label=name)
    for o in qa.objectives:
        if o.value is None:
            continue
        base = re.split(r"\s+(?:minus|outside|union|intersection)\s+", o.structure)[0]
        rx = prescriptions.get(base)
        colour = VERDICT_COLOURS[o.verdict]
        m = re.fullmatch(r"V(\d+(?:\.\d+)?)(%|Gy)", o.metric)
        if m and o.unit == "percent_volume":
            x = float(m.group(1)) * (rx / 100 if m.group(2) == "%" else 1)
            ax.plot([x], [o.per_protocol], marker="v" if o.comparator == "<=" else "^", color="black", ms=6)
            ax.plot([x], [o.value], marker="o", color=colour, ms=5)
        m = re.fullmatch(r"D(\d+(?:\.\d+)?)%", o.metric)
        if m and o.unit == "percent_prescription" and rx:
            y = float(m.group(1))
            ax.plot([o.per_protocol * rx / 100], [y], marker="<" if o.comparator == "<=" else ">", color="black", ms=6)
            ax.plot([o.value * rx / 100], [y], marker="o", color=colour, ms=5)
    ax.set_xlabel("Dose (Gy)")
    ax.set_ylabel("Volume (%)")
    ax.set_ylim(0, 102)
    ax.set_xlim(0, None)
    ax.set_title(f"Cumulative DVHs (end cap: {qa.end_cap}); black marks: protocol limits, dots: plan values",
                 loc="left", fontsize=9)
    ax.legend(frameon=False, fontsize=7.5, loc="lower left")
    return fig


def write_html(qa: PlanQA, prescriptions: dict[str, float], out: Path, title: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = plotting.save(dvh_figure(qa, prescriptions), out.parent / (out.stem + "_figures"), "dvh")
    verdicts = Section(f"Verdict: {qa.verdict.upper()}")
    if qa.consistency:
        verdicts.text("File problems: " + "; ".join(qa.consistency))
    verdicts.table(Table(["Structure", "Objective", "Per protocol", "Minor deviation", "Plan", "Verdict"],
                         [[o.structure, o.metric, f"{o.comparator} {o.per_protocol:g}", f"{o.comparator} {o.minor_deviation:g}",
                           "-" if o.value is None else f"{o.value:.2f} {_unit(o.unit)}", o.verdict + (f" ({o.note})" if o.value is None else "")]
                          for o in qa.objectives], caption="Protocol objectives", align=["l"] * 6))
    verdicts.table(Table(["PTV", "Prescription (Gy)", "Paddick CI", "ICRU 83 HI"],
                         [[k, f"{v['prescription_gy']:g}", index_text(v, "paddick_ci"), index_text(v, "icru83_hi")]
                          for k, v in qa.indices.items()], caption="Conformity and homogeneity"))
    verdicts.figure(Figure(paths["png"], paths["svg"], "DVHs of the protocol volumes with the objectives."))
    dvhs = Section("DVH statistics")
    dvhs.table(Table(["Structure", "Volume (cc)", "Min", "Mean", "Max", "D98", "D95", "D50", "D2"],
                     [[name, f"{d.volume_cc:.2f}"] + [f"{x:.2f}" for x in (d.min_gy, d.mean_gy, d.max_gy,
                      d.dose_at_volume_percent(98), d.dose_at_volume_percent(95), d.dose_at_volume_percent(50),
                      d.dose_at_volume_percent(2))] for name, d in qa.dvhs.items()],
                     caption=f"Doses in Gy; end cap: {qa.end_cap}"))
    mapping = Section("Structure mapping")
    mapping.table(Table(["Protocol volume", "Structure in the RTSTRUCT"], [[k, v] for k, v in qa.mapping.items()],
                        align=["l", "l"]))
    doc = Document(title=title, subtitle=qa.protocol, banner=None, sections=[verdicts, dvhs, mapping],
                   footer=f"Plan {qa.plan_uid or '-'}; dose {qa.dose_uid or '-'}")
    return html.render(doc, out)


def _unit(unit: str) -> str:
    return {"percent_volume": "%", "percent_prescription": "% of Rx", "gy": "Gy", "cc": "cc"}[unit]
