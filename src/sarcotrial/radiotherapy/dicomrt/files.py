"""Opening a DICOM-RT file: one-line refusals, the kind of object, its required attributes.

:func:`open_rt_object` reads a file with pydicom and either returns the data set with the notes
worth telling the user, or raises an :class:`RTFileError` that names the file and the problem in
one line: no such file, a folder, empty, not DICOM, truncated or damaged, or a DICOM object of
another kind.

A DICOM file (PS3.10 section 7.1) starts with a 128-byte preamble, the 'DICM' marker and the File
Meta Information group. Some older systems write the bare data set without them; pydicom reads
those with ``force=True`` (and ships one, ``rtstruct.dcm``, among its test files). Such a file is
accepted when it parses as a data set of the expected kind (by SOP Class UID, else Modality), and
a note says what was missing. Bytes that are not DICOM at all (a text file, an image, random data)
also "parse" with ``force=True``, as one nonsense element: they carry neither a SOP Class UID nor
a Modality, and are refused as not DICOM.

The small helpers below (:func:`tag_text`, :func:`require`, :func:`floats`, :func:`uid`) are
shared by the readers of the three objects.
"""

from __future__ import annotations

import functools
import re
import struct
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sarcotrial.errors import SarcoTrialError

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
RTDOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"
RTPLAN_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8")  # RT Plan, RT Ion Plan

_PARSE_ERRORS = (EOFError, struct.error, OSError, ValueError, TypeError, KeyError, IndexError, OverflowError,
                 NotImplementedError, AttributeError)


