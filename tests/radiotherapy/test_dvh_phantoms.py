"""The DVH engine on synthetic phantoms whose DVHs are known analytically.

Every expected number below comes from geometry (volumes of boxes, cylinders and spheres, the
spherical cap pi h^2 (3r - h) / 3) and from the analytic dose written into the RTDOSE, never
from the engine itself.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sarcotrial.errors import InvalidValue
from sarcotrial.radiotherapy.dicomrt import read_rtdose, read_rtplan, read_rtstruct
from sarcotrial.radiotherapy.dvh import DVH, compute_dvh, compute_dvhs, parse_derived

from . import phantoms as ph

HFS = (1, 0, 0, 0, 1, 0)


def _files(tmp_path, rois, grid, dose_fn, name="p", **kw):
    rtss = ph.write_rtstruct(tmp_path / f"{name}_rtss.dcm", rois)
    rtdose = ph.write_rtdose(tmp_path / f"{name}_rtdose.dcm", grid, ph.sample(grid, dose_fn), **kw)
    return read_rtstruct(rtss), read_rtdose(rtdose)


def linear(x, y, z):
    return 40 + 0.3 * x + 0.5 * y - 0.2 * z


# --------------------------------------------------------------------------- volumes and end caps
def test_box_volume_and_end_caps(tmp_path):
    rois = [ph.ROI("Box", ph.box(-10.3, 9.7, -15.2, 14.8, 0, 20, 2.0))]  # 20 x 30 mm, 11 planes
    grid = ph.GridSpec.around((-20, -20, -5), (20, 20, 25), 2.5)
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 2 + 0 * x)
    none = compute_dvh(ss, dose, "Box")
    half = compute_dvh(ss, dose, "Box", end_cap="half-slice")
    assert none.end_cap == "none" and half.end_cap == "half-slice"
    assert none.volume_cc == pytest.approx(20 * 30 * 20 / 1000, rel=2e-3)  # first to last plane
    assert half.volume_cc == pytest.approx(20 * 30 * 22 / 1000, rel=2e-3)  # + half a slice at each end
    assert none.as_dict()["end_cap"] == "none" and half.as_dict()["end_cap"] == "half-slice"
    for d in (none, half):
        assert d.min_gy == pytest.approx(2, abs=1e-6) and d.max_gy == pytest.approx(2, abs=1e-6)
        assert d.dose_at_volume_percent(50) == pytest.approx(2, abs=1e-6)
    with pytest.raises(InvalidValue, match="end_cap"):
        compute_dvh(ss, dose, "Box", end_cap="full")


def test_even_odd_rule_for_holes_and_islands(tmp_path):
    # outer 40 x 40, hole 20 x 20, island 10 x 10 inside the hole: area 1600 - 400 + 100 = 1300 mm2
    rois = [ph.ROI("Ring", ph.box_with_hole((-20, 20, -20, 20), (-10, 10, -10, 10), 0, 20, 2.0, island=(-5, 5, -5, 5))),
            ph.ROI("Frame", ph.box_with_hole((-20, 20, -20, 20), (-10, 10, -10, 10), 0, 20, 2.0))]
    grid = ph.GridSpec.around((-25, -25, -5), (25, 25, 25), 2.0, shift=(0.3, 0.3, 0))
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 10 + 0.1 * np.abs(x))
    ring, frame = compute_dvh(ss, dose, "Ring"), compute_dvh(ss, dose, "Frame")
    assert ring.volume_cc == pytest.approx(1300 * 20 / 1000, rel=3e-3)
    assert frame.volume_cc == pytest.approx(1200 * 20 / 1000, rel=3e-3)
    # dose 10 + 0.1 |x|: the frame's coldest part is x = 0 (rows |y| > 10), its hottest |x| = 20; min and
    # max are doses at sample points, within half a sample (0.7 mm here) of the extremes
    assert frame.min_gy == pytest.approx(10.0, abs=0.08)
    assert frame.max_gy == pytest.approx(12.0, abs=0.08)


def test_missing_planes_are_interpolated_and_separate_parts_are_not_bridged(tmp_path):
    full = ph.cylinder(0, 0, 10, 0, 20, 2.0)
    missing = [c for c in full if abs(c[0] - 10) > 1e-6 and abs(c[0] - 12) > 1e-6]
    parts = ph.cylinder(-15, 0, 6, 0, 6, 2.0) + ph.cylinder(15, 0, 6, 14, 20, 2.0)
    irregular = [c for c in ph.cylinder(0, 0, 8, 0, 8, 1.0) if c[0] in (0, 1, 2, 4, 7, 8)]
    rois = [ph.ROI("Full", full), ph.ROI("Missing", missing), ph.ROI("Parts", parts), ph.ROI("Irregular", irregular)]
    grid = ph.GridSpec.around((-25, -15, -5), (25, 15, 25), 2.0)
    ss, dose = _files(tmp_path, rois, grid, linear)
    res = compute_dvhs(ss, dose)
    area = math.pi * 100
    assert res.dvhs["Full"].volume_cc == pytest.approx(area * 20 / 1000, rel=5e-3)
    assert res.dvhs["Missing"].volume_cc == pytest.approx(res.dvhs["Full"].volume_cc, rel=2e-3)
    assert any("interpolated" in n for n in res.dvhs["Missing"].notes)
    assert res.dvhs["Parts"].volume_cc == pytest.approx(2 * math.pi * 36 * 6 / 1000, rel=5e-3)  # gap not filled
    assert any("separate parts" in n for n in res.dvhs["Parts"].notes)
    assert res.dvhs["Irregular"].volume_cc == pytest.approx(math.pi * 64 * 8 / 1000, rel=5e-3)


def test_between_planes_the_surface_is_interpolated_not_stepped(tmp_path):
    """A sphere (r 12 mm) contoured every 4 mm: from its first to its last plane (z = -8 to 8, end cap
    none) it holds pi (144 * 16 - 2 * 8^3 / 3) mm3. Slabs of each plane's circle hold 1920 pi (-2.2 %);
    the engine's circular arcs between planes follow the sphere."""
    rois = [ph.ROI("S", ph.sphere((0.3, -0.2, 0.0), 12.0, 4.0))]
    grid = ph.GridSpec.around((-16, -16, -16), (16, 16, 16), 2.0, shift=(0.3, 0.3, 0.3))
    ss, dose = _files(tmp_path, rois, grid, linear)
    dvh = compute_dvh(ss, dose, "S")
    exact = math.pi * (144 * 16 - 2 * 8 ** 3 / 3) / 1000
    assert abs(1920 * math.pi / 1000 / exact - 1) > 0.02  # what slabs would give
    assert dvh.volume_cc == pytest.approx(exact, rel=3e-3)


