"""What expires by itself, as the janitor (server/janitor.py) finds it:
log events older than their group's retention, and secrets whose recovery
window has ended.  Each call is one transaction."""

from __future__ import annotations

from .context import Context

DAY_MS = 86_400_000


def purge_expired_log_events(ctx: Context) -> int:
    """Delete events older than their group's retention (PutRetentionPolicy)."""
    now_ms = int(ctx.clock.now() * 1000)
    purged = 0
    with ctx.store.transaction():
        for name, days in ctx.store.logs.groups_with_retention():
            purged += ctx.store.logs.purge_before(name, now_ms - days * DAY_MS)
    return purged


def purge_deleted_secrets(ctx: Context) -> int:
    """Delete secrets whose recovery window has ended (DeleteSecret), with their tags."""
    with ctx.store.transaction():
        names = ctx.store.secrets.due_for_deletion(ctx.clock.now())
        for name in names:
            secret = ctx.store.secrets.get(name)
            ctx.store.secrets.delete(name)
            if secret is not None:
                ctx.store.remove_tags(secret.arn, [t["key"] for t in ctx.store.get_tags(secret.arn)])
    return len(names)
