"""A stored plan-QA verdict is recognised as a repeat whether or not it was stored before file notes existed."""

from sarcotrial.services.planqa import _same


def test_empty_file_notes_equal_none_and_real_notes_differ():
    stored_before_notes = {"verdict": "per protocol", "files": {"rtdose": "a.dcm"}}
    now = {"verdict": "per protocol", "files": {"rtdose": "b.dcm"}, "file_notes": []}
    assert _same(stored_before_notes, now)
    assert not _same(stored_before_notes, {**now, "file_notes": ["rtss.dcm: no preamble / no file meta header"]})
    assert not _same(stored_before_notes, {**now, "verdict": "minor deviation"})