def test_a_cylinder_lying_across_the_planes_ends_in_its_round_edge(tmp_path):
    """A cylinder (r 12 mm, 30 mm long) lying along x, contoured every 2 mm in z as Nelms et al.'s
    rotated cylinders: rectangles of width 2 sqrt(144 - z^2), and 0.01 mm strips at z = +-12, too thin
    to hold a sample. Volume pi r^2 L; in a dose 10 + 0.5 z Gy, Dx is 10 + 0.5 z_x, where the circular
    segment below z_x holds 100 - x % of the circle: r^2 (acos(-u) + u sqrt(1 - u^2)), u = z_x / r."""
    r, length = 12.0, 30.0
    contours = []
    for z in np.arange(-12.0, 12.5, 2.0):
        half = max(math.sqrt(max(r * r - z * z, 0.0)), 0.005)
        contours.append((z, ph.rectangle(-15.0, 15.0, -half, half, z)))
    rois = [ph.ROI("Lying", contours)]
    grid = ph.GridSpec.around((-20, -16, -16), (20, 16, 16), 2.0, shift=(0.3, 0.3, 0.0))
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 10 + 0.5 * z)
    dvh = compute_dvh(ss, dose, "Lying", end_cap="half-slice")
    assert dvh.volume_cc == pytest.approx(math.pi * r * r * length / 1000, rel=5e-3)

    def z_at(percent):
        from scipy.optimize import brentq

        def below(z):
            u = z / r
            return r * r * (math.acos(-u) + u * math.sqrt(1 - u * u)) / (math.pi * r * r) - (100 - percent) / 100
        return brentq(below, -r, r)

    for p in (99, 95, 50, 5):  # D99 lies 0.8 mm from the edge, where 0.06 mm is 0.7 % of its dose
        assert dvh.dose_at_volume_percent(p) == pytest.approx(10 + 0.5 * z_at(p), rel=1e-2 if p == 99 else 5e-3), p


# --------------------------------------------------------------------------- doses: interpolated, analytic
def test_linear_gradient_box_queries_are_interpolated(tmp_path):
    x0, x1 = -13.3, 17.9
    rois = [ph.ROI("Box", ph.box(x0, x1, -5.2, 6.1, 0, 10, 2.0))]
    grid = ph.GridSpec.around((-20, -10, -5), (25, 10, 15), 2.5, shift=(0.37, 0.61, 0.23))
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 15 + 0.5 * x)
    dvh = compute_dvh(ss, dose, "Box")
    length = x1 - x0

    def d_at(p):  # dose uniform in x: the hottest p % lie at the high-x end
        return 15 + 0.5 * (x1 - p / 100 * length)

    assert dvh.min_gy == pytest.approx(15 + 0.5 * x0, abs=0.07)  # within half a sample of the extremes
    assert dvh.max_gy == pytest.approx(15 + 0.5 * x1, abs=0.07)
    assert dvh.dose_at_volume_percent(100) == dvh.min_gy and dvh.dose_at_volume_percent(0) == dvh.max_gy
    assert dvh.mean_gy == pytest.approx(15 + 0.5 * (x0 + x1) / 2, abs=1e-3)
    for p in (98, 95, 62.5, 50, 37.3, 2):  # within the in-plane sampling (boundaries to 1/8 mm: 0.06 Gy)
        assert dvh.dose_at_volume_percent(p) == pytest.approx(d_at(p), abs=0.03)
    d = 16.789  # not on any bin edge
    assert dvh.volume_at_dose_gy(d) == pytest.approx(100 * (x1 - (d - 15) / 0.5) / length, abs=0.05)
    assert dvh.volume_at_dose_gy(d, relative=False) == pytest.approx(dvh.volume_cc * (x1 - (d - 15) / 0.5) / length, rel=1e-3)
    cc = 0.5
    assert dvh.dose_at_volume_cc(cc) == pytest.approx(d_at(100 * cc / dvh.volume_cc), abs=0.01)
    assert dvh.volume_at_dose_gy(0) == 100 and dvh.volume_at_dose_gy(100) == 0
    bins, vol = dvh.cumulative()
    assert np.all(np.diff(vol) <= 1e-12) and vol[0] == pytest.approx(dvh.volume_cc)
    centres, per_bin = dvh.differential(0.1)
    assert per_bin.sum() == pytest.approx(dvh.volume_cc, rel=1e-9) and np.all(per_bin >= -1e-12)
    assert set(dvh.as_dict()) == {"name", "volume_cc", "min_gy", "mean_gy", "max_gy", "d98_gy", "d95_gy", "d50_gy",
                                  "d2_gy", "end_cap"}


