"""Server settings, parsed once from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_TASK_RETENTION_S = 3600.0  # AWS keeps stopped tasks describable for about an hour


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8585
    data_dir: Path = Path("~/.portside").expanduser()
    db_url: str | None = None
    region: str = "us-east-1"
    account_id: str = "123456789012"
    task_retention_s: float = DEFAULT_TASK_RETENTION_S
    agent_timeout_s: float = 30.0  # an agent silent this long is disconnected
    service_interval_s: float = 1.0  # the service scheduler's tick (it is also nudged by changes)
    lease_s: float = 5.0  # servers sharing PostgreSQL: the leader lease's length (server/peers.py)
    credentials_path: Path | None = None  # keys and roles (AWS credentials INI); None: open, loopback only
    metrics_token_path: Path | None = None  # a file holding the bearer token /metrics also accepts
    key_file_path: Path | None = None  # --key-file: the key sealing secrets (default: see `key_path`)
    max_connections: int = 4096  # open client connections (lowered to what the open-file limit allows)
    idle_timeout_s: float = 5.0  # a connection with no request under way is closed after this
    header_timeout_s: float = 10.0  # a request's line and headers must arrive within this of its first byte
    body_timeout_s: float = 30.0  # and its body within this of its headers

    @property
    def postgres_dsn(self) -> str | None:
        """The PostgreSQL database (`--db postgresql://USER[:PASS]@HOST:PORT/DB`), or None for SQLite."""
        if self.db_url and self.db_url.startswith(POSTGRES_SCHEMES):
            return self.db_url
        return None

    @property
    def database_path(self) -> Path:
        """Where SQLite keeps state: `--db sqlite:///PATH`, else DATA_DIR/portside.db."""
        if self.db_url:
            if not self.db_url.startswith("sqlite:///"):
                raise ValueError(f"unsupported database URL {self.db_url!r} "
                                 "(use sqlite:///PATH or postgresql://USER@HOST:PORT/DB)")
            return Path(self.db_url.removeprefix("sqlite:///"))
        return self.data_dir / "portside.db"

    @property
    def key_path(self) -> Path:
        """The Fernet key that seals secret values and SecureString parameters
        (store/sealing.py): `--key-file PATH`, else `portside.key` beside the
        SQLite database, or in the data dir with PostgreSQL.  Servers sharing a
        PostgreSQL database must all be given the same one."""
        from .store.sealing import KEY_FILE

        if self.key_file_path is not None:
            return self.key_file_path
        if self.postgres_dsn is not None:
            return self.data_dir / KEY_FILE
        return self.database_path.parent / KEY_FILE

    def metrics_token(self) -> str | None:
        """The bearer token for /metrics (the file's first line), if one is set."""
        if self.metrics_token_path is None:
            return None
        token = self.metrics_token_path.read_text().strip().splitlines()
        if not token or len(token[0]) < 16:
            raise ValueError(f"metrics token file {self.metrics_token_path} needs a token of 16 characters or more")
        return token[0]

    @property
    def database_label(self) -> str:
        """Where state is kept, for logs (no password)."""
        dsn = self.postgres_dsn
        if dsn is None:
            return str(self.database_path)
        scheme, _, rest = dsn.partition("://")
        credentials, at, place = rest.rpartition("@")
        return f"{scheme}://{credentials.split(':', 1)[0]}{at}{place}"

    @property
    def loopback_only(self) -> bool:
        """Whether the listen address keeps the server reachable from this host only."""
        from .protocol.auth import is_loopback_listen_address

        return is_loopback_listen_address(self.host)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"
