"""The plan QA report (HTML): the DVHs with the protocol's objectives drawn on them, and the verdicts."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sarcotrial.radiotherapy.dvh.notation import first_operand, parse_metric
from sarcotrial.radiotherapy.planqa import PlanQA, index_text, unit_text
from sarcotrial.publishing import html, plotting
from sarcotrial.publishing.document import Document, Figure, Section, Table

VERDICT_COLOURS = {"per protocol": "#4f8f3a", "minor deviation": "#d08c28", "major deviation": "#c0504d",
                   "not evaluated": "#888888"}


#: curve colours: the house palette and two more, ten in all, each distinguishable from the others
CURVE_COLOURS = [*plotting.COLOURS, "#7f7f7f", "#bcbd22"]
LINE_STYLES = ("-", "--", ":", "-.")


def curve_styles(names: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, line style) of each curve, no two alike.

    Colours go round the ten of :data:`CURVE_COLOURS`; a derived structure ("PTV1 outside PTV2")
    is dashed so that it stays visible where it runs along its first operand; a curve whose pair
    is taken (an eleventh curve) takes the next line style.
    """
    used: set[tuple[str, str]] = set()
    out = {}
    for k, name in enumerate(names):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        first = 1 if _is_derived(name) else 0
        for step in range(len(LINE_STYLES)):
            style = LINE_STYLES[(first + step) % len(LINE_STYLES)]
            if (colour, style) not in used:
                break
        else:  # more than forty curves: a colour of its own from a continuous scale
            import matplotlib

            colour = matplotlib.colors.to_hex(matplotlib.colormaps["turbo"]((k % 97) / 97))
            style = "-"
        used.add((colour, style))
        out[name] = (colour, style)
    return out


def _is_derived(name: str) -> bool:
    return first_operand(name) != name.strip()


def _curves(qa: PlanQA) -> list[tuple[str, object]]:
    """(legend label, DVH) per curve: protocol volumes mapped to the same structure of the file are drawn
    once ("CTV2 = PTV2 (Tumor Bed)"), and a volume named otherwise in the file shows that name."""
    groups: dict[str, list[str]] = {}
    for name in qa.dvhs:
        groups.setdefault(qa.mapping.get(name, name), []).append(name)
    out = []
    for structure, volumes in groups.items():
        label = " = ".join(volumes)
        if structure != volumes[0] or len(volumes) > 1:
            label += f" ({structure})"
        out.append((label, qa.dvhs[volumes[0]]))
    return out


def dvh_figure(qa: PlanQA, prescriptions: dict[str, float]):
    """The cumulative DVHs with the protocol's limits: the legend and a numbered key of the limits beside
    the axes (covering no curve), a colour and line style per curve, each limit marker numbered."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    curves = _curves(qa)
    styles = curve_styles([label for label, _ in curves])
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    handles: list = []
    for label, dvh in curves:
        dose, volume = dvh.cumulative(bin_width_gy=0.05, relative=True)
        colour, style = styles[label]
        (line,) = ax.plot(dose, volume, color=colour, linestyle=style, lw=1.5, label=label)
        handles.append(line)
    limits: list[str] = []
    for o in qa.objectives:
        if o.value is None:
            continue
        rx = prescriptions.get(first_operand(o.structure))
        colour = VERDICT_COLOURS[o.verdict]
        limit = value = None
        m = parse_metric(o.metric)
        if m.quantity == "volume" and o.unit == "percent_volume" and (rx or not m.relative_dose):
            x = m.amount * (rx / 100 if m.relative_dose else 1)
            limit, value, marker = (x, o.per_protocol), (x, o.value), "v" if o.comparator == "<=" else "^"
        if m.quantity == "dose" and m.unit == "%" and o.unit == "percent_prescription" and rx:
            y = m.amount
            limit, value = (o.per_protocol * rx / 100, y), (o.value * rx / 100, y)
            marker = "<" if o.comparator == "<=" else ">"
        if limit is None:
            continue
        number = len(limits) + 1
        ax.plot(*zip(limit, value), color=colour, lw=0.8, linestyle=":", clip_on=False)
        ax.plot(*limit, marker=marker, color="black", ms=6, linestyle="none", clip_on=False)
        ax.plot(*value, marker="o", color=colour, markeredgecolor="black", markeredgewidth=0.5, ms=5,
                linestyle="none", clip_on=False, zorder=5)
        ax.annotate(str(number), limit, xytext=(4, 4), textcoords="offset points", fontsize=7.5,
                    fontweight="bold", annotation_clip=False)
        sign, nbsp = {"<=": "\u2264", ">=": "\u2265"}.get(o.comparator, o.comparator), "\u00a0"  # the verdict unbroken
        limits.append(textwrap.fill(f"{number}  {o.structure} {o.metric} {sign} {o.per_protocol:g} {unit_text(o.unit)}: "
                                    f"{o.value:.1f} {unit_text(o.unit)} ({o.verdict.replace(' ', nbsp)})", 48, subsequent_indent="     "))
    ax.set_xlabel("Dose (Gy)")
    ax.set_ylabel("Volume (%)")
    ax.set_ylim(0, 102)
    ax.set_xlim(0, None)
    ax.set_title(f"Cumulative DVHs (end cap: {qa.end_cap})", loc="left", fontsize=9)
    if limits:
        blank = Line2D([], [], linestyle="none")
        handles += [blank, Line2D([], [], linestyle="none", marker="^", color="black", ms=6),
                    Line2D([], [], linestyle="none", marker="o", color=VERDICT_COLOURS["per protocol"],
                           markeredgecolor="black", markeredgewidth=0.5, ms=5)]
        handles += [blank] * len(limits)
        labels = [h.get_label() for h in handles[:len(curves)]] + [
            "", "protocol limit, pointing to the side\nthat passes (numbered)", "plan value (colour: its verdict)", *limits]
    else:
        labels = [h.get_label() for h in handles]
    ax.legend(handles, labels, frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0, handlelength=2.6)
    return fig


def write_html(qa: PlanQA, prescriptions: dict[str, float], out: Path, title: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = plotting.save(dvh_figure(qa, prescriptions), out.parent / (out.stem + "_figures"), "dvh")
    verdicts = Section(f"Verdict: {qa.verdict.upper()}")
    if qa.consistency:
        verdicts.text("File problems: " + "; ".join(qa.consistency))
    if qa.file_notes:
        verdicts.text("File warnings: " + "; ".join(qa.file_notes))
    verdicts.table(Table(["Structure", "Objective", "Per protocol", "Minor deviation", "Plan", "Verdict"],
                         [[o.structure, o.metric, f"{o.comparator} {o.per_protocol:g} {unit_text(o.unit)}",
                           f"{o.comparator} {o.minor_deviation:g} {unit_text(o.unit)}",
                           "-" if o.value is None else f"{o.value:.2f} {unit_text(o.unit)}", o.verdict + (f" ({o.note})" if o.value is None else "")]
                          for o in qa.objectives], caption="Protocol objectives (Rx: the prescription dose of the structure's dose level)",
                         align=["l"] * 6))
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