def test_sphere_in_a_linear_gradient(tmp_path):
    r, g = 12.0, 1.0  # 1 Gy/mm anterior-posterior, as Nelms et al.
    rois = [ph.ROI("Sphere", ph.sphere((0.4, -0.3, 0.2), r, 1.0))]
    grid = ph.GridSpec.around((-15, -15, -15), (15, 15, 15), 2.0, shift=(0.25, 0.5, 0.0))
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 20 + g * (y + 0.3))
    dvh = compute_dvh(ss, dose, "Sphere", end_cap="half-slice")
    low = 20 - g * r
    assert dvh.volume_cc == pytest.approx(4 / 3 * math.pi * r ** 3 / 1000, rel=5e-3)
    assert dvh.mean_gy == pytest.approx(20, abs=0.01)
    for p in (99, 95, 50, 5):
        expected = ph.sphere_in_linear_gradient_dose_at(p, r, low, g)
        assert dvh.dose_at_volume_percent(p) == pytest.approx(expected, rel=0.01), p


def test_error_shrinks_as_the_grid_gets_finer(tmp_path):
    """Sphere (r 12 mm) in a quadratic dose 10 + 0.1 r^2 Gy: D_x is 10 + 0.1 (R (1 - x/100)^(1/3))^2,
    the mean 10 + 0.06 R^2. Contour spacing and dose grid both 4, 2, 1 mm: every error falls."""
    r, c = 12.0, (0.3, -0.4, 0.2)

    def quadratic(x, y, z):
        return 10 + 0.1 * ((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)

    expected = {"mean": 10 + 0.06 * r * r, "d95": 10 + 0.1 * (r * 0.05 ** (1 / 3)) ** 2,
                "d50": 10 + 0.1 * (r * 0.5 ** (1 / 3)) ** 2, "volume": 4 / 3 * math.pi * r ** 3 / 1000}
    errors = {k: [] for k in expected}
    for h in (4.0, 2.0, 1.0):
        ss, dose = _files(tmp_path, [ph.ROI("S", ph.sphere(c, r, h))],
                          ph.GridSpec.around((-16, -16, -16), (16, 16, 16), h, shift=(0.3, 0.3, 0.3)), quadratic, name=f"h{h}")
        dvh = compute_dvh(ss, dose, "S", end_cap="half-slice")
        got = {"mean": dvh.mean_gy, "d95": dvh.dose_at_volume_percent(95), "d50": dvh.dose_at_volume_percent(50),
               "volume": dvh.volume_cc}
        for k in expected:
            errors[k].append(abs(got[k] / expected[k] - 1))
    for k, e in errors.items():
        assert e[0] > e[1] > e[2], (k, e)
        assert e[2] < 0.005, (k, e)


# --------------------------------------------------------------------------- geometry of the dose grid
@pytest.mark.parametrize("orientation, shift, frame_spacing", [
    (HFS, (0.0, 0.0, 0.0), None),
    (HFS, (0.37, 0.61, 0.23), None),            # shifted by fractions of a voxel
    (HFS, (0.0, 0.0, 0.35), 2.5),               # dose frames not aligned with the 2 mm contour planes
    ((-1, 0, 0, 0, 1, 0), (0.2, 0.1, 0.4), None),   # feet first supine
    ((-1, 0, 0, 0, -1, 0), (0.0, 0.0, 0.0), None),  # head first prone
    ((0, 1, 0, -1, 0, 0), (0.1, 0.3, 0.0), None),   # head first decubitus right
    ((0, -1, 0, -1, 0, 0), (0.0, 0.0, 0.5), None),  # feet first decubitus
    ((math.cos(0.5), math.sin(0.5), 0, -math.sin(0.5), math.cos(0.5), 0), (0, 0, 0), None),  # rotated in the axial plane
    ((1, 0, 0, 0, math.cos(0.35), math.sin(0.35)), (0, 0, 0), None),  # dose planes tilted against the contours
], ids=["hfs", "shifted", "frames-not-aligned", "ffs", "hfp", "hfdr", "ffd", "rotated", "tilted"])
def test_same_dvh_whatever_the_grid_geometry(tmp_path, orientation, shift, frame_spacing):
    """A linear dose is reproduced exactly by trilinear interpolation, so every geometry gives the same DVH."""
    rois = [ph.ROI("Sphere", ph.sphere((1.1, -0.7, 0.3), 9.0, 2.0))]
    grid = ph.GridSpec.around((-14, -14, -14), (14, 14, 14), 2.0, orientation=orientation, shift=shift,
                              frame_spacing=frame_spacing)
    ss, dose = _files(tmp_path, rois, grid, linear)
    dvh = compute_dvh(ss, dose, "Sphere", end_cap="half-slice")
    reference_mean = linear(1.1, -0.7, 0.3)  # a linear dose averages to its value at the centre (by symmetry)
    assert dvh.mean_gy == pytest.approx(reference_mean, abs=0.02)
    assert dvh.outside_grid_cc == 0
    # the slope along the steepest direction: |grad| = sqrt(0.3^2 + 0.5^2 + 0.2^2) Gy/mm
    grad = math.sqrt(0.3 ** 2 + 0.5 ** 2 + 0.2 ** 2)
    span = dvh.dose_at_volume_percent(5) - dvh.dose_at_volume_percent(95)
    # for a sphere of radius r: D5 - D95 = 2 * grad * (r - h95), h95 the 5 % cap height (r = 9: h = 2.434 mm)
    h = ph.sphere_in_linear_gradient_dose_at(95, 9.0, 0.0, 1.0)
    assert span == pytest.approx(2 * grad * (9.0 - h), rel=0.02)


def test_frames_listed_in_decreasing_order(tmp_path):
    """Grid Frame Offset Vector may decrease (PS3.3 C.8.8.3.2 asks only that it be monotonic)."""
    rois = [ph.ROI("Sphere", ph.sphere((1.1, -0.7, 0.3), 9.0, 2.0))]
    up = ph.GridSpec.around((-14, -14, -14), (14, 14, 14), 2.0)
    down = ph.GridSpec(origin=up.origin + up.frame_offsets[-1] * up.n, orientation=up.orientation,
                       pixel_spacing=up.pixel_spacing, shape=up.shape, frame_offsets=-up.frame_offsets)
    ss, dose_up = _files(tmp_path, rois, up, linear, name="up")
    _, dose_down = _files(tmp_path, rois, down, linear, name="down")
    assert dose_down.frame_offsets[1] < 0
    a, b = compute_dvh(ss, dose_up, "Sphere"), compute_dvh(ss, dose_down, "Sphere")
    assert a.mean_gy == pytest.approx(b.mean_gy, abs=1e-9) and a.volume_cc == pytest.approx(b.volume_cc, rel=1e-12)
    assert a.dose_at_volume_percent(95) == pytest.approx(b.dose_at_volume_percent(95), abs=1e-6)


def test_contours_partly_outside_the_grid(tmp_path):
    rois = [ph.ROI("Half", ph.sphere((16, 0, 0), 10, 1.0)), ph.ROI("Out", ph.sphere((60, 0, 0), 4, 1.0)),
            ph.ROI("In", ph.sphere((0, 0, 0), 5, 1.0))]
    grid = ph.GridSpec(origin=np.array([-16.0, -16.0, -16.0]), orientation=np.array(HFS, float), pixel_spacing=(2.0, 2.0),
                       shape=(17, 17, 17), frame_offsets=np.arange(17) * 2.0)  # voxel centres up to 16, edge at 17 mm
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 7 + 0.1 * x)
    res = compute_dvhs(ss, dose, end_cap="half-slice")
    half = res.dvhs["Half"]
    cap = math.pi * 9 ** 2 * (3 * 10 - 9) / 3  # the part beyond x = 17 mm: a cap of height 9 mm
    assert half.outside_grid_percent == pytest.approx(100 * cap / (4 / 3 * math.pi * 1000), abs=1.0)
    assert half.volume_cc == pytest.approx(4 / 3 * math.pi, rel=0.01)  # the whole structure
    assert half.volume_in_grid_cc == pytest.approx(half.volume_cc * (1 - half.outside_grid_percent / 100), rel=1e-6)
    assert half.max_gy <= 7 + 0.1 * 17 + 1e-6  # no dose beyond the grid
    assert "outside_grid_percent" in half.as_dict() and "outside_grid_percent" not in res.dvhs["In"].as_dict()
    assert any("outside the dose grid" in n for n in half.notes)
    assert res.skipped == {"Out": "lies entirely outside the dose grid (no dose)"}


