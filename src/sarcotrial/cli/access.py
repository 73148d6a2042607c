"""Accounts, sites and installation settings: ``sarcotrial user``, ``sarcotrial site``, ``sarcotrial settings``.

The acting user signs in with ``--user`` (default: the operating-system user) and the password
from ``SARCOTRIAL_PASSWORD`` or a prompt. A new account's password is asked twice on the
terminal, or read from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from sarcotrial.cli.common import DbOption, JsonOption, UserOption, actor, console, fail, handle_errors, print_json
from sarcotrial.domain.access import EXPORT_RIGHTS, ROLES
from sarcotrial.domain.settings import SETTINGS

if TYPE_CHECKING:  # the services are imported where they are used (start-up time: see cli/common.py)
    from sarcotrial.services import access

user_app = typer.Typer(help="Accounts: who may sign in, with which role, sites and export right.", no_args_is_help=True)
site_app = typer.Typer(help="Sites (data access groups): an account limited to sites sees only their patients.",
                       no_args_is_help=True)
settings_app = typer.Typer(help="Installation settings: lock-out, sign-out, upload limit, tumour-board quorum.",
                           no_args_is_help=True)

ReasonOption = typer.Option(None, "--reason", help="Why (kept in the audit trail; a default is recorded otherwise).")
PasswordStdinOption = typer.Option(False, "--password-stdin", help="Read the new password from standard input (one line).")


def _new_password(username: str, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("password: nothing on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("password: give the new password on standard input with --password-stdin, or run on a terminal")
    first = getpass.getpass(f"New password for {username}: ")
    if getpass.getpass("Again: ") != first:
        fail("password: the two entries differ; nothing was changed")
    return first


def _sites_text(sites) -> str:
    return ", ".join(sites) if sites else "study-wide"


def _describe(account: access.Account) -> str:
    studies = f", delegated to {', '.join(account.studies)}" if account.studies else ""
    return (f"{account.user} ({escape(account.full_name)}), role {account.role}{studies}, sites {_sites_text(account.sites)}, "
            f"export {account.export}{'' if account.active else ', DISABLED'}")


def _check_choice(value: Optional[str], choices, option: str) -> None:
    if value is not None and value not in choices:
        fail(f"{option}: must be one of {', '.join(choices)} (got {value!r})")


# --------------------------------------------------------------------------- users
@user_app.command("add")
@handle_errors
def user_add(name: str = typer.Argument(..., help="The user name to sign in with."),
             full_name: str = typer.Option(..., "--full-name", help="Printed with every signature."),
             role: str = typer.Option(..., "--role", help=f"One of {', '.join(ROLES)}."),
             site: Optional[List[str]] = typer.Option(None, "--site", help="A site granted (repeat for several; none: study-wide)."),
             export: Optional[str] = typer.Option(None, "--export", help=f"One of {', '.join(EXPORT_RIGHTS)} "
                                                  "(default: pseudonymised for a statistician, else none)."),
             delegate: Optional[List[str]] = typer.Option(None, "--delegate", metavar="ACRONYM", help="A study the "
                                                          "account works in (repeatable; none: every study)."),
             password_stdin: bool = PasswordStdinOption,
             db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Create an account (the first account of a study must be an admin)."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    _check_choice(role, ROLES, "--role")
    _check_choice(export, EXPORT_RIGHTS, "--export")
    who = actor(user)
    with StudyDB.open(db) as study:
        access.sign_in(study, who)  # the acting user's password first, then the new one
        password = _new_password(name, password_stdin)
        account = access.add_user(study, who, name, full_name=full_name, role=role, password=password,
                                  sites=site or (), export=export, delegate=delegate or ())
    console.print(f"Added {_describe(account)}")


@user_app.command("list")
@handle_errors
def user_list(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Every account, its role, sites, export right and whether it is active."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        accounts = access.list_users(study, actor(user))
    if as_json:
        print_json({"users": [a.as_json() for a in accounts]})
        return
    if not accounts:
        console.print("No accounts yet: the study works for the operating-system user alone. Create the first "
                      "(admin) account with 'sarcotrial user add NAME --full-name ... --role admin'.")
        return
    from rich import box

    # readable at 80 columns: no frame, the names and words wrapped whole beside the short columns
    table = Table(title="Accounts", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    table.add_column("User", no_wrap=True)
    table.add_column("Full name")
    table.add_column("Role", no_wrap=True)
    table.add_column("Sites")
    table.add_column("Export", no_wrap=True)
    table.add_column("Active")
    for a in accounts:
        state = "yes" if a.active else "no"
        if a.locked_until is not None and a.locked_until > access._now():
            state += f" (locked until {a.locked_until:%H:%M} UTC)"
        table.add_row(a.user, escape(a.full_name), a.role, _sites_text(a.sites), a.export, state)
    console.print(table)


@user_app.command("disable")
@handle_errors
def user_disable(name: str = typer.Argument(...), reason: Optional[str] = ReasonOption,
                 db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Disable an account: it can no longer sign in (its past actions stay attributed to it)."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        account = access.disable_user(study, actor(user), name, reason)
    console.print(f"Disabled {account.user}")


@user_app.command("enable")
@handle_errors
def user_enable(name: str = typer.Argument(...), reason: Optional[str] = ReasonOption,
                db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Enable an account again (also ends a lock-out)."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        account = access.enable_user(study, actor(user), name, reason)
    console.print(f"Enabled {account.user}")


@user_app.command("password")
@handle_errors
def user_password(name: str = typer.Argument(..., help="Your own user name, or (as an admin) another's."),
                  password_stdin: bool = PasswordStdinOption, reason: Optional[str] = ReasonOption,
                  db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Change your own password, or, as an admin, reset another account's."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    who = actor(user)
    with StudyDB.open(db) as study:
        access.sign_in(study, who)
        access.set_password(study, who, name, _new_password(name, password_stdin), reason)
    console.print(f"Password changed for {access.normal_username(name)}")


@user_app.command("grant")
@handle_errors
def user_grant(name: str = typer.Argument(...),
               role: Optional[str] = typer.Option(None, "--role", help=f"One of {', '.join(ROLES)}."),
               site: Optional[List[str]] = typer.Option(None, "--site", help="A site to grant (repeatable)."),
               remove_site: Optional[List[str]] = typer.Option(None, "--remove-site", help="A site to take away (repeatable)."),
               study_wide: bool = typer.Option(False, "--study-wide", help="Take away every site: the account sees all patients."),
               export: Optional[str] = typer.Option(None, "--export", help=f"One of {', '.join(EXPORT_RIGHTS)}."),
               delegate: Optional[List[str]] = typer.Option(None, "--delegate", metavar="ACRONYM",
                                                            help="A study to delegate the account to (repeatable)."),
               undelegate: Optional[List[str]] = typer.Option(None, "--undelegate", metavar="ACRONYM",
                                                              help="A study to take away (repeatable)."),
               all_studies: bool = typer.Option(False, "--all-studies", help="Work in every study of the database."),
               reason: Optional[str] = ReasonOption,
               db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Change an account's role, sites, export right or the studies it is delegated to (audited)."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    _check_choice(role, ROLES, "--role")
    _check_choice(export, EXPORT_RIGHTS, "--export")
    with StudyDB.open(db) as study:
        account = access.grant(study, actor(user), name, role=role, sites=site or (), remove_sites=remove_site or (),
                               study_wide=study_wide, export=export, reason=reason, delegate=delegate or (),
                               undelegate=undelegate or (), all_studies=all_studies)
    console.print(f"Now {_describe(account)}")


# --------------------------------------------------------------------------- sites
@site_app.command("add")
@handle_errors
def site_add(code: str = typer.Argument(..., help="A short code, e.g. MI-INT."),
             name: str = typer.Option(..., "--name", help="The site's name."),
             db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Add a site (admins only)."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        site = access.add_site(study, actor(user), code, name)
    console.print(f"Added site {site.code} ({escape(site.name)})")


@site_app.command("list")
@handle_errors
def site_list(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """The study's sites."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        sites = access.list_sites(study, actor(user))
    if as_json:
        print_json({"sites": [s.as_json() for s in sites]})
        return
    table = Table(title="Sites")
    table.add_column("Code")
    table.add_column("Name", overflow="fold")
    for s in sites:
        table.add_row(s.code, escape(s.name))
    console.print(table)


