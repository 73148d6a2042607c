"""Radiotherapy: the treatment calendar, the delivery log, DICOM-RT plans and their DVHs."""