# --------------------------------------------------------------------------- skipped structures
def test_empty_and_point_structures_are_skipped_with_the_reason(tmp_path):
    rois = [ph.ROI("Ball", ph.sphere((0, 0, 0), 6, 2.0)),
            ph.ROI("POI_1", [(0.0, np.array([[1.0, 2.0, 0.0]]))], kind="MARKER"),
            ph.ROI("Areola", [], kind="AVOIDANCE"),
            ph.ROI("Wire", [(0.0, np.array([[0.0, 0, 0], [5, 0, 0], [5, 5, 0]]))], geometric_type="OPEN_PLANAR")]
    grid = ph.GridSpec.around((-10, -10, -10), (10, 10, 10), 2.0)
    ss, dose = _files(tmp_path, rois, grid, linear)
    res = compute_dvhs(ss, dose)
    assert list(res.dvhs) == ["Ball"]
    assert res.skipped["POI_1"].startswith("only POINT contours") and "MARKER" in res.skipped["POI_1"]
    assert res.skipped["Areola"].startswith("no contours: an empty ROI")
    assert "OPEN_PLANAR" in res.skipped["Wire"]
    assert {"name": "Areola", "skipped": res.skipped["Areola"]} in res.as_list()
    with pytest.raises(InvalidValue, match="Areola: no contours"):
        compute_dvh(ss, dose, "Areola")
    with pytest.raises(InvalidValue, match="no structure of that name"):
        compute_dvhs(ss, dose, names=["Heart"])