# --------------------------------------------------------------------------- settings
def _shown(value) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


@settings_app.command("show")
@handle_errors
def settings_show(db: Optional[str] = DbOption, user: Optional[str] = UserOption, as_json: bool = JsonOption) -> None:
    """Every setting, its value and its default."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        with study.reading(actor(user)) as session:
            values = access.settings(session)
    if as_json:
        print_json({"settings": [{"key": k, "value": list(v) if isinstance(v, tuple) else v,
                                  "default": list(SETTINGS[k].default) if isinstance(v, tuple) else SETTINGS[k].default,
                                  "rule": SETTINGS[k].rule} for k, v in values.items()]})
        return
    table = Table(title="Settings")
    table.add_column("Key", no_wrap=True)
    table.add_column("Value", overflow="fold")
    table.add_column("Default", overflow="fold")
    for key, value in values.items():
        default = SETTINGS[key].default
        table.add_row(key, _shown(value) if value == default else f"[bold]{_shown(value)}[/]", _shown(default))
    console.print(table)


@settings_app.command("set")
@handle_errors
def settings_set(key: str = typer.Argument(...), value: str = typer.Argument(...), reason: Optional[str] = ReasonOption,
                 db: Optional[str] = DbOption, user: Optional[str] = UserOption) -> None:
    """Change a setting (admins only; audited)."""
    from sarcotrial.services import access
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        typed = access.set_setting(study, actor(user), key, value, reason)
    console.print(f"{key} = {_shown(typed)}")
