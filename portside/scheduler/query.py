"""The ECS cluster query language: parse once, evaluate against instances.

    subject operator [argument]            e.g.  attribute:ecs.instance-type =~ t2.*
    expr and|&& expr,  expr or||| expr,  not|! expr,  ( expr )

Subjects: `attribute:NAME`, `agentConnected`, `agentVersion`, `ec2InstanceId`,
`registeredAt`, `runningTasksCount`, `task:group`.  Operators: `==` `equals`,
`!=` `not_equals`, `>` `greater_than`, `>=` `greater_than_equal`, `<`
`less_than`, `<=` `less_than_equal`, `exists`, `!exists` `not_exists`, `in`,
`!in` `not_in` (argument `[a, b, ...]`), `=~` `matches`, `!~` `not_matches`
(a regular expression matched against the whole value, in RE2's syntax:
matched in time linear in the value, so no pattern can stall the server;
backreferences and lookarounds are refused).  `and` binds tighter
than `or`.  Arguments are bare words or quoted ('...' or "...").

A subject an instance lacks (an attribute it does not carry, a task group no
task on it belongs to) makes every comparison false except `!exists`; the
negative operators (`!=`, `!in`, `!~`) need the subject to be there, as the
ECS guide's "instances with the attribute stack unless its value is prod"
example reads.  `task:group` is many-valued: the positive operators hold when
some task on the instance is in a matching group, the negative ones when the
instance runs tasks and none of their groups matches.

Anything malformed raises `QueryError` (the API answers
InvalidParameterException); evaluation never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import re2  # type: ignore[import-untyped]

MAX_LENGTH = 2000


class QueryError(ValueError):
    pass


class Subject(Protocol):
    """What an expression reads of one container instance."""

    def attribute(self, name: str) -> str | None: ...
    # agentConnected, agentVersion, ec2InstanceId, registeredAt, runningTasksCount
    def field(self, name: str) -> Any: ...
    def task_groups(self) -> Iterable[str]: ...


_OPERATORS = {
    "==": "==", "equals": "==",
    "!=": "!=", "not_equals": "!=",
    ">": ">", "greater_than": ">",
    ">=": ">=", "greater_than_equal": ">=",
    "<": "<", "less_than": "<",
    "<=": "<=", "less_than_equal": "<=",
    "exists": "exists",
    "!exists": "!exists", "not_exists": "!exists",
    "in": "in",
    "!in": "!in", "not_in": "!in",
    "=~": "=~", "matches": "=~",
    "!~": "!~", "not_matches": "!~",
}
_NO_ARGUMENT = {"exists", "!exists"}
_LIST_ARGUMENT = {"in", "!in"}
_ORDERED = {"==", "!=", ">", ">=", "<", "<="}
_MATCHING = {"==", "!=", "in", "!in", "=~", "!~"}
_FIELDS: dict[str, set[str]] = {  # the operators each built-in field takes (ECS guide)
    "agentConnected": _MATCHING,
    "ec2InstanceId": _MATCHING,
    "agentVersion": _ORDERED,
    "registeredAt": _ORDERED,
    "runningTasksCount": _ORDERED,
    "task:group": _MATCHING | {"exists", "!exists"},
}
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_./\\-]{1,128}$")


# -- the tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    subject: str  # "attribute:NAME" or a field name
    op: str  # canonical operator
    argument: Any  # str, list[str], compiled regex, parsed number/date, or None

    def groups_named(self) -> set[str] | None:
        """The literal task groups a task:group comparison can match (None: any)."""
        if self.subject != "task:group":
            return set()
        if self.op in ("==", "!="):
            return {self.argument}
        if self.op in ("in", "!in"):
            return set(self.argument)
        return None


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


Node = Compare | Not | And | Or


@dataclass(frozen=True)
class Expression:
    text: str
    root: Node

    def matches(self, subject: Subject) -> bool:
        return _evaluate(self.root, subject)

    def comparisons(self) -> list[Compare]:
        found: list[Compare] = []
        stack: list[Node] = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, Compare):
                found.append(node)
            elif isinstance(node, Not):
                stack.append(node.operand)
            else:
                stack.extend((node.left, node.right))
        return found

    def uses_task_groups(self) -> bool:
        return any(c.subject == "task:group" for c in self.comparisons())

    def uses_field(self, name: str) -> bool:
        return any(c.subject == name for c in self.comparisons())

    def task_groups_named(self) -> set[str] | None:
        """Every task group the expression's task:group comparisons can
        match, when they are all literal (None: a pattern needs them all)."""
        names: set[str] = set()
        for comparison in self.comparisons():
            named = comparison.groups_named()
            if named is None:
                return None
            names |= named
        return names


# -- parsing -------------------------------------------------------------------

_SPACE = re.compile(r"\s*")
_WORD = re.compile(r"(?:(?!&&|\|\|)[^\s()\[\],'\"])+")
_SUBJECT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?::[^\s()\[\],'\"=!<>~]+)?")
_SYMBOL_OPERATOR = re.compile(r"==|!=|>=|<=|=~|!~|>|<|!exists\b|!in\b")
_WORD_OPERATOR = re.compile(r"[a-z_]+\b")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> QueryError:
        near = self.text[self.pos : self.pos + 20]
        where = f" at position {self.pos}" + (f" near '{near}'" if near else " (end of expression)")
        return QueryError(f"Invalid expression: {what}{where}.")

    def skip(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def peek(self, *tokens: str) -> str | None:
        """The token (a keyword needs a boundary after it) at the cursor."""
        self.skip()
        for token in tokens:
            if self.text.startswith(token, self.pos):
                end = self.pos + len(token)
                if token[-1].isalpha() and end < len(self.text) and (
                    self.text[end].isalnum() or self.text[end] in "_:.-"
                ):
                    continue
                return token
        return None

    def take(self, *tokens: str) -> str | None:
        token = self.peek(*tokens)
        if token:
            self.pos += len(token)
        return token

    def parse(self) -> Node:
        node = self.disjunction()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("unexpected text")
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.take("||", "or"):
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.unary()
        while self.take("&&", "and"):
            node = And(node, self.unary())
        return node

    def unary(self) -> Node:
        self.skip()
        if self.text.startswith("!", self.pos) and not _SYMBOL_OPERATOR.match(self.text, self.pos):
            self.pos += 1
            return Not(self.unary())
        if self.take("not"):
            return Not(self.unary())
        if self.take("("):
            node = self.disjunction()
            if not self.take(")"):
                raise self.fail("missing ')'")
            return node
        return self.comparison()

    def comparison(self) -> Compare:
        self.skip()
        match = _SUBJECT.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a subject (attribute:NAME, ec2InstanceId, task:group, ...)")
        subject = match.group(0)
        if subject.startswith("attribute:"):
            if not _ATTRIBUTE_NAME.match(subject[len("attribute:") :]):
                raise self.fail(f"invalid attribute name in '{subject}'")
            allowed = set(_OPERATORS.values())
        elif subject in _FIELDS:
            allowed = _FIELDS[subject]
        else:
            raise self.fail(f"unknown subject '{subject}'")
        self.pos = match.end()
        op = self.operator()
        if op not in allowed:
            raise QueryError(f"Invalid expression: operator '{op}' is not valid for {subject}.")
        if op in _NO_ARGUMENT:
            return Compare(subject, op, None)
        if op in _LIST_ARGUMENT:
            values = self.argument_list()
            return Compare(subject, op, [_coerce(subject, op, v, self) for v in values])
        return Compare(subject, op, _coerce(subject, op, self.argument(), self))

    def operator(self) -> str:
        self.skip()
        match = _SYMBOL_OPERATOR.match(self.text, self.pos) or _WORD_OPERATOR.match(self.text, self.pos)
        if not match or match.group(0) not in _OPERATORS:
            raise self.fail("expected an operator")
        self.pos = match.end()
        return _OPERATORS[match.group(0)]

    def argument(self) -> str:
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            quote = self.text[self.pos]
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise self.fail("unterminated quoted argument")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        match = _WORD.match(self.text, self.pos)
        if not match:
            raise self.fail("expected an argument")
        value = match.group(0)
        if value in ("and", "or", "not", "&&", "||"):
            raise self.fail("expected an argument")
        self.pos = match.end()
        return value

    def argument_list(self) -> list[str]:
        if not self.take("["):
            raise self.fail("expected an argument list '[a, b, ...]'")
        values = [self.argument()]
        while self.take(","):
            values.append(self.argument())
        if not self.take("]"):
            raise self.fail("missing ']'")
        return values


def _coerce(subject: str, op: str, value: str, parser: _Parser) -> Any:
    """The argument in the form evaluation compares with."""
    if op in ("=~", "!~"):
        try:
            return re2.compile(value, _RE2_OPTIONS)
        except re2.error as exc:
            reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise QueryError(f"Invalid expression: bad pattern '{value}': {reason}.") from None
    if subject == "registeredAt":
        return _date(value)
    if subject == "runningTasksCount":
        try:
            return int(value)
        except ValueError:
            raise QueryError(f"Invalid expression: runningTasksCount needs an integer, not '{value}'.") from None
    if subject == "agentConnected" and value.lower() not in ("true", "false"):
        raise QueryError(f"Invalid expression: agentConnected is true or false, not '{value}'.")
    return value


# RE2 (Google's, through google-re2) runs in time linear in the value and
# memory bounded by max_mem, unlike Python's backtracking `re`: a 25-character
# pattern there froze the loop for a second, each more character doubled it.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is the caller's error, not a log line
_RE2_OPTIONS.max_mem = 1 << 20  # a pattern needing more is refused at compile


def _date(value: str) -> float:
    text = value.replace("Z", "+00:00")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise QueryError(
        f"Invalid expression: registeredAt needs a date like 2018-06-18T22:28:28Z or 2018-06-18, not '{value}'."
    )


_cache: dict[str, Expression] = {}


def parse(text: str) -> Expression:
    """The parsed expression (memoised: placement parses the same few often)."""
    found = _cache.get(text)
    if found is not None:
        return found
    if not isinstance(text, str) or not text.strip():
        raise QueryError("Invalid expression: the expression is empty.")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"Invalid expression: it can have at most {MAX_LENGTH} characters.")
    expression = Expression(text, _Parser(text).parse())
    if len(_cache) > 1000:
        _cache.clear()
    _cache[text] = expression
    return expression


# -- evaluation ----------------------------------------------------------------


def _evaluate(node: Node, subject: Subject) -> bool:
    if isinstance(node, Compare):
        return _compare(node, subject)
    if isinstance(node, Not):
        return not _evaluate(node.operand, subject)
    if isinstance(node, And):
        return _evaluate(node.left, subject) and _evaluate(node.right, subject)
    return _evaluate(node.left, subject) or _evaluate(node.right, subject)


def _compare(node: Compare, subject: Subject) -> bool:
    op, argument = node.op, node.argument
    if node.subject == "task:group":
        groups = list(subject.task_groups())
        if op == "exists":
            return bool(groups)
        if op == "!exists":
            return not groups
        if op in ("!=", "!in", "!~"):
            positive = {"!=": "==", "!in": "in", "!~": "=~"}[op]
            return bool(groups) and not any(_holds(positive, g, argument) for g in groups)
        return any(_holds(op, g, argument) for g in groups)
    if node.subject.startswith("attribute:"):
        value = subject.attribute(node.subject[len("attribute:") :])
    else:
        value = subject.field(node.subject)
        if isinstance(value, bool):
            value = "true" if value else "false"
            argument = argument.lower() if isinstance(argument, str) else [a.lower() for a in argument]
    if op == "exists":
        return value is not None
    if op == "!exists":
        return value is None
    if value is None:
        return False
    return _holds(op, value, argument)


def _holds(op: str, value: Any, argument: Any) -> bool:
    if op == "==":
        return _order(value, argument) == 0
    if op == "!=":
        return _order(value, argument) != 0
    if op == "in":
        return any(_order(value, a) == 0 for a in argument)
    if op == "!in":
        return all(_order(value, a) != 0 for a in argument)
    if op == "=~":
        return argument.fullmatch(str(value)) is not None
    if op == "!~":
        return argument.fullmatch(str(value)) is None
    order = _order(value, argument)
    if op == ">":
        return order > 0
    if op == ">=":
        return order >= 0
    if op == "<":
        return order < 0
    return order <= 0  # "<="


def _order(value: Any, argument: Any) -> int:
    """-1, 0, 1: numbers (and dates, counts) numerically, dotted versions part
    by part, anything else as strings."""
    if isinstance(value, (int, float)) and isinstance(argument, (int, float)):
        return (value > argument) - (value < argument)
    left, right = str(value), str(argument)
    if left == right:
        return 0
    a, b = _version(left), _version(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    return (left > right) - (left < right)


_VERSION = re.compile(r"^v?\d+(\.\d+)*$")


def _version(text: str) -> tuple[int, ...] | None:
    if not _VERSION.match(text):
        try:
            number = float(text)
        except ValueError:
            return None
        return (int(number),) if number.is_integer() else None
    return tuple(int(p) for p in text.lstrip("v").split("."))


def validate(text: str) -> Expression:
    """parse(), for callers that only want the error."""
    return parse(text)


Matcher = Callable[[Subject], bool]
