"""Regenerate the shipped CTCAE v5.0 factual catalogue from NCI's spreadsheet.

Usage::

    python -m sarcotrial.services.ctcae_build CTCAE_v5.0_2017-11-27.xlsx OUT.csv

Reads NCI's CTCAE v5.0 spreadsheet (published 27 November 2017) with
:func:`sarcotrial.services.reference.read_ctcae_workbook` and writes only the facts (MedDRA code, MedDRA
SOC, CTCAE term, allowed grades) with :func:`sarcotrial.domain.ctcae.write_catalogue`. The
spreadsheet itself is never copied into the repository. The shipped file is
``src/sarcotrial/domain/data/ctcae_v5_catalogue.csv``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sarcotrial.domain.ctcae import write_catalogue
from sarcotrial.errors import SarcoTrialError
from sarcotrial.services.reference import read_ctcae_workbook


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or any(a in ("-h", "--help") for a in args):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    source, target = args
    try:
        terms = read_ctcae_workbook(source)
        count = write_catalogue(terms, target)
    except SarcoTrialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {target}: {exc}", file=sys.stderr)
        return 1
    socs = len({t.soc for t in terms})
    print(f"wrote {count} CTCAE v5.0 terms in {socs} system organ classes to {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
