"""SarcoTrial: the soft-tissue-sarcoma unit's pathway and clinical-trial software.

Layers, inner to outer: ``domain`` (pure clinical rules), ``protocol`` (protocol files as data),
``store`` (database, audit trail, identifier encryption), ``services`` (one function per user
action), and the entry points ``cli`` and ``demo``.
"""

__version__ = "0.1.0"
