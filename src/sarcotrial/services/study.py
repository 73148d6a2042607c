"""Opening and creating a study database; the unit of work every user action runs in.

A study database is bound to one protocol, and to its exact text, when it is created: the
protocol is read back from the database afterwards, so the rules that judged the data are the
rules the data was entered under. Each user action is one transaction (``StudyDB.action``):
it either writes its records and their audit entries together, or nothing at all.

Who may act is decided here too, once, for every entry point: ``action`` and ``reading`` sign
the actor in (once per process) when the study has accounts, check the account's role against
the permission the service names (``domain/access.py``), and put the resolved
:class:`Principal` in the session, where :meth:`StudyDB.patient` and
:meth:`StudyDB.visible_site_ids` keep a site's staff to their own sites' patients. A study with
no accounts yet works for the operating-system user alone (FDA 21 CFR 11.10(d), 11.300; EU GMP
Annex 11 §12; see ``services/access.py``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from sarcotrial.config import default_key_path, resolve_database_url, sqlite_path
from sarcotrial.errors import AccessDenied, InvalidValue, SarcoTrialError
from sarcotrial.protocol import LoadedProtocol, Protocol, parse_protocol, read_protocol
from sarcotrial.store import audit, crypto, db, scoping
from sarcotrial.store.models import Patient, ProtocolVersion, Site, Study

#: the environment variable naming the study a command works in (``sarcotrial --study``)
STUDY_ENV = "SARCOTRIAL_STUDY"
#: the permissions of the unit's registry (the board, second opinions, the registry's documents):
#: their units of work read every study's patients, as the registry spans the studies
UNIT_PERMISSIONS = ("board.", "second_opinion.", "registry.")


def _is_unit(permission: str) -> bool:
    return permission.startswith(UNIT_PERMISSIONS)


@dataclass(eq=False)
class Actor:
    """The person behind an action: the signed-in user, or ``--user`` / the OS user on the CLI.

    ``password`` is a credential source, asked only when a study with accounts needs it (the CLI
    reads ``SARCOTRIAL_PASSWORD`` or prompts); ``claimed`` marks a name the person typed
    (``--user``) rather than one the system established (the OS login, a test, the demo): a study
    with no accounts yet refuses a claimed name. The fields below are filled by signing in
    (:func:`sarcotrial.services.access.sign_in`), once per process and study.
    """

    name: str
    source: str = "cli"
    password: Callable[[], str] | str | None = field(default=None, repr=False)
    claimed: bool = False
    authenticated: bool = field(default=False, init=False)
    user_id: int | None = field(default=None, init=False)
    role: str | None = field(default=None, init=False)
    full_name: str | None = field(default=None, init=False)
    sites: frozenset[str] | None = field(default=None, init=False)  # None: study-wide
    studies: frozenset[str] | None = field(default=None, init=False)  # delegated to; None: every study
    signed_in_to: tuple[str, int] | None = field(default=None, init=False, repr=False)
    token_id: int | None = field(default=None, init=False, repr=False)

    def credential(self) -> str | None:
        """The password, asked for now (``None`` when the actor has no credential source)."""
        if self.password is None:
            return None
        return self.password() if callable(self.password) else self.password


@dataclass(frozen=True)
class Principal:
    """Who an action runs as, resolved inside the unit of work (``StudyDB.principal(session)``).

    ``role`` is ``None`` only in a study with no accounts yet (the operating-system user alone,
    unrestricted); ``sites`` are the codes of the sites granted, ``None`` for study-wide.
    """

    username: str
    full_name: str
    role: str | None
    sites: frozenset[str] | None
    site_ids: frozenset[int] | None
    export: str
    user_id: int | None

    @property
    def has_account(self) -> bool:
        return self.user_id is not None


INFO_PRINCIPAL = "principal"


class StudyError(SarcoTrialError):
    """The database holds no study, another study, or an older schema."""


@dataclass
class KeyNotice:
    """What ``init``/``demo`` tell the user about the identifier key."""

    path: Path | None
    created: bool
    origin: str


@dataclass(frozen=True)
class StudyInfo:
    """A study the database runs (``study list``)."""

    id: int
    acronym: str
    version: str
    synthetic: bool
    first: bool


class StudyDB:
    """The database, working in one of its studies (``study_id``): the unit's registry, which every
    study shares, and that study's rows (:mod:`sarcotrial.store.scoping`)."""

    def __init__(self, url: str, engine, loaded: LoadedProtocol, study_id: int, synthetic: bool, *,
                 owner: "StudyDB | None" = None):
        self.url = url
        self.engine = engine
        self.loaded = loaded
        self.study_id = study_id
        self.synthetic = synthetic
        self._factory = owner._factory if owner is not None else db.make_sessionmaker(engine)
        self._owner = owner  # a sibling shares its owner's engine, key and thread state
        self._siblings: dict[int, StudyDB] = {}
        self._cipher: crypto.IdentifierCipher | None = None
        self._local = owner._local if owner is not None else threading.local()  # actions open per thread

    def _sessions(self, *, bind=None, unit: bool = False) -> Session:
        session = self._factory(bind=bind) if bind is not None else self._factory()
        return scoping.bind(session, self.study_id, unit=unit)

    # ------------------------------------------------------------------ protocol
    @property
    def protocol(self) -> Protocol:
        return self.loaded.protocol

    @property
    def protocol_version(self) -> str:
        return self.protocol.version

    # ------------------------------------------------------------------ creating and opening
    @classmethod
    def create(cls, db_url: str | None, protocol_ref: str, actor: Actor, *, synthetic: bool = False,
               site_code: str = "MAIN", site_name: str = "Soft tissue sarcoma unit") -> tuple["StudyDB", KeyNotice]:
        if actor.claimed:  # a new study has no accounts: only the operating-system user may act on it
            from sarcotrial.services.access import NO_ACCOUNTS

            raise AccessDenied(NO_ACCOUNTS)
        url = resolve_database_url(db_url)
        loaded = read_protocol(protocol_ref)
        engine = db.make_engine(url)
        try:
            if not db.is_empty(engine):
                existing = _existing_study(engine)
                raise StudyError(
                    f"{_display(url)} already holds {existing}; choose another --db, or remove that file to start over"
                    if existing else f"{_display(url)} is not empty and not a SarcoTrial study; choose an empty database"
                )
            cipher, notice = _key_for_new_study(url)
            db.upgrade(engine)
            factory = db.make_sessionmaker(engine)
            with factory() as session, session.begin():
                version = ProtocolVersion(acronym=loaded.protocol.acronym, version=loaded.protocol.version,
                                          sha256=loaded.sha256, text=loaded.text, bound_by=actor.name)
                session.add(version)
                session.flush()
                study = Study(acronym=loaded.protocol.acronym, protocol_version_id=version.id, synthetic=synthetic,
                              key_check=cipher.key_check(), created_by=actor.name)
                session.add(study)
                _begin_action(session, actor, None, loaded.protocol.version)
                _serialise_writers(session)
                session.add(Site(code=site_code, name=site_name))
                session.flush()
                study_id = study.id
        except BaseException:
            engine.dispose()
            raise
        instance = cls(url, engine, loaded, study_id, synthetic)
        instance._cipher = cipher
        return instance, notice

    @classmethod
    def open(cls, db_url: str | None, study: str | None = None) -> "StudyDB":
        """Open the database in one of its studies: ``study`` (an acronym), else ``SARCOTRIAL_STUDY``,
        else the study the database was made with."""
        import os

        from sarcotrial import config

        wanted = (study or config.selected_study or os.environ.get(STUDY_ENV) or "").strip() or None
        url = resolve_database_url(db_url)
        path = sqlite_path(url)
        if path is not None and not path.exists():
            raise StudyError(f"no study database at {path}; create one with 'sarcotrial init --protocol sprint' "
                             f"(or give --db / DATABASE_URL)")
        engine = db.make_engine(url)
        try:
            if db.is_empty(engine):
                raise StudyError(f"{_display(url)} holds no study; create one with 'sarcotrial init --protocol sprint'")
            revision = db.current_revision(engine)
            if revision is None:
                raise StudyError(f"{_display(url)} holds tables that are not a SarcoTrial study; give the study's --db")
            if revision != db.head_revision():
                raise StudyError(f"{_display(url)} has database schema {revision}, this SarcoTrial needs "
                                 f"{db.head_revision()}: back it up, then run 'sarcotrial upgrade'")
            with Session(engine) as session:
                studies = list(session.scalars(select(Study).order_by(Study.id)))
                if not studies:
                    raise StudyError(f"{_display(url)} has SarcoTrial's tables but no study record")
                study = studies[0]
                if wanted is not None:
                    chosen = [s for s in studies if s.acronym.upper() == wanted.upper()]
                    if not chosen:
                        raise StudyError(f"{_display(url)} runs no study {wanted!r}; it runs "
                                         f"{', '.join(s.acronym for s in studies)} (--study / {STUDY_ENV})")
                    study = chosen[0]
                loaded = _bound_protocol(study)
                study_id, synthetic = study.id, study.synthetic
        except BaseException:
            engine.dispose()
            raise
        return cls(url, engine, loaded, study_id, synthetic)

    def close(self) -> None:
        if self._owner is None:
            self.engine.dispose()

    # ------------------------------------------------------------------ the database's studies
    def studies(self) -> list[StudyInfo]:
        """The studies this database runs, the one it was made with first."""
        with self._factory(bind=db.read_only(self.engine)) as session:  # never waits behind a writer
            rows = list(session.scalars(select(Study).order_by(Study.id)))
            return [StudyInfo(r.id, r.acronym, r.protocol.version, r.synthetic, i == 0) for i, r in enumerate(rows)]

    def sibling(self, which: int | str) -> "StudyDB":
        """The same database working in another of its studies (by id or acronym); it shares this
        one's engine, key and sign-in, and closing it closes nothing."""
        root = self._owner or self
        for known in (root, *root._siblings.values()):  # the studies opened already: no query (a hot path)
            if known.study_id == which or (isinstance(which, str)
                                           and known.protocol.acronym.upper() == which.strip().upper()):
                return known
        infos = root.studies()
        match = [i for i in infos if i.id == which or (isinstance(which, str) and i.acronym.upper() == which.strip().upper())]
        if not match:
            raise InvalidValue("study", f"this database runs no such study (it runs {', '.join(i.acronym for i in infos)})",
                               str(which))
        info = match[0]
        with root._factory(bind=db.read_only(root.engine)) as session:
            loaded = _bound_protocol(session.get(Study, info.id))
        sibling = StudyDB(root.url, root.engine, loaded, info.id, info.synthetic, owner=root)
        sibling._cipher = root._cipher
        root._siblings[info.id] = sibling
        return sibling

    def add_study(self, protocol_ref: str, actor: Actor, *, synthetic: bool | None = None) -> "StudyDB":
        """Bind a further protocol to this database: a study of its own beside the others, sharing the
        unit's registry, sites, accounts and identifier key (``sarcotrial study add``)."""
        loaded = read_protocol(protocol_ref)
        acronym = loaded.protocol.acronym
        prefix = loaded.protocol.identification.subject_id_prefix
        with self.action(actor, f"study {acronym} added to the database", permission="protocol.amend") as session:
            for row in session.scalars(select(Study)):
                if row.acronym.upper() == acronym.upper():
                    raise InvalidValue("protocol", f"this database already runs {acronym}", protocol_ref)
                other = _bound_protocol(row).protocol.identification.subject_id_prefix
                if other.upper() == prefix.upper():
                    raise InvalidValue("protocol", f"its subject id prefix {prefix!r} is {row.acronym}'s: subject ids "
                                       "must tell the studies apart", protocol_ref)
            version = session.scalars(select(ProtocolVersion).where(
                ProtocolVersion.acronym == acronym, ProtocolVersion.version == loaded.protocol.version)).first()
            if version is None:
                version = ProtocolVersion(acronym=acronym, version=loaded.protocol.version, sha256=loaded.sha256,
                                          text=loaded.text, bound_by=self.principal(session).username)
                session.add(version)
                session.flush()
            first = session.scalars(select(Study).order_by(Study.id)).first()
            row = Study(acronym=acronym, protocol_version_id=version.id,
                        synthetic=self.synthetic if synthetic is None else synthetic,
                        key_check=first.key_check, created_by=self.principal(session).username)
            session.add(row)
            session.flush()
            new_id = row.id
        return self.sibling(new_id)

    def __enter__(self) -> "StudyDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ units of work
    @property
    def identity(self) -> tuple[str, int]:
        """What an actor's sign-in is good for: this database (its accounts serve all its studies)."""
        return (self.url, 0)

    @contextmanager
    def action(self, actor: Actor, reason: str | None = None, *, permission: str = "record",
               unit: bool | None = None) -> Iterator[Session]:
        """One user action: one transaction, audited under ``actor`` (and ``reason`` for changes).

        The actor is signed in first when the study has accounts (a refused sign-in is recorded in
        a transaction of its own); inside the transaction their account must be active and its role
        allow ``permission``, else :class:`AccessDenied` and nothing is written.
        """
        from sarcotrial.services import access

        access.sign_in(self, actor)
        self._local.open = getattr(self._local, "open", 0) + 1
        try:
            with self._sessions(unit=_is_unit(permission) if unit is None else unit) as session:
                try:
                    with session.begin():
                        _begin_action(session, actor, reason, self.protocol_version)
                        _serialise_writers(session)
                        principal = access.authorise(self, session, actor, permission)
                        session.info[INFO_PRINCIPAL] = principal
                        session.info[audit.INFO_ACTOR] = principal.username
                        yield session
                except IntegrityError as exc:
                    raise InvalidValue("record", f"conflicts with data already stored ({_constraint(exc)})",
                                       show_value=False) from None
                except OperationalError as exc:
                    raise SarcoTrialError(f"the database refused the change: {exc.orig}") from None
        finally:
            self._local.open -= 1

    @contextmanager
    def reading(self, actor: Actor | None = None, *, permission: str = "read",
                unit: bool | None = None) -> Iterator[Session]:
        """A session to read with. With an ``actor`` it is checked as :meth:`action` checks, and
        listings see only the actor's sites; ``None`` is for a service's own internal reads.

        A read takes no write lock (on SQLite its transactions begin ``DEFERRED``:
        :func:`sarcotrial.store.db.read_only`), so readers do not queue behind a writer; each
        transaction still reads one consistent snapshot."""
        bind = db.read_only(self.engine)
        unit = _is_unit(permission) if unit is None else unit
        if actor is None:
            with self._sessions(bind=bind, unit=unit) as session:
                yield session
            return
        from sarcotrial.services import access

        access.sign_in(self, actor)
        with self._sessions(bind=bind, unit=unit) as session:
            session.info[INFO_PRINCIPAL] = access.authorise(self, session, actor, permission)
            session.rollback()  # end the check's read, so the caller may begin its own transaction
            yield session

    @contextmanager
    def _recording(self, name: str, source: str) -> Iterator[Session]:
        """A write that is no user's action (a sign-in attempt): its own transaction, committed even
        when the action it precedes is then refused. Called before an action opens, never inside one:
        the action holds the write lock this transaction needs."""
        self._outside_action()
        with self._sessions() as session, session.begin():
            _begin_action(session, Actor(name, source), None, self.protocol_version)
            _serialise_writers(session)
            yield session

    def _outside_action(self) -> None:
        if getattr(self._local, "open", 0):
            raise RuntimeError("sign-in and signature checks record the attempt in a transaction of their own: "
                               "call them before study.action(), not inside it")

    # ------------------------------------------------------------------ who is acting
    def principal(self, session: Session) -> Principal | None:
        """The principal the session's action runs as (``None`` in a service's internal read)."""
        return session.info.get(INFO_PRINCIPAL)

    def require(self, session: Session, permission: str) -> Principal | None:
        """A further permission inside an action (e.g. ``read.identifiers`` within a read)."""
        from sarcotrial.services import access

        return access.require(session, permission)

    def visible_site_ids(self, session: Session) -> set[int] | None:
        """The ids of the sites whose patients the session's principal sees; ``None``: all of them."""
        principal = self.principal(session)
        if principal is None or principal.site_ids is None:
            return None
        return set(principal.site_ids)

    # ------------------------------------------------------------------ identifiers
    def cipher(self) -> crypto.IdentifierCipher:
        """The identifier key (environment, else the key file beside a SQLite database), checked against this study."""
        if self._cipher is None:
            cipher = crypto.key_from_environment()
            if cipher is None:
                beside = default_key_path(self.url)
                if beside is None or not beside.exists():
                    raise crypto.KeyError_(
                        "the identifier key is needed for names, dates of birth and hospital numbers: set "
                        f"{crypto.KEY_FILE_ENV} (or {crypto.KEY_ENV})"
                        + (f"; expected a key file at {beside}" if beside else ""))
                cipher = crypto.read_key_file(beside)
            with self.reading() as session:
                cipher.verify(session.get(Study, self.study_id).key_check)
            self._cipher = cipher
        return self._cipher

    # ------------------------------------------------------------------ helpers for services
    def patient(self, session: Session, subject_id: str) -> Patient:
        """The patient with this subject id, if the principal's sites include theirs.

        A patient of another site is answered exactly as an unknown subject id, so that a site's
        staff do not learn which subject ids exist elsewhere.
        """
        patient = session.scalars(select(Patient).where(Patient.subject_id == subject_id.strip().upper())).first()
        visible = self.visible_site_ids(session)
        if patient is None or (visible is not None and patient.site_id not in visible):
            if patient is None and not session.info.get(scoping.INFO_UNIT):
                elsewhere = self._elsewhere(session, subject_id)
                if elsewhere:
                    raise InvalidValue("patient", f"is not in {self.protocol.acronym}: {elsewhere}", subject_id)
            raise InvalidValue("patient", "no such subject id in this study", subject_id)
        if session.info.get(scoping.INFO_UNIT) and patient.registry_patient_id is not None:
            return session.get(Patient, patient.registry_patient_id)  # the registry's row of the person
        return patient

    def _elsewhere(self, session: Session, subject_id: str) -> str | None:
        """Where a subject id not of this study is (a registry patient of another study), to say so."""
        other = session.scalars(select(Patient).where(Patient.subject_id == subject_id.strip().upper())
                                .execution_options(**{scoping.ALL_STUDIES: True})).first()
        visible = self.visible_site_ids(session)
        if other is None or (visible is not None and other.site_id not in visible):
            return None
        study = session.get(Study, other.study_id)
        home = other.registry_id
        mine = session.scalars(select(Patient).where(  # this study's row of the person, if any
            (Patient.registry_patient_id == home) | (Patient.id == home))).first()
        if mine is not None:
            return f"the person is {mine.subject_id} here"
        return (f"{other.subject_id} is a patient of {study.acronym}; take them into {self.protocol.acronym} with "
                f"'sarcotrial --study {self.protocol.acronym} patient add-to-study {other.subject_id}'")

    def site(self, session: Session, code: str) -> Site:
        """The site with this code, if the principal may work on its patients."""
        site = session.scalars(select(Site).where(func.upper(Site.code) == code.strip().upper())).first()
        if site is None:
            raise InvalidValue("site", "no such site in this study", code)
        visible = self.visible_site_ids(session)
        if visible is not None and site.id not in visible:
            principal = self.principal(session)
            raise AccessDenied(f"site {site.code}: {principal.username} works on the patients of "
                               f"{', '.join(sorted(principal.sites))} only")
        return site

    def next_subject_id(self, session: Session) -> str:
        count = session.scalar(select(func.count(Patient.id))) or 0
        prefix = self.protocol.identification.subject_id_prefix
        return f"{prefix}-{count + 1:03d}"


