"""Reading DICOM-RT objects: RT Structure Set, RT Dose and RT Plan.

Each reader returns a small dataclass holding only what the DVH engine and plan QA need, in
millimetres and gray, or refuses with an :class:`RTFileError` that names the file and the
problem in one line (truncated file, not DICOM, the wrong kind of DICOM object, a required
attribute missing). A reader never returns a half-read object and never guesses a number. A file
written without the preamble and file meta header (PS3.10 section 7.1) is read when it is a data
set of the expected kind; the object's ``notes`` then say what was missing.

One module per step, each readable on its own:

- :mod:`.files`: opening a file, one-line refusals, the kind of object, required attributes;
- :mod:`.structures`: the RT Structure Set (PS3.3 C.8.8.5, C.8.8.6, C.8.8.8);
- :mod:`.dose`: the RT Dose grid and its stored DVHs (PS3.3 C.8.8.3, C.7.6.2, C.8.8.4);
- :mod:`.plan`: the RT Plan's prescription and fractions (PS3.3 C.8.8.9, C.8.8.10, C.8.8.13);
- :mod:`.consistency`: whether the three belong together.

Every name is importable from ``sarcotrial.radiotherapy.dicomrt`` itself.
"""

from sarcotrial.radiotherapy.dicomrt.consistency import check_consistency
from sarcotrial.radiotherapy.dicomrt.dose import DoseGrid, StoredDVH, read_rtdose
from sarcotrial.radiotherapy.dicomrt.files import (RTDOSE_SOP_CLASS, RTPLAN_SOP_CLASSES, RTSTRUCT_SOP_CLASS,
                                                   RTFileError)
from sarcotrial.radiotherapy.dicomrt.plan import Plan, Prescription, read_rtplan
from sarcotrial.radiotherapy.dicomrt.structures import VOLUME_TYPES, Structure, StructureSet, read_rtstruct

__all__ = [
    "RTFileError", "Structure", "StructureSet", "StoredDVH", "DoseGrid", "Prescription", "Plan",
    "read_rtstruct", "read_rtdose", "read_rtplan", "check_consistency",
    "RTSTRUCT_SOP_CLASS", "RTDOSE_SOP_CLASS", "RTPLAN_SOP_CLASSES", "VOLUME_TYPES",
]