# --------------------------------------------------------------------------- derived structures
def test_derived_structures(tmp_path):
    ra, rb = 15.0, 8.0
    rois = [ph.ROI("A", ph.sphere((0, 0, 0), ra, 1.0)), ph.ROI("B", ph.sphere((0, 0, 0), rb, 1.0)),
            ph.ROI("Lt Lung", ph.sphere((0, 0, 0), 4, 1.0))]
    grid = ph.GridSpec.around((-30, -30, -30), (30, 30, 30), 2.5)
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 30 + 0 * x)
    derived = {"A minus B": "A minus B", "shell": "A outside B", "both": "A union B", "core": "A intersection B",
               "ring": "ring B 3 6", "ring of shell": "ring 'shell' 0 2", "lung ring": "ring Lt Lung 1 3"}
    res = compute_dvhs(ss, dose, names=["A", "B"], derived=derived, end_cap="half-slice")
    v = lambda r: 4 / 3 * math.pi * r ** 3 / 1000  # noqa: E731
    assert res.dvhs["A minus B"].volume_cc == pytest.approx(v(ra) - v(rb), rel=0.01)
    assert res.dvhs["shell"].volume_cc == pytest.approx(res.dvhs["A minus B"].volume_cc, rel=1e-9)
    assert res.dvhs["both"].volume_cc == pytest.approx(res.dvhs["A"].volume_cc, rel=0.005)
    assert res.dvhs["core"].volume_cc == pytest.approx(res.dvhs["B"].volume_cc, rel=0.005)
    # A ring's surfaces lie at a distance from its structure measured on the in-plane sample grid
    # (spacing h, the ring's own, from its DVH): the distance from a sample to the nearest sample
    # centre inside the structure exceeds the distance to the boundary by 0 to h/2 depending on the
    # direction, and h/4 is taken off, so each surface may sit up to h/4 off. The volume between
    # spheres is then within (h/4) x (the area of every surface) of the exact shell (the slabs beyond
    # the ends, 1 mm thick, are evaluated at their middles: for a sphere of radius R that adds
    # pi R dz^2 / 6, under 0.01 cc here, left out).
    def within_the_rings_bound(label: str, radii: list[float]) -> None:
        dvh = res.dvhs[label]
        h = max(dvh.sampling["sample_spacing_mm"])
        exact = sum(sign * v(r) for sign, r in radii)
        bound = h / 4 * sum(4 * math.pi * r * r for _, r in radii) / 1000  # cc
        assert abs(dvh.volume_cc - exact) <= bound, (label, dvh.volume_cc, exact, bound)

    within_the_rings_bound("ring", [(1, rb + 6), (-1, rb + 3)])
    # the shell has two surfaces: 2 mm outside A and 2 mm into B's hollow
    within_the_rings_bound("ring of shell", [(1, ra + 2), (-1, ra), (1, rb), (-1, rb - 2)])
    within_the_rings_bound("lung ring", [(1, 7), (-1, 5)])
    assert all(d.end_cap == "half-slice" for d in res.dvhs.values())
    # an expression in names works too, and a typo is an error, not a skip
    assert compute_dvhs(ss, dose, names=["A minus B"]).dvhs["A minus B"].volume_cc == pytest.approx(
        compute_dvh(ss, dose, "A minus B").volume_cc)
    with pytest.raises(InvalidValue, match="derived"):
        compute_dvhs(ss, dose, derived={"x": "A minus C"})
    with pytest.raises(InvalidValue, match="INNER < OUTER"):
        compute_dvhs(ss, dose, derived={"x": "ring A 5 2"})
    assert compute_dvhs(ss, dose, derived={"nothing": "B minus A"}, names=[]).skipped == {
        "nothing": "the derived structure is empty"}


@pytest.mark.parametrize("spacing", [1.0, 2.5])
def test_rings_around_a_sphere_follow_its_surface_between_planes(tmp_path, spacing):
    """Rings around a sphere of radius 15.01 mm (its end planes at +-15 mm hold 0.55 mm circles): the
    analytic shells 4/3 pi ((r + b)^3 - (r + a)^3)."""
    r = 15.01
    ss, dose = _files(tmp_path, [ph.ROI("S", ph.sphere((0.2, -0.3, 0), r, spacing))],
                      ph.GridSpec.around((-30, -30, -30), (30, 30, 30), 2.5), lambda x, y, z: 30 + 0 * x)
    res = compute_dvhs(ss, dose, ["S"], derived={"r05": "ring S 0 5", "r36": "ring S 3 6"})
    v = lambda radius: 4 / 3 * math.pi * radius ** 3 / 1000  # noqa: E731
    assert res.dvhs["S"].volume_cc == pytest.approx(v(r), rel=2e-3)
    assert res.dvhs["r05"].volume_cc == pytest.approx(v(r + 5) - v(r), rel=0.02)
    assert res.dvhs["r36"].volume_cc == pytest.approx(v(r + 6) - v(r + 3), rel=0.02)


def test_derived_grammar():
    known = {"PTV1", "PTV2", "Lt Lung", "A minus B", "B"}.__contains__
    assert parse_derived("PTV1 outside PTV2", known) == ("minus", "PTV1", "PTV2")
    assert parse_derived("PTV1 MINUS PTV2", known) == ("minus", "PTV1", "PTV2")
    assert parse_derived("'Lt Lung' union PTV2", known) == ("union", "Lt Lung", "PTV2")
    assert parse_derived("Lt Lung intersection PTV1", known) == ("intersection", "Lt Lung", "PTV1")
    assert parse_derived("ring PTV2 5 10", known) == ("ring", "PTV2", 5.0, 10.0)
    assert parse_derived("A minus B minus B", known) == ("minus", "A minus B", "B")  # names with keywords resolve
    with pytest.raises(InvalidValue):
        parse_derived("PTV1 plus PTV2", known)


# --------------------------------------------------------------------------- dicompyler-compatible mode
def test_dicompyler_mode_counts_voxel_centres_in_full_slabs(tmp_path):
    # voxel centres every 2 mm on even mm: x in -8..8 (9 columns), y in -4..4 (5 rows); 6 planes, 2 mm thick
    rois = [ph.ROI("Box", ph.box(-9, 9, -5, 5, 0, 10, 2.0))]
    grid = ph.GridSpec(origin=np.array([-20.0, -20.0, -10.0]), orientation=np.array(HFS, float), pixel_spacing=(2.0, 2.0),
                       shape=(16, 21, 21), frame_offsets=np.arange(16) * 2.0)
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 20 + x)
    dvh = compute_dvh(ss, dose, "Box", mode="dicompyler")
    assert dvh.mode == "dicompyler" and dvh.end_cap == "full-slab"
    assert dvh.volume_cc == pytest.approx(9 * 5 * 4 * 6 * 2 / 1000)
    assert dvh.min_gy == pytest.approx(12.01) and dvh.max_gy == pytest.approx(28.01)  # upper edges of 1 cGy bins
    assert dvh.mean_gy == pytest.approx(20.005)  # bin centres
    assert dvh.as_dict()["mode"] == "dicompyler"


