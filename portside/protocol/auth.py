"""Who is asking: AWS Signature Version 4 on every request.

Two modes.  With a credentials file (`--credentials FILE`, the AWS
shared-credentials INI format, one section per key with a `role`), every
request must carry a valid SigV4 signature of a known key for this server's
region and the service the request's `X-Amz-Target` addresses (`ecs`, `logs`,
`secretsmanager`, `ssm`), made less than 15 minutes away from the server's
clock; the signature is recomputed with botocore's own `SigV4Auth` over the
received method, path, query, the headers the client listed in SignedHeaders
and the body, and compared in constant time.  Without one (loopback only), any
well-formed signature is accepted: the secret is unknown, so only the shape of
the Authorization header is checked; that still keeps browsers out, since a
page cannot send an Authorization header cross-origin without a CORS preflight
that Portside never grants.

Refusals are AWS's own error codes and messages, and never reveal the
canonical request or string to sign the server expected.

Roles: an `admin` key may call everything; an `agent` key only what a
container agent calls (`AGENT_TARGETS`).
"""

from __future__ import annotations

import configparser
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from .errors import AccessDeniedException, ECSError
from .model import service_for_target

SERVICE = "ecs"  # the credential scope's service when the target names no other
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60
ROLES = ("admin", "agent")
ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
AGENT_TARGETS = frozenset(
    [
        ECS_PREFIX + name
        for name in (
            "RegisterContainerInstance",
            "ListContainerInstances",  # finding its own registration whose answer was lost (agent.register)
            "DiscoverPollEndpoint",
            "SubmitTaskStateChange",
            "SubmitContainerStateChange",
            "SubmitAttachmentStateChanges",
        )
    ]
    + ["PortsideAgentV1.Poll", "PortsideAgentV1.ReportAttachment", "PortsideAgentV1.SubmitHealth",
       "PortsideAgentV1.ExecChannel"]
    # what an ECS agent's task execution role lets it do for the tasks it runs:
    # ship container output (awslogs) and resolve secrets and registry credentials
    + [
        "Logs_20140328." + name
        for name in ("CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams", "DescribeLogGroups")
    ]
    + ["secretsmanager.GetSecretValue", "AmazonSSM.GetParameters", "AmazonSSM.GetParameter"]
)

_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_ACCESS_KEY = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,128}$")
_SCOPE_DATE = re.compile(r"^\d{8}$")


# -- the errors AWS answers with ---------------------------------------------------


class MissingAuthenticationTokenException(ECSError):
    status = 403

    def __init__(self, message: str = "Missing Authentication Token") -> None:
        super().__init__(message)


class IncompleteSignatureException(ECSError):
    pass


class UnrecognizedClientException(ECSError):
    def __init__(self, message: str = "The security token included in the request is invalid.") -> None:
        super().__init__(message)


class InvalidSignatureException(ECSError):
    pass


SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


# -- keys ---------------------------------------------------------------------------