class RTFileError(SarcoTrialError):
    """A DICOM-RT file that cannot be used: the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class RTKind:
    """The kind of RT object a reader expects: its Modality, SOP Class UIDs and names."""

    modality: str
    sop_classes: tuple[str, ...]
    what: str   # as the messages name the file: "RTDOSE (RT Dose)"
    name: str   # as the messages name the object: "RT Dose"


RTSTRUCT = RTKind("RTSTRUCT", (RTSTRUCT_SOP_CLASS,), "RTSTRUCT (RT Structure Set)", "RT Structure Set")
RTDOSE = RTKind("RTDOSE", (RTDOSE_SOP_CLASS,), "RTDOSE (RT Dose)", "RT Dose")
RTPLAN = RTKind("RTPLAN", RTPLAN_SOP_CLASSES, "RTPLAN (RT Plan)", "RT Plan")


def tag_text(keyword: str) -> str:
    """A keyword with its tag, as the messages print it: ``PixelSpacing (0028,0030)``."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def noting_pydicom_warnings(reader):
    """Decorate a reader ``reader(path) -> object with notes``: pydicom's warnings while it reads become notes.

    pydicom warns (``UserWarning``) about values it finds invalid, e.g. "Invalid value for VR UI" for
    a UID component with a leading zero (PS3.5 section 9.1), often only when an attribute is first
    accessed. Caught while the file is read, each distinct warning becomes one note naming the file
    instead of a raw Python warning on the terminal; warnings from elsewhere pass on unchanged.
    """

    @functools.wraps(reader)
    def read(path, *args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = reader(path, *args, **kwargs)
        notes = list(result.notes)
        for w in caught:
            if _from_pydicom(w):
                line = f"{Path(path).name}: {pydicom_warning_text(str(w.message))}"
                if line not in notes:
                    notes.append(line)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        return replace(result, notes=tuple(notes)) if len(notes) != len(result.notes) else result

    return read


def _from_pydicom(w: warnings.WarningMessage) -> bool:
    import pydicom

    return str(Path(w.filename).resolve()).startswith(str(Path(pydicom.__file__).resolve().parent))


def pydicom_warning_text(message: str) -> str:
    """pydicom's warning as one line, without its pointer to the standard's web page (named shortly instead)."""
    text = " ".join(message.split())
    link = re.search(r"\s*Please see <[^>]*part05[^>]*table_6\.2-1>[^.]*\.?", text)
    if link:
        text = text[:link.start()].rstrip(". ") + " (pydicom; the rules of each VR: PS3.5 table 6.2-1)" + text[link.end():]
    else:
        text = re.sub(r"\s*Please see <[^>]*>[^.]*\.?", "", text) + " (pydicom)"
    return text.strip()


def open_rt_object(path: str | Path, kind: RTKind):
    """The data set of an RT object of ``kind`` and the notes about how it was read.

    Returns ``(dataset, notes)``; ``notes`` is empty for a well-formed file and holds one line
    (naming the file, by its name as the consistency checks do) when the preamble or the file meta
    header was missing.
    """
    path = Path(path)
    ds, size, missing = _read(path, kind.what)
    _check_complete(path, ds, size)
    _check_kind(path, ds, kind)
    notes = [_bare_note(path, ds, kind, missing)] if missing else []
    return ds, notes


def _read(path: Path, what: str):
    """dcmread with every failure turned into one line naming the file.

    Returns ``(dataset, size in bytes, missing)``, ``missing`` naming what a bare data set lacked
    ("no preamble", "no file meta header"), empty for a well-formed file.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.exists():
        raise RTFileError(path, f"no such file (expected an {what})")
    if path.is_dir():
        raise RTFileError(path, f"is a folder, not an {what} file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RTFileError(path, f"cannot be read: {exc.strerror}") from None
    if size == 0:
        raise RTFileError(path, f"is empty (0 bytes), not an {what}")
    try:
        return pydicom.dcmread(path), size, []
    except InvalidDicomError:
        pass  # no preamble and 'DICM' marker: perhaps a bare data set, tried below
    except PermissionError as exc:
        raise RTFileError(path, f"cannot be read: {exc.strerror}") from None
    except _PARSE_ERRORS as exc:
        raise RTFileError(path, f"is truncated or damaged: the DICOM data cannot be parsed ({type(exc).__name__}: {exc})") from None
    not_dicom = RTFileError(path, f"is not a DICOM file (no 'DICM' marker after the 128-byte preamble, and its start "
                                  f"is not a DICOM data set with a SOP Class UID or a Modality); expected an {what}")
    try:
        with warnings.catch_warnings():  # pydicom warns about the nonsense elements it finds in non-DICOM bytes
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
            looks_like_dicom = _identifies_itself(ds)
    except PermissionError as exc:
        raise RTFileError(path, f"cannot be read: {exc.strerror}") from None
    except Exception:  # any failure of a forced read of unknown bytes means: not DICOM
        raise not_dicom from None
    if not looks_like_dicom:
        raise not_dicom
    missing = [] if getattr(ds, "preamble", None) is not None else ["no preamble"]
    if not len(getattr(ds, "file_meta", None) or ()):
        missing.append("no file meta header")
    _name_transfer_syntax(ds)
    return ds, size, missing or ["no 'DICM' marker"]


def _name_transfer_syntax(ds) -> None:
    """A bare data set has no Transfer Syntax UID, which pydicom needs to decode Pixel Data: name the one it was read in.

    Without a file meta header the data set can only be native (uncompressed) pixel data in the
    implicit or explicit VR encoding pydicom recognised from the first elements.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    syntax = {(True, True): ImplicitVRLittleEndian, (False, True): ExplicitVRLittleEndian,
              (False, False): ExplicitVRBigEndian}.get(tuple(getattr(ds, "original_encoding", (None, None))))
    if syntax is None:
        return
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = syntax


_MODALITY = re.compile(r"[A-Z0-9_]{2,16}")  # a Code String (PS3.5 6.2): upper case, digits, underscore


def _identifies_itself(ds) -> bool:
    """A registered SOP Class UID or a Modality that is a Code String: what non-DICOM bytes never give."""
    from pydicom.uid import UID

    sop = str(ds.get("SOPClassUID", "") or "").strip()
    modality = str(ds.get("Modality", "") or "").strip()
    if sop and UID(sop).is_valid and UID(sop).name != sop:
        return True
    return bool(_MODALITY.fullmatch(modality))


def _bare_note(path: Path, ds, kind: RTKind, missing: list[str]) -> str:
    by = "SOP Class UID" if str(ds.get("SOPClassUID", "") or "").strip() in kind.sop_classes else "Modality"
    encoding = getattr(ds, "original_encoding", (None, None))
    syntax = {(True, True): "implicit VR little endian", (False, True): "explicit VR little endian",
              (False, False): "explicit VR big endian"}.get(tuple(encoding))
    return (f"{path.name}: {' / '.join(missing)} (PS3.10 section 7.1); read as a bare data set, "
            f"recognised as an {kind.name} by its {by}" + (f", encoded {syntax}" if syntax else ""))


_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0, little endian


def _check_complete(path: Path, ds, size: int) -> None:
    """pydicom reads a cut file without complaint, returning short values: check the last element ends the file.

    A defined-length last element must fit in the file; an undefined-length sequence must end
    with its Sequence Delimitation Item (PS3.5 section 7.5).
    """
    from pydicom.dataelem import RawDataElement

    try:
        tags = list(ds.keys())
    except Exception:  # pragma: no cover - pydicom parses lazily; keys() only lists tags
        return
    if not tags:
        raise RTFileError(path, "is truncated or damaged: the DICOM data set is empty")
    last = ds.get_item(max(tags))
    if not isinstance(last, RawDataElement) or last.value_tell is None:
        return
    encoding = getattr(ds, "original_encoding", (None, True))
    if encoding[1] is False:  # big endian: the delimiter below is written little endian
        return
    if last.length == 0xFFFFFFFF:
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 8))
            tail = fh.read(8)
        if tail != _SEQUENCE_DELIMITER:
            raise RTFileError(path, "is truncated: the file ends inside a sequence (no sequence delimiter at its end)")
    elif last.value_tell + last.length > size:
        raise RTFileError(path, f"is truncated: the last attribute needs {last.length} bytes, the file holds "
                                f"{max(0, size - last.value_tell)}")