# --------------------------------------------------------------------------- threads
def test_many_structures_in_parallel_match_one_by_one(tmp_path):
    rois = [ph.ROI(f"S{i}", ph.sphere((i * 3.0 - 9, 0, 0), 2 + i, 1.0)) for i in range(7)]
    grid = ph.GridSpec.around((-20, -12, -12), (20, 12, 12), 2.0)
    ss, dose = _files(tmp_path, rois, grid, linear)
    seen = []
    res = compute_dvhs(ss, dose, progress=seen.append, max_workers=4)
    assert sorted(seen) == sorted(res.dvhs) and len(res.dvhs) == 7
    for name, d in res.dvhs.items():
        one = compute_dvh(ss, dose, name)
        assert d.as_dict() == one.as_dict()


# --------------------------------------------------------------------------- the SPRINT SIB phantom
def _objective_value(dvhs: dict[str, DVH], objective, prescription: dict[str, float]) -> float:
    dvh = dvhs[objective.structure]
    rx = prescription.get(objective.structure)
    metric = objective.metric
    if metric == "Dmean":
        return dvh.mean_gy
    if metric == "Dmax":
        return dvh.max_gy
    number = float(metric[1:].rstrip("%Gyc"))
    if metric.startswith("V"):
        dose = number / 100 * rx if metric.endswith("%") else number
        return dvh.volume_at_dose_gy(dose)
    value = dvh.dose_at_volume_percent(number)
    return 100 * value / rx if objective.unit == "percent_prescription" else value


def _grade(objective, value: float) -> str:
    ok = (lambda bound: value <= bound) if objective.comparator == "<=" else (lambda bound: value >= bound)
    return "per protocol" if ok(objective.per_protocol) else "minor" if ok(objective.minor_deviation) else "major"


@pytest.mark.parametrize("variant", ph.SIB_VARIANTS)
def test_sib_phantom_meets_its_documented_values(tmp_path, variant):
    from sarcotrial.protocol import load_protocol

    rtss, rtdose, rtplan = ph.sib_phantom(tmp_path, variant)
    ss, dose, plan = read_rtstruct(rtss), read_rtdose(rtdose), read_rtplan(rtplan)
    assert plan.fractions_planned == 25
    rx = {ss.by_number(p.referenced_roi_number).name: p.target_prescription_dose_gy for p in plan.prescriptions}
    assert rx == {"PTV1": 50.0, "PTV2": 60.0}
    rx["PTV1 outside PTV2"] = rx["PTV1"]
    res = compute_dvhs(ss, dose, derived={"PTV1 outside PTV2": "PTV1 outside PTV2"}, end_cap="none")
    d = res.dvhs
    assert d["PTV1"].volume_cc == pytest.approx(432.0, rel=1e-3) and d["PTV2"].volume_cc == pytest.approx(111.6, rel=1e-3)
    assert d["PTV1 outside PTV2"].volume_cc == pytest.approx(320.4, rel=1e-3)
    assert d["PTV1"].volume_at_dose_gy(47.5) == pytest.approx(100, abs=0.01)
    assert d["PTV2"].volume_at_dose_gy(57) == pytest.approx(100 * (31 - 0.6) / 31, abs=0.1)
    assert d["PTV2"].dose_at_volume_percent(2) == pytest.approx(61, abs=0.01)
    assert d["PTV1 outside PTV2"].dose_at_volume_percent(2) == pytest.approx(51 + 10 * (1.5 - 0.89) / 3, abs=0.05)
    bone_mean, bone_v40 = {"minor": (38.25, 100 * 11 / 25.5)}.get(variant, (33.15, 100 * 5.9 / 25.5))
    assert d["Bone"].mean_gy == pytest.approx(bone_mean, abs=0.05)
    assert d["Bone"].volume_at_dose_gy(40) == pytest.approx(bone_v40, abs=0.2)
    edge = 32 + 20 * (1 - 20 / 51)
    skin_v20 = 100 * (edge - (41 if variant == "major" else 42)) / 5
    assert d["SkinStrip"].volume_at_dose_gy(20) == pytest.approx(skin_v20, abs=0.2)

    objectives = [o for o in load_protocol("sprint").treatment.radiotherapy.objectives if o.structure in d]
    grades = {f"{o.structure} {o.metric}": _grade(o, _objective_value(d, o, rx)) for o in objectives}
    assert len(grades) == 7
    off = {k: g for k, g in grades.items() if g != "per protocol"}
    assert off == {"pass": {}, "minor": {"Bone Dmean": "minor"}, "major": {"SkinStrip V20Gy": "major"}}[variant]