class CredentialsFileError(Exception):
    """The credentials file cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Key:
    name: str  # the INI section: who holds the key
    access_key_id: str
    secret: str
    role: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Key(name={self.name!r}, access_key_id={self.access_key_id!r}, role={self.role!r})"


@dataclass(frozen=True)
class TaskRoleKey:
    """A task role's keys (a section with `role_arn = arn:aws:iam::ACCOUNT:role/NAME`):
    handed to the agent with the tasks that name the role, served to their
    containers by the agent's credentials endpoint, and never able to call
    this API (they are not API keys)."""

    section: str
    role_arn: str
    access_key_id: str
    secret: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"TaskRoleKey(role_arn={self.role_arn!r}, access_key_id={self.access_key_id!r})"


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$")


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0no-defaults")
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as exc:
        raise CredentialsFileError(f"cannot read credentials file {path}: {exc.strerror or exc}") from exc
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CredentialsFileError(f"credentials file {path} is not a valid INI file: {first}") from exc
    return parser


def load_credentials(path: Path) -> dict[str, Key]:
    """API keys by access key id, from an AWS shared-credentials style INI
    file (task role sections, with `role_arn`, are `load_task_roles`')."""
    keys, _roles = _load(path)
    return keys


def load_task_roles(path: Path) -> dict[str, TaskRoleKey]:
    """Task roles' keys by role ARN, from the same file."""
    _keys, roles = _load(path)
    return roles


def _load(path: Path) -> tuple[dict[str, Key], dict[str, TaskRoleKey]]:
    parser = _read_ini(path)
    keys: dict[str, Key] = {}
    roles: dict[str, TaskRoleKey] = {}
    seen: dict[str, str] = {}  # access key id → section
    for section in parser.sections():
        values = parser[section]
        key_id = (values.get("aws_access_key_id") or "").strip()
        secret = (values.get("aws_secret_access_key") or "").strip()
        role = (values.get("role") or "").strip().lower()
        role_arn = (values.get("role_arn") or "").strip()
        where = f"credentials file {path}, section [{section}]"
        if not key_id or not secret:
            raise CredentialsFileError(f"{where}: needs aws_access_key_id and aws_secret_access_key")
        if not _ACCESS_KEY.match(key_id):
            raise CredentialsFileError(f"{where}: aws_access_key_id has characters an access key cannot have")
        if key_id in seen:
            raise CredentialsFileError(f"{where}: access key {key_id} is already given in [{seen[key_id]}]")
        seen[key_id] = section
        if role_arn:
            if role:
                raise CredentialsFileError(f"{where}: a task role's keys (role_arn) cannot also have role = "
                                           f"{role}: they are never API keys")
            if not _ROLE_ARN.match(role_arn):
                raise CredentialsFileError(f"{where}: role_arn must be an IAM role ARN "
                                           "(arn:aws:iam::ACCOUNT:role/NAME)")
            if role_arn in roles:
                raise CredentialsFileError(f"{where}: role {role_arn} is already given in "
                                           f"[{roles[role_arn].section}]")
            roles[role_arn] = TaskRoleKey(section, role_arn, key_id, secret)
            continue
        if role not in ROLES:
            raise CredentialsFileError(f"{where}: needs role = admin or role = agent (or role_arn = "
                                       "a task role's ARN)")
        keys[key_id] = Key(section, key_id, secret, role)
    if not keys:
        raise CredentialsFileError(f"credentials file {path} defines no keys")
    return keys, roles


def first_key(keys: Mapping[str, Key], *roles: str) -> Key | None:
    """The first key (file order) with one of `roles`, tried in that order."""
    for role in roles:
        for key in keys.values():
            if key.role == role:
                return key
    return None


# -- who is asking -------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    name: str
    role: str  # "admin" or "agent"

    def may_call(self, target: str) -> bool:
        return self.role == "admin" or target in AGENT_TARGETS


ANONYMOUS_ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@dataclass
class Pending:
    """A request whose headers passed; the signature waits for the body."""

    caller: Caller
    key: Key | None  # None: open mode, nothing to verify
    authorization: _Authorization | None
    amz_date: str
    method: str
    raw_path: str
    query: str
    headers: list[tuple[str, str]]


class Authenticator:
    """Checks requests in two steps: `check_headers` (before the body is read,
    so an unsigned request costs no body) and `verify` (with the body)."""

    def __init__(self, keys: Mapping[str, Key] | None, region: str, account_id: str = "123456789012",
                 max_skew_s: float = MAX_SKEW_S) -> None:
        self.keys = dict(keys) if keys is not None else None
        self.region = region
        self.account_id = account_id
        self.max_skew_s = max_skew_s

    @property
    def open(self) -> bool:
        return self.keys is None

    def check_headers(self, method: str, raw_path: str, query: str,
                      headers: Iterable[tuple[str, str]], now: float) -> Pending:
        """Everything that can be checked without the body; raises the AWS error."""
        headers, values = _by_name(headers)
        found = values.get("authorization")
        if not found:
            raise MissingAuthenticationTokenException()
        if len(found) > 1:
            raise IncompleteSignatureException("The request carries more than one Authorization header.")
        authorization = _parse_authorization(found[0])
        amz_dates = values.get("x-amz-date")
        if not amz_dates:
            raise IncompleteSignatureException(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            )
        amz_date = amz_dates[0].strip()
        if len(amz_dates) > 1 or not _AMZ_DATE.match(amz_date) or _parse_amz_date(amz_date) is None:
            raise IncompleteSignatureException("X-Amz-Date must be in the ISO8601 Long Format (yyyyMMdd'T'HHmmss'Z').")
        for required in ("host", "x-amz-date"):
            if required not in authorization.signed_headers:
                raise IncompleteSignatureException(
                    f"'{required.title()}' must be a 'SignedHeader' in the AWS Authorization."
                )
        for name in authorization.signed_headers:
            if name not in values:
                raise IncompleteSignatureException(f"The signed header '{name}' is not in the request.")
        if "x-amz-target" in values and "x-amz-target" not in authorization.signed_headers:
            raise IncompleteSignatureException("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
        if self.keys is None:
            _require_loopback_host(values["host"][0])
            caller = _caller(authorization.access_key_id, authorization.access_key_id, ANONYMOUS_ADMIN_ROLE)
            return Pending(caller, None, authorization, amz_date, method, raw_path, query, headers)
        key = self.keys.get(authorization.access_key_id)
        if key is None:
            raise UnrecognizedClientException()
        if authorization.date != amz_date[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{authorization.date}' != '{amz_date[:8]}', from 'X-Amz-Date'."
            )
        if authorization.region != self.region:
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{authorization.region}'."
            )
        target = values.get("x-amz-target")
        expected = _signing_name(target[0] if target else None)
        if authorization.service != expected:
            raise InvalidSignatureException(f"Credential should be scoped to correct service: '{expected}'.")
        self._check_skew(amz_date, now)
        caller = _caller(key.access_key_id, key.name, key.role)
        return Pending(caller, key, authorization, amz_date, method, raw_path, query, headers)

    def _check_skew(self, amz_date: str, now: float) -> None:
        signed_at = _parse_amz_date(amz_date)
        assert signed_at is not None  # checked by the caller
        skew = self.max_skew_s
        minutes = f"{skew / 60:g} min."
        if signed_at < now - skew:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than {_format(now - skew)} "
                f"({_format(now)} - {minutes})"
            )
        if signed_at > now + skew:
            raise InvalidSignatureException(
                f"Signature not yet current: {amz_date} is still later than {_format(now + skew)} "
                f"({_format(now)} + {minutes})"
            )

    def verify(self, pending: Pending, body: bytes) -> Caller:
        """The signature over the whole request, body included (credentials mode)."""
        if pending.key is None or pending.authorization is None:
            return pending.caller
        expected = _expected_signature(pending, body)
        if not hmac.compare_digest(expected.encode(), pending.authorization.signature.encode()):
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        return pending.caller

    def authorize(self, caller: Caller, target: str) -> None:
        if caller.may_call(target):
            return
        action = f"{_signing_name(target)}:" + (target.rpartition(".")[2] or "Unknown")
        raise AccessDeniedException(
            f"User: arn:aws:iam::{self.account_id}:user/{caller.name} is not authorized to perform: "
            f"{action} on resource: * because no identity-based policy allows the {action} action"
        )