def _check_kind(path: Path, ds, kind: RTKind) -> None:
    from pydicom.uid import UID

    sop = str(ds.get("SOPClassUID", "") or "")
    found_modality = str(ds.get("Modality", "") or "")
    if sop in kind.sop_classes:
        return
    if not sop and found_modality == kind.modality:
        return
    name = UID(sop).name if sop else "no SOP Class UID"
    raise RTFileError(path, f"is a DICOM {found_modality or '(no modality)'} object ({name}), not an {kind.what} "
                            f"(expected Modality {kind.modality})")


def require(path: Path, ds, keywords: list[str], what: str) -> None:
    """Refuse a data set lacking any of ``keywords`` (or holding them empty), naming every one missing."""
    missing = [k for k in keywords if k not in ds or ds[k].value in (None, "", b"")]
    if missing:
        raise RTFileError(path, f"the {what} lacks required attribute{'s' if len(missing) > 1 else ''} "
                                + ", ".join(tag_text(k) for k in missing))


def floats(path: Path, ds, keyword: str, count: int | None = None) -> np.ndarray:
    """A multi-valued numeric attribute as a float array (``count`` values when given), all finite."""
    try:
        value = ds[keyword].value
        if isinstance(value, (str, bytes, int, float)) or not hasattr(value, "__len__"):
            value = [value]
        arr = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError, KeyError) as exc:
        raise RTFileError(path, f"{tag_text(keyword)} is not a list of numbers ({exc})") from None
    if count is not None and arr.size != count:
        raise RTFileError(path, f"{tag_text(keyword)} has {arr.size} values, {count} expected")
    if not np.all(np.isfinite(arr)):
        raise RTFileError(path, f"{tag_text(keyword)} holds a non-finite number")
    return arr


def uid(value) -> str | None:
    """A UID attribute's text, or None when absent or empty."""
    text = str(value).strip() if value is not None else ""
    return text or None