# --------------------------------------------------------------------------- kinks of the dose on voxel centres
def test_sib_boost_ramp_dvh_is_exact_through_the_kinks(tmp_path):
    """Regression: near a kink of the dose on a voxel centre the DVH must follow the trilinear dose.

    Derivation (geometry of :func:`phantoms.sib_phantom`): PTV2 is x in [9.5, 40.5] (31 mm), |y| <= 30,
    |z| <= 30, where the dose is f(x) h(y) with h = 1 (|y| <= 32) and nothing varies along z, so its
    DVH is that of f over x uniform on [9.5, 40.5]. f rises linearly 51 -> 61 Gy over x in [8, 11]
    (0.3 mm per Gy) and falls back over [39, 42]; for d in [56, 61) f(x) >= d on
    [8 + 0.3 (d - 51), 42 - 0.3 (d - 51)], inside PTV2 from d = 56 on, i.e. 31 - 2 x 0.3 (d - 56) mm:
    V(d) = (31 - 0.6 (d - 56)) / 31 (x 100 %), and conversely D(p %) = 56 + (31 - 0.31 p) / 0.6 for p
    in (90.32, 100]. The kinks x = 8, 11, 39, 42 lie on voxel centres of the 1 mm grid, so the
    trilinear interpolant of the grid is f itself: the engine must reproduce V and D exactly (to the
    fine-bin resolution). The defect this guards against took a slope-limited slope at the kink
    voxel x = 11 (and 39), giving half a voxel on each side of it 61 Gy: V flat at 93.55 % from
    about 59.4 to 61 Gy (V(60) = 92.26 %, V(60.5) = 91.29 % exactly).
    """
    rtss, rtdose, _ = ph.sib_phantom(tmp_path, "pass")
    ptv2 = compute_dvh(read_rtstruct(rtss), read_rtdose(rtdose), "PTV2")
    assert ptv2.sampling["supersampling"] == 1  # the path that sampled at the voxel centres
    for d in np.linspace(56.0, 60.98, 84):
        assert ptv2.volume_at_dose_gy(d) == pytest.approx(100 * (31 - 2 * (d - 56) * 0.3) / 31, abs=0.05), d
    assert ptv2.volume_at_dose_gy(52) == pytest.approx(100, abs=0.05)
    for p in (99.5, 98, 96, 95, 94, 93, 92.5, 92, 91.5, 91, 90.5):
        assert ptv2.dose_at_volume_percent(p) == pytest.approx(56 + (31 - 0.31 * p) / 0.6, abs=0.02), p
    # the mean: ramps 2 x 1.5 mm at 58.5 Gy on average, 28 mm at 61 Gy
    assert ptv2.mean_gy == pytest.approx((2 * 1.5 * 58.5 + 28 * 61) / 31, abs=0.005)
    assert ptv2.min_gy == pytest.approx(56, abs=0.01) and ptv2.max_gy == pytest.approx(61, abs=0.01)


KINK_KNOTS = [-40.0, -12.0, -6.0, 6.0, 12.0, 40.0]  # all on voxel centres (x, y) and frames (z) below
KINK_VALUES = [20.0, 20.0, 30.0, 34.0, 22.0, 22.0]


def _kinked_fraction(lo: float, hi: float, d: float) -> float:
    """Exact fraction of t uniform on [lo, hi] where the piecewise-linear KINK profile is >= d."""
    t = np.array([lo, *[k for k in KINK_KNOTS if lo < k < hi], hi])
    p = np.interp(t, KINK_KNOTS, KINK_VALUES)
    length = 0.0
    for t0, t1, p0, p1 in zip(t[:-1], t[1:], p[:-1], p[1:]):
        if min(p0, p1) >= d:
            length += t1 - t0
        elif max(p0, p1) > d:
            length += (t1 - t0) * (max(p0, p1) - d) / abs(p1 - p0)
    return length / (hi - lo)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
@pytest.mark.parametrize("size", ["small", "large"])
def test_dose_kinked_on_voxel_centres_and_frames(tmp_path, axis, size):
    # A dose varying along one axis only, piecewise linear with its kinks on voxel centres (x, y: 1 mm
    # grid on whole mm) or on frames (z: every 3 mm, where the contour planes lie too, each plane's
    # slab straddling its frame), so the trilinear interpolant is the profile itself and the DVH of
    # a box is the profile's distribution over the box's extent along that axis (_kinked_fraction).
    # The large box is sampled at the voxel centres, the small one by sub-voxel samples: both exact.
    grid = ph.GridSpec(origin=np.array([-40.0, -40.0, -27.0]), orientation=np.array(HFS, float),
                       pixel_spacing=(1.0, 1.0), shape=(19, 81, 81), frame_offsets=np.arange(19) * 3.0)
    box = (-30.5, 30.5, -30.5, 30.5, -21.0, 21.0) if size == "large" else (-14.5, 14.5, -13.5, 13.5, -15.0, 15.0)
    i = "xyz".index(axis)
    ss, dose = _files(tmp_path, [ph.ROI("B", ph.box(*box, 3.0))], grid,
                      lambda x, y, z: np.interp((x, y, z)[i], KINK_KNOTS, KINK_VALUES))
    dvh = compute_dvh(ss, dose, "B")
    assert (dvh.sampling["supersampling"] == 1) == (size == "large")
    lo, hi = box[2 * i], box[2 * i + 1]
    for d in np.linspace(20.05, 33.95, 140):
        assert dvh.volume_at_dose_gy(d) == pytest.approx(100 * _kinked_fraction(lo, hi, d), abs=0.05), d
    t = np.linspace(lo, hi, 400001)
    assert dvh.mean_gy == pytest.approx(float(np.interp(t, KINK_KNOTS, KINK_VALUES).mean()), abs=0.005)


# --------------------------------------------------------------------------- the command
def _cli():
    from sarcotrial.cli.dvh import dvh

    app = typer.Typer()
    app.command()(dvh)
    app.command("other")(lambda: None)  # two commands: the app keeps "dvh" as a sub-command
    return app


