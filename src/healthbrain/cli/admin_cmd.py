"""`healthbrain admin ...` (organisations, users, clients, MFA, keys) and `healthbrain audit verify`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.errors import HealthBrainError
from healthbrain.core.settings import Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import SecurityServices, reencrypt
from healthbrain.security import tables as st
from healthbrain.storage.migrate import upgrade_database

admin_app = typer.Typer(help="Organisations, accounts, clients and keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
console = Console()

ADMIN_LEVEL = "https://healthbrain.dev/fhir/CodeSystem/admin-level"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"


def _services() -> tuple[Settings, SecurityServices, FhirRepository]:
    settings = Settings()
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    security = SecurityServices.build(engine, settings.security)
    repo = FhirRepository(engine, **security.repository_options())
    return settings, security, repo


def _fail(err: HealthBrainError) -> typer.Exit:
    console.print(f"[red]{err.message}[/red] ({err.code})")
    return typer.Exit(2)


def _organization_exists(repo: FhirRepository, org: str) -> bool:
    try:
        repo.read(system_context(), "Organization", org)
        return True
    except HealthBrainError:
        return False


@admin_app.command("create-org")
def create_org(
    org_id: Annotated[str, typer.Argument(help="the Organization id, e.g. county-hospital-1")],
    name: Annotated[str, typer.Option(help="the name shown to users")],
    level: Annotated[
        str, typer.Option(help="province | city | county | institution | department")
    ] = "institution",
    parent: Annotated[str | None, typer.Option(help="the id of the organisation it belongs to")] = None,
) -> None:
    """Create (or update) an organisation of the hierarchy 省 → 市 → 县 → 机构 → 科室."""
    _, security, repo = _services()
    if level in ("province", "city", "county"):
        types = [
            {"coding": [{"system": ORG_TYPE, "code": "govt"}]},
            {"coding": [{"system": ADMIN_LEVEL, "code": level}]},
        ]
    elif level in ("institution", "department"):
        types = [{"coding": [{"system": ORG_TYPE, "code": "prov" if level == "institution" else "dept"}]}]
    else:
        console.print("[red]level must be province, city, county, institution or department[/red]")
        raise typer.Exit(2)
    org: dict[str, object] = {
        "resourceType": "Organization",
        "id": org_id,
        "active": True,
        "name": name,
        "type": types,
    }
    if parent:
        if not _organization_exists(repo, parent):
            console.print(f"[red]no organisation {parent}[/red]")
            raise typer.Exit(2)
        org["partOf"] = {"reference": f"Organization/{parent}"}
    try:
        repo.update(system_context(), "Organization", org_id, org)
    except HealthBrainError as err:
        raise _fail(err) from err
    security.audit.stop()
    console.print(f"[green]organisation {org_id} ({level})[/green]")


@admin_app.command("create-user")
def create_user(
    username: str,
    organization: Annotated[str, typer.Option(help="the Organization id the user works for")],
    roles: Annotated[str, typer.Option(help="comma-separated roles, e.g. clinician")],
    practitioner: Annotated[str | None, typer.Option(help="the Practitioner id of a clinician")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Create a person's account; prints the TOTP secret to enrol in an authenticator app (once)."""
    _, security, repo = _services()
    if not _organization_exists(repo, organization):
        console.print(f"[red]no organisation {organization}[/red]")
        raise typer.Exit(2)
    try:
        enrolled = security.identity.create_user(
            username, password, [r.strip() for r in roles.split(",") if r.strip()], organization, practitioner
        )
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print(f"[green]user {username} created[/green] (id {enrolled.user_id})")
    if enrolled.totp_secret:
        console.print(f"TOTP secret: [bold]{enrolled.totp_secret}[/bold]\n{enrolled.totp_uri}")


@admin_app.command("create-client")
def create_client(
    name: str,
    organization: Annotated[str, typer.Option(help="the Organization id the system belongs to")],
    scopes: Annotated[
        str, typer.Option(help="space-separated SMART scopes, e.g. 'system/Observation.write'")
    ],
    roles: Annotated[str, typer.Option(help="comma-separated roles")] = "institution-system",
) -> None:
    """Register an institution system (HIS, LIS ...) for the client-credentials grant."""
    _, security, repo = _services()
    if not _organization_exists(repo, organization):
        console.print(f"[red]no organisation {organization}[/red]")
        raise typer.Exit(2)
    try:
        cid, secret = security.identity.create_client(
            name, organization, [r.strip() for r in roles.split(",") if r.strip()], scopes.split()
        )
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print(f"client_id: [bold]{cid}[/bold]\nclient_secret: [bold]{secret}[/bold] (shown once)")


@admin_app.command("reset-mfa")
def reset_mfa(username: str) -> None:
    """Give a user a new TOTP secret; their sessions end."""
    _, security, _ = _services()
    try:
        enrolled = security.identity.reset_mfa(username)
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print(f"TOTP secret: [bold]{enrolled.totp_secret}[/bold]\n{enrolled.totp_uri}")


@admin_app.command("unlock")
def unlock(username: str) -> None:
    """Lift a lockout after repeated failed sign-ins."""
    _, security, _ = _services()
    try:
        security.identity.unlock(username)
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print(f"[green]{username} unlocked[/green]")


@admin_app.command("disable-user")
def disable_user(username: str) -> None:
    """Disable an account and revoke its sessions."""
    _, security, _ = _services()
    try:
        security.identity.set_active(username, False)
    except HealthBrainError as err:
        raise _fail(err) from err
    console.print(f"[green]{username} disabled[/green]")


@admin_app.command("rotate-keys")
def rotate_keys(
    purpose: Annotated[str, typer.Option(help="signing | data | audit-signing")] = "signing",
) -> None:
    """Start using a new key; old keys keep verifying and decrypting."""
    if purpose not in ("signing", "data", "audit-signing"):
        console.print("[red]purpose must be signing, data or audit-signing[/red]")
        raise typer.Exit(2)
    _, security, _ = _services()
    new = security.keys.rotate(purpose)
    console.print(f"[green]new {purpose} key {new.id}[/green]")


@admin_app.command("reencrypt")
def reencrypt_values() -> None:
    """Re-seal identifiers still under retired data keys (after `rotate-keys --purpose data`), online."""
    _, security, _ = _services()
    count = reencrypt(security.audit.engine, security.keys)
    console.print(f"[green]{count:,} values re-sealed under the active data key[/green]")


@admin_app.command("list-users")
def list_users() -> None:
    """Accounts, their organisation and roles (no secrets)."""
    _, security, _ = _services()
    table = Table("username", "organisation", "roles", "MFA", "active")
    with security.audit.engine.connect() as conn:
        for row in conn.execute(select(st.user).order_by(st.user.c.username)):
            table.add_row(
                row.username,
                row.organization,
                row.roles,
                "yes" if row.mfa_enrolled else "no",
                "yes" if row.active else "no",
            )
    console.print(table)


@audit_app.command("verify")
def verify() -> None:
    """Recompute the audit chain; exit 1 and say where, when anything was edited, removed or added."""
    _, security, _ = _services()
    report = security.verify_audit()
    if report.ok:
        console.print(
            f"[green]audit chain intact[/green]: {report.checked:,} records, {report.checkpoints} signed "
            "checkpoints"
        )
        return
    table = Table("record", "problem", "detail", title=f"{len(report.problems)} problems")
    for p in report.problems[:200]:
        table.add_row(str(p.seq), p.kind, p.message)
    console.print(table)
    raise typer.Exit(1)
