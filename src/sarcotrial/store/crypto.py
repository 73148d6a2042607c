"""Encryption of direct identifiers (name, date of birth, hospital number) at rest.

The key is 32 random bytes, base64-encoded, read from ``SARCOTRIAL_KEY_FILE`` (a file holding it)
or ``SARCOTRIAL_KEY`` (the value itself). Two sub-keys are derived from it with HKDF-SHA256: one
for Fernet (AES-128-CBC with HMAC-SHA256, from the ``cryptography`` package) to encrypt each
identifier, one for an HMAC of the normalised hospital number, so a patient can be found by
hospital number (and registered only once) without decrypting every row.

A study stores a Fernet token of a fixed text (``Study.key_check``): opening identifiers with a
different key fails with a clear message instead of garbage or a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sarcotrial.errors import SarcoTrialError

KEY_FILE_ENV = "SARCOTRIAL_KEY_FILE"
KEY_ENV = "SARCOTRIAL_KEY"
_CHECK_TEXT = b"sarcotrial identifier key check v1"


class KeyError_(SarcoTrialError):
    """The identifier key is missing, malformed, or not this study's."""


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise KeyError_(f"{where} does not hold a SarcoTrial key (32 bytes, base64); create one with 'sarcotrial init'")
    return raw


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class IdentifierCipher:
    master: bytes
    origin: str

    @classmethod
    def from_text(cls, text: str, origin: str) -> "IdentifierCipher":
        return cls(_decode(text, origin), origin)

    @property
    def _fernet(self) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(_derive(self.master, b"sarcotrial identifiers fernet")))

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise KeyError_(f"the key from {self.origin} does not decrypt this study's identifiers") from None

    def index(self, hospital_number: str) -> str:
        normalised = "".join(hospital_number.split()).upper()
        key = _derive(self.master, b"sarcotrial hospital number index")
        return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    def date_shift_days(self, subject_id: str, max_days: int = 180) -> int:
        """The per-patient offset of a de-identified export's dates: a whole number of days in
        [-max_days, -1] or [1, max_days], derived from the study key and the subject id (HMAC-SHA256
        under a key of its own), so it is never stored and the unit, holding the key, can reverse it
        (``sarcotrial export date-offset``); without the key it cannot be recovered."""
        key = _derive(self.master, b"sarcotrial de-identification date shift")
        n = int.from_bytes(hmac.new(key, subject_id.encode("utf-8"), hashlib.sha256).digest()[:8], "big")
        magnitude = 1 + n % max_days
        return magnitude if (n >> 32) % 2 else -magnitude

    def key_check(self) -> str:
        return self.encrypt(_CHECK_TEXT.decode())

    def verify(self, key_check: str) -> None:
        try:
            ok = self._fernet.decrypt(key_check.encode("ascii")) == _CHECK_TEXT
        except InvalidToken:
            ok = False
        if not ok:
            raise KeyError_(f"the key from {self.origin} is not this study's identifier key")


def key_from_environment() -> IdentifierCipher | None:
    """The key named by ``SARCOTRIAL_KEY_FILE`` or ``SARCOTRIAL_KEY``, or ``None`` when neither is set."""
    path = os.environ.get(KEY_FILE_ENV)
    if path:
        return read_key_file(Path(path), origin=f"{KEY_FILE_ENV}={path}")
    text = os.environ.get(KEY_ENV)
    if text:
        return IdentifierCipher.from_text(text, KEY_ENV)
    return None


def read_key_file(path: Path, origin: str | None = None) -> IdentifierCipher:
    origin = origin or str(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyError_(f"key file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyError_(f"cannot read key file {path}: {exc}") from None
    return IdentifierCipher.from_text(text, origin)


def write_key_file(path: Path) -> IdentifierCipher:
    """Create a new key file readable by its owner only; refuses to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    return IdentifierCipher.from_text(text, str(path))