# -- SigV4, recomputed with botocore ------------------------------------------------


class _Recompute(SigV4Auth):
    """botocore's SigV4 with the request's own list of signed headers (botocore
    would pick its own) and a cached signing key."""

    def __init__(self, key: Key, service: str, region: str, signed: list[tuple[str, str]], signing_key: bytes) -> None:
        super().__init__(Credentials(key.access_key_id, key.secret), service, region)
        self._signed = signed
        self._signing_key = signing_key

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name, value in self._signed:
            header_map[name] = value
        return header_map

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        return hmac.new(self._signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    return sign(sign(sign(sign(("AWS4" + secret).encode("utf-8"), date), region), service), "aws4_request")


def _expected_signature(pending: Pending, body: bytes) -> str:
    auth = pending.authorization
    key = pending.key
    assert auth is not None and key is not None
    wanted = set(auth.signed_headers)
    signed = [(name, value) for name, value in pending.headers if name in wanted]
    url = "http://portside" + (pending.raw_path or "/") + (f"?{pending.query}" if pending.query else "")
    # No headers on the request object: botocore would otherwise take a client's
    # X-Amz-Content-SHA256 on trust instead of hashing the body it got.
    request = AWSRequest(method=pending.method, url=url, data=body)
    request.context["timestamp"] = pending.amz_date
    signing_key = _signing_key(key.secret, auth.date, auth.region, auth.service)
    signer = _Recompute(key, auth.service, auth.region, signed, signing_key)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


T = TypeVar("T")

# -- parsing -------------------------------------------------------------------------


# The pieces of a request that repeat from one request to the next (a client's
# Credential and SignedHeaders, the second its X-Amz-Date names, its Host) are
# parsed once and remembered; a Caller is immutable, so one serves every request
# of a key.  The caches are bounded in entries, and only short arguments (all
# a real client sends) are remembered: a long one is parsed each time, so a
# flood of distinct or huge values can neither pin memory nor evict the common
# ones.  A value that raises is never remembered (lru_cache keeps no errors).


def _memo(max_chars: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        cached = functools.lru_cache(maxsize=256)(fn)

        @functools.wraps(fn)
        def call(*args: str | None) -> T:
            if sum(len(a) for a in args if a is not None) > max_chars:
                return fn(*args)
            return cached(*args)

        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        return call

    return wrap


@_memo(512)
def _signing_name(target: str | None) -> str:
    """The service a request's credential scope must name: the one its target
    addresses (`ecs` for the agent channel and for targets nobody serves)."""
    service = service_for_target(target)
    return service.signing_name if service is not None else SERVICE


@_memo(512)
def _caller(access_key_id: str, name: str, role: str) -> Caller:
    return Caller(access_key_id, name, role)


def _by_name(headers: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """The headers with lowercase names, and their values by name."""
    lowered: list[tuple[str, str]] = []
    values: dict[str, list[str]] = {}
    for name, value in headers:
        name = name.lower()
        lowered.append((name, value))
        found = values.get(name)
        if found is None:
            values[name] = [value]
        else:
            found.append(value)
    return lowered, values


def _parse_authorization(header: str) -> _Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Authorization header requires the {ALGORITHM} algorithm (Signature Version 4)."
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, value = item.strip().partition("=")
        if eq and name:
            parts[name] = value.strip()
    missing = [p for p in ("Credential", "SignedHeaders", "Signature") if not parts.get(p)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{p}' parameter." for p in missing)
        )
    access_key_id, date, region, service = _credential_scope(parts["Credential"])
    signed_headers = _signed_header_names(parts["SignedHeaders"])
    if not _SIGNATURE.match(parts["Signature"]):
        raise IncompleteSignatureException("Signature must be 64 lowercase hexadecimal characters.")
    return _Authorization(access_key_id, date, region, service, signed_headers, parts["Signature"])


@_memo(256)
def _credential_scope(credential: str) -> tuple[str, str, str, str]:
    """keyid, date, region, service of a Credential; raises as AWS does."""
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope[:4]):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term."
        )
    access_key_id, date, region, service, _ = scope
    if not _SCOPE_DATE.match(date):
        raise IncompleteSignatureException("The Credential's date must be in the yyyyMMdd format.")
    return access_key_id, date, region, service


@_memo(1024)
def _signed_header_names(text: str) -> tuple[str, ...]:
    signed_headers = tuple(text.split(";"))
    if not all(_HEADER_NAME.match(h) for h in signed_headers):
        raise IncompleteSignatureException("SignedHeaders must be lowercase header names separated by ';'.")
    return signed_headers


@_memo(32)
def _parse_amz_date(value: str) -> float | None:
    try:
        return dt.datetime.strptime(value, _TIMESTAMP).replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def _format(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(_TIMESTAMP)


def _require_loopback_host(host: str) -> None:
    """Open mode answers requests addressed to this machine's loopback only: a
    web page that rebinds its own DNS name to 127.0.0.1 still says its name."""
    if not _is_loopback_host(host):
        raise AccessDeniedException(
            "Without --credentials Portside only answers requests addressed to a loopback host."
        )


@_memo(300)
def _is_loopback_host(host: str) -> bool:
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_listen_address(host: str) -> bool:
    """Whether listening on `host` keeps the server reachable from this machine only."""
    name = host.strip().lower().strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_host(host_header: str) -> bool:
    """Whether a request's Host header names this machine's loopback (the same
    check open mode applies to API calls, for the console and /metrics)."""
    return _is_loopback_host(host_header)
