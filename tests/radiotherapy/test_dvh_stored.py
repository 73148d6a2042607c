"""The planning system's DVHs stored in an RT Dose (PS3.3 C.8.8.4 RT DVH Module), read when asked.

DVH Data (3004,0058) holds pairs of (bin width, volume); the dose of a bin's lower edge is the
sum of the widths before it, times DVH Dose Scaling (3004,0052). The stored DVHs are parsed the
first time a grid's ``dvhs`` are read, so a DVH computed from the grid never pays for them, and a
damaged stored DVH stops only what asks for it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from sarcotrial.radiotherapy.dicomrt import RTFileError, read_rtdose, read_rtstruct
from sarcotrial.radiotherapy.dvh import compute_dvh

from . import phantoms as ph


def _dvh_item(roi: int | None, data: list[float], scaling: str = "2") -> Dataset:
    item = Dataset()
    item.DVHType, item.DoseUnits, item.DoseType, item.DVHVolumeUnits = "CUMULATIVE", "GY", "PHYSICAL", "CM3"
    item.DVHDoseScaling = scaling
    item.DVHNumberOfBins = len(data) // 2
    item.DVHData = [f"{v:g}" for v in data]
    item.DVHMeanDose = "3.5"
    ref = Dataset()
    if roi is not None:
        ref.ReferencedROINumber = roi
    item.DVHReferencedROISequence = DicomSequence([ref])
    return item


def _files(tmp_path, items):
    rtss = ph.write_rtstruct(tmp_path / "rtss.dcm", [ph.ROI("Ball", ph.sphere((0, 0, 0), 8, 2.0))])
    grid = ph.GridSpec.around((-20, -20, -20), (20, 20, 20), 2.0)
    path = ph.write_rtdose(tmp_path / "rtdose.dcm", grid, ph.sample(grid, lambda x, y, z: 10 + 0 * x))
    ds = pydicom.dcmread(path)
    ds.DVHSequence = DicomSequence(items)
    ds.save_as(path)
    return rtss, path


def test_stored_dvhs_read_back_when_asked(tmp_path):
    _, path = _files(tmp_path, [_dvh_item(1, [1, 2.0, 1, 1.5, 1, 0.5])])
    dose = read_rtdose(path)
    assert callable(dose.__dict__["_dvhs"])  # not parsed by the reader
    stored = dose.stored_dvh(1)
    assert not callable(dose.__dict__["_dvhs"]) and dose.dvhs is dose.dvhs  # parsed once, kept
    assert stored.doses.tolist() == [0.0, 2.0, 4.0] and stored.volumes.tolist() == [2.0, 1.5, 0.5]
    assert stored.total_volume == 2.0 and stored.mean_dose == 3.5 and stored.minimum_dose is None
    assert dose.stored_dvh(2) is None
    again = dataclasses.replace(dose, notes=("a note",))  # as the reader does with pydicom's warnings
    assert again.dvhs == dose.dvhs and again.notes == ("a note",)


def test_a_grid_without_stored_dvhs_has_an_empty_list(tmp_path):
    _, path = _files(tmp_path, [])
    assert read_rtdose(path).dvhs == []
    grid = read_rtdose(path)
    bare = dataclasses.replace(grid, dvhs=None)
    assert bare.dvhs == [] and bare.stored_dvh(1) is None


def test_a_damaged_stored_dvh_stops_only_what_asks_for_it(tmp_path):
    rtss, path = _files(tmp_path, [_dvh_item(None, [1, 2.0])])  # a referenced ROI item without its number
    dose = read_rtdose(path)
    dvh = compute_dvh(read_rtstruct(rtss), dose, "Ball")
    assert dvh.mean_gy == pytest.approx(10.0, abs=1e-6)
    with pytest.raises(RTFileError, match=r"an item of the DVHSequence \(3004,0050\) cannot be read"):
        dose.dvhs
    assert np.allclose(dose.dose, 10, atol=1e-6)


def test_a_grid_not_yet_asked_copies_and_pickles(tmp_path):
    import copy
    import pickle

    _, path = _files(tmp_path, [_dvh_item(3, [1, 2.0, 1, 1.0])])
    for again in (pickle.loads(pickle.dumps(read_rtdose(path))), copy.deepcopy(read_rtdose(path))):
        assert again.stored_dvh(3).volumes.tolist() == [2.0, 1.0]