def test_cli_json_and_table(tmp_path):
    rtss, rtdose, _ = ph.sib_phantom(tmp_path, "pass")
    runner = CliRunner()
    result = runner.invoke(_cli(), ["dvh", str(rtss), str(rtdose), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["CTV1", "CTV2", "PTV1", "PTV2", "Bone", "SkinStrip"]
    assert all(set(r) >= {"name", "volume_cc", "min_gy", "mean_gy", "max_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy",
                          "end_cap"} and r["end_cap"] == "none" for r in rows)
    one = json.loads(runner.invoke(_cli(), ["dvh", str(rtss), str(rtdose), "--structure", "PTV1 outside PTV2",
                                            "--end-cap", "half-slice", "--json"]).stdout)
    assert len(one) == 1 and one[0]["name"] == "PTV1 outside PTV2" and one[0]["end_cap"] == "half-slice"
    table = runner.invoke(_cli(), ["dvh", str(rtss), str(rtdose)], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "SkinStrip" in table.stdout and "end cap: none" in table.stdout
    # on an 80-column terminal every number is printed whole (names may fold, numbers never)
    for r in rows:
        for key in ("volume_cc", "min_gy", "mean_gy", "max_gy", "d98_gy", "d95_gy", "d50_gy", "d2_gy"):
            assert f"{r[key]:.2f}" in table.stdout, (r["name"], key)
    assert "…" not in table.stdout and max(len(line) for line in table.stdout.splitlines()) <= 80


def test_cli_reports_skipped_and_refuses_in_one_line(tmp_path):
    rois = [ph.ROI("Ball", ph.sphere((0, 0, 0), 6, 2.0)), ph.ROI("POI_1", [], kind="MARKER")]
    rtss = ph.write_rtstruct(tmp_path / "rtss.dcm", rois)
    grid = ph.GridSpec.around((-10, -10, -10), (10, 10, 10), 2.0)
    rtdose = ph.write_rtdose(tmp_path / "rtdose.dcm", grid, ph.sample(grid, linear))
    runner = CliRunner()
    rows = json.loads(runner.invoke(_cli(), ["dvh", str(rtss), str(rtdose), "--json"]).stdout)
    assert rows[-1] == {"name": "POI_1", "skipped": "no contours: an empty ROI (RT ROI Interpreted Type MARKER)"}
    bad = runner.invoke(_cli(), ["dvh", str(rtdose), str(rtdose)])
    assert bad.exit_code == 2 and "not an RTSTRUCT" in bad.output and "Traceback" not in bad.output
    cap = runner.invoke(_cli(), ["dvh", str(rtss), str(rtdose), "--end-cap", "full"])
    assert cap.exit_code == 2 and "end_cap" in cap.output


def test_cli_refuses_files_that_cannot_give_a_dvh_once(tmp_path):
    """Defect 12 of the quality pass: different frames of reference were printed as a warning, then
    again as the error. Every problem that rules out a DVH is now named once, in one error (exit 2)."""
    rtss = ph.write_rtstruct(tmp_path / "rtss.dcm", [ph.ROI("Ball", ph.sphere((0, 0, 0), 6, 2.0))])
    grid = ph.GridSpec.around((-10, -10, -10), (10, 10, 10), 2.0)
    other = ph.write_rtdose(tmp_path / "other.dcm", grid, ph.sample(grid, linear), frame_uid="1.2.826.0.1.3680043.8.498.2")
    runner = CliRunner()
    bad = runner.invoke(_cli(), ["dvh", str(rtss), str(other), "--json"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert bad.output.count("different frames of reference") == 1 and "warning" not in bad.output
    assert [line for line in bad.output.splitlines() if line.strip()][0].startswith("error: frame_of_reference:")
    assert bad.stdout == ""  # nothing written: no JSON list
    both = ph.write_rtdose(tmp_path / "both.dcm", grid, ph.sample(grid, linear), frame_uid="1.2.826.0.1.3680043.8.498.2",
                           units="RELATIVE")
    bad = runner.invoke(_cli(), ["dvh", str(rtss), str(both)])
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert bad.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: files:"), bad.output
    assert lines[0].count("frames of reference") == 1 and lines[0].count("dose units are RELATIVE") == 1


def test_a_structure_too_large_for_every_voxel_centre_is_sampled_at_every_second(tmp_path):
    """A box of 512 cm3 on a 1 x 1 x 2 mm grid holds more voxels than MAX_SAMPLES (400,000, counted at
    the slice spacing SAMPLE_TARGET asks for): sampled at every second voxel centre, each sample a
    2 x 2 mm cell with the interpolant's mean slopes over it. The bounds: with samples 2 mm apart a
    face of the box may be counted up to 1 mm in or out, so the volume within 4 faces x 1 mm x 80 x
    80 mm2 (the end planes are exact: the structure ends at them); the box's centre may move by up
    to 1 mm along each in-plane axis (both faces moved the same way), so the mean within the
    in-plane gradients times 1 mm, and every quantile too (the dose over the box is the same
    distribution, shifted). The expected quantiles come from the box itself, sampled on a 0.1 mm
    lattice."""
    x0, x1, y0, y1 = -40.3, 39.7, -40.2, 39.8
    gx, gy, gz = 0.1, 0.05, 0.02
    rois = [ph.ROI("Big", ph.box(x0, x1, y0, y1, 0, 80, 2.0))]
    grid = ph.GridSpec.around((-45, -45, -5), (45, 45, 85), 1.0, frame_spacing=2.0)
    ss, dose = _files(tmp_path, rois, grid, lambda x, y, z: 10 + gx * x + gy * y + gz * z)
    dvh = compute_dvh(ss, dose, "Big")
    assert dvh.sampling["supersampling"] == 1 and dvh.sampling["sample_spacing_mm"] == [2.0, 2.0]
    volume = (x1 - x0) * (y1 - y0) * 80 / 1000
    assert abs(dvh.volume_cc - volume) <= 4 * 1.0 * 80 * 80 / 1000
    assert dvh.outside_grid_cc == 0
    centre = 10 + gx * (x0 + x1) / 2 + gy * (y0 + y1) / 2 + gz * 40
    assert abs(dvh.mean_gy - centre) <= (gx + gy) * 1.0
    xs, ys, zs = (np.arange(a + 0.05, b, 0.1) for a, b in ((x0, x1), (y0, y1), (0, 80)))
    # the dose is a sum of independent uniform terms over the box: its quantiles from the three axes' lattices
    doses = (gx * xs[:, None] + gy * ys[None, :]).ravel()
    doses = (doses[:, None] + gz * zs[None, ::8]).ravel() + 10
    for p in (98, 95, 50, 5, 2):
        expected = float(np.percentile(doses, 100 - p))
        assert abs(dvh.dose_at_volume_percent(p) - expected) <= (gx + gy) * 1.0, p
