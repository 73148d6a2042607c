"""dicompyler-compatible mode: dicompyler-core 0.5.6 ``dvhcalc.get_dvh`` (default options).

Dose-voxel-centre inclusion, every contour plane a full slab of the smallest plane spacing, the
dose plane nearest within 0.5 mm (else linearly interpolated), 1 cGy bins, and its definitions of
min and max (upper edge of the first and last non-empty bin) and mean (bin centres). It exists to
compare with dicompyler-core; do not use it for QA.
"""

from __future__ import annotations

import numpy as np

from sarcotrial.radiotherapy.dicomrt import VOLUME_TYPES, Structure
from sarcotrial.radiotherapy.dvh.contours import SampleGrid, rasterize
from sarcotrial.radiotherapy.dvh.dosegrid import DoseFrame
from sarcotrial.radiotherapy.dvh.histogram import DVH, Skip


def dicompyler_dvh(s: Structure, frame: DoseFrame, name: str) -> DVH:
    """dicompyler-core 0.5.6 ``get_dvh`` semantics (see the module docstring)."""
    planes: dict[float, list[np.ndarray]] = {}
    for (z, p), t in zip(s.contours, s.geometric_types):
        if t not in VOLUME_TYPES:
            continue
        planes.setdefault(round(float(p[0, 2]), 2), []).append(p)
    if not planes:
        raise Skip(s.no_volume_reason() or "no closed contour")
    keys = sorted(planes)
    thickness = float(np.min(np.diff(keys))) if len(keys) > 1 else 0.0
    grid = SampleGrid(frame.dcol, frame.drow, 0.0, 0.0, frame.nc, frame.nr, 1)
    polys = [[grid.index_coords(frame.to_local(p)[:, :2]) for p in planes[z]] for z in keys]
    masks = rasterize(polys, frame.nr, frame.nc)
    maxdose = int(frame.max_gy * 100) + 1
    hist = np.zeros(maxdose)
    n_voxels = 0
    n_outside = 0
    voxel = frame.dcol * frame.drow * thickness
    for z, mask in zip(keys, masks):
        w = float((np.array([0.0, 0.0, z]) - frame.origin) @ frame.n) if abs(frame.n[2]) > 0.99 else float(
            frame.to_local(planes[z][0][:1])[0, 2])
        count = int(mask.sum())
        n_voxels += count
        dist = np.abs(frame.wpos - w)
        if dist.min() < 0.5:
            plane = frame.data[int(np.argmin(dist))]
        elif w < frame.wpos.min() or w > frame.wpos.max():
            n_outside += count
            continue
        else:
            ub = int(np.argmin(dist))
            d2 = dist.copy()
            d2[ub] = dist.max()
            lb = int(np.argmin(d2))
            fz = (w - frame.wpos[lb]) / (frame.wpos[ub] - frame.wpos[lb])
            plane = fz * frame.data[ub] + (1.0 - fz) * frame.data[lb]
        h, _ = np.histogram(plane[mask] * 100, bins=maxdose, range=(0, maxdose))
        hist += h
    volume_cc = n_voxels * voxel / 1000.0
    if hist.max() <= 0:
        raise Skip("lies entirely outside the dose grid (no dose)")
    hist = hist * volume_cc / hist.sum()
    nz = np.nonzero(hist)[0]
    hist = hist[: nz[-1] + 1]
    edges = np.arange(len(hist) + 1) / 100.0
    centres = (np.arange(len(hist)) + 0.5) / 100.0
    notes = ["dicompyler-core 0.5.6 semantics: voxel-centre inclusion, full slabs of the smallest plane spacing, 1 cGy bins"]
    out_cc = n_outside * voxel / 1000.0
    if out_cc:
        notes.append("planes outside the dose grid count in the volume and are spread over the histogram, as dicompyler-core does")
    return DVH(name=name, end_cap="full-slab", mode="dicompyler", volume_cc=volume_cc, outside_grid_cc=out_cc,
               min_gy=float((nz[0] + 1) / 100.0), mean_gy=float(np.dot(centres, hist) / hist.sum()),
               max_gy=float((nz[-1] + 1) / 100.0), _edges=edges, _counts=hist, notes=notes,
               sampling={"supersampling": 1, "thickness_mm": thickness})