def _bound_protocol(study: Study) -> LoadedProtocol:
    """The protocol text a study is bound to, read back from the database."""
    return parse_protocol(study.protocol.text, f"{study.acronym} v{study.protocol.version} (bound to this study)")


def _begin_action(session: Session, actor: Actor, reason: str | None, version: str) -> None:
    if not actor.name or not actor.name.strip():
        raise InvalidValue("user", "every action must name the person making it")
    session.info[audit.INFO_ACTOR] = actor.name
    session.info[audit.INFO_SOURCE] = actor.source
    session.info[audit.INFO_REASON] = reason.strip() if reason else None
    session.info[audit.INFO_PROTOCOL_VERSION] = version


WRITE_LOCK = 0x5A4C0001  # PostgreSQL advisory lock key held by every write action


def _serialise_writers(session: Session) -> None:
    """One writer at a time, on both databases: subject ids and the audit chain never race.

    SQLite gets this from ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-level advisory lock
    does the same (released at commit or rollback). A sarcoma unit's write rate is far below
    what one writer at a time can serve; readers are never blocked.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})


def _key_for_new_study(url: str) -> tuple[crypto.IdentifierCipher, KeyNotice]:
    cipher = crypto.key_from_environment()
    if cipher is not None:
        return cipher, KeyNotice(None, False, cipher.origin)
    key_path = default_key_path(url)
    if key_path is None:
        raise crypto.KeyError_(
            f"a PostgreSQL study needs an identifier key: set {crypto.KEY_FILE_ENV} to a key file (or {crypto.KEY_ENV}); "
            "create one with: python -c \"import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())\" > study.key")
    if key_path.exists():
        cipher = crypto.read_key_file(key_path)
        return cipher, KeyNotice(key_path, False, str(key_path))
    return crypto.write_key_file(key_path), KeyNotice(key_path, True, str(key_path))


def _existing_study(engine) -> str | None:
    try:
        with Session(engine) as session:
            study = session.scalars(select(Study)).first()
            return f"study {study.acronym} (protocol v{study.protocol.version})" if study else None
    except Exception:
        return None


def _display(url: str) -> str:
    path = sqlite_path(url)
    return str(path) if path else url.split("@")[-1]


def _constraint(exc: IntegrityError) -> str:
    text = str(exc.orig).splitlines()[0]
    return text[:200]

