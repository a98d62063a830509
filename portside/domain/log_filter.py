"""CloudWatch Logs filter patterns, compiled to a predicate over one message.

Pure: no I/O, no AWS types.  Supported here, as the CloudWatch Logs "Filter
pattern syntax" page describes them:

- the empty pattern (every event) and `""`;
- terms: `ERROR`, several terms (all must occur: `ERROR Exception`), quoted
  phrases (`"Out of memory"`), `?term` (at least one of the `?` terms must
  occur), `-term` (must not occur), `%regex%` (a regular expression search);
  matching is case-sensitive;
- JSON patterns: `{ $.level = "error" }`, `!=`, `<`, `<=`, `>`, `>=` on numbers,
  `*` wildcards in string values, `IS TRUE`, `IS FALSE`, `IS NULL`,
  `NOT EXISTS`, `&&`, `||` and parentheses, selectors `$.a.b` and `$.a[0]`.

Space-delimited patterns (`[ip, user, ...]`) are refused with `FilterPatternError`
naming them, as is anything that does not parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Predicate = Callable[[str], bool]

MAX_REGEX_TERMS = 2  # CloudWatch Logs allows two regular expressions per pattern


class FilterPatternError(ValueError):
    """The pattern cannot be used; the message says why, for the user."""


def compile_pattern(pattern: str | None) -> Predicate:
    text = (pattern or "").strip()
    if not text or text == '""':
        return _everything
    if text.startswith("{"):
        return _JsonParser(text).parse()
    if text.startswith("["):
        raise FilterPatternError(
            "Space-delimited filter patterns ([w1, w2, ...]) are not supported by Portside; "
            "use terms or a JSON pattern."
        )
    return _terms(text)


def _everything(_message: str) -> bool:
    return True


# -- terms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    kind: str  # "all", "any", "none"
    match: Predicate


def _terms(text: str) -> Predicate:
    terms: list[_Term] = []
    regexes = 0
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        kind = "all"
        if text[i] in "?-" and i + 1 < n and not text[i + 1].isspace():
            kind = "any" if text[i] == "?" else "none"
            i += 1
        if text[i] == '"':
            literal, i = _quoted(text, i)
            terms.append(_Term(kind, _contains(literal)))
        elif text[i] == "%":
            end = text.find("%", i + 1)
            if end < 0:
                raise FilterPatternError("Invalid filter pattern: a regular expression term has no closing %.")
            regexes += 1
            if regexes > MAX_REGEX_TERMS:
                raise FilterPatternError("A filter pattern can contain at most 2 regular expressions.")
            try:
                regex = re.compile(text[i + 1 : end])
            except re.error as exc:
                raise FilterPatternError(f"Invalid regular expression in filter pattern: {exc}") from exc
            terms.append(_Term(kind, _searches(regex)))
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace():
                if text[i] == '"':
                    raise FilterPatternError("Invalid filter pattern: a quote inside an unquoted term.")
                i += 1
            terms.append(_Term(kind, _contains(text[start:i])))
    required = [t.match for t in terms if t.kind == "all"]
    optional = [t.match for t in terms if t.kind == "any"]
    excluded = [t.match for t in terms if t.kind == "none"]

    def predicate(message: str) -> bool:
        return (
            all(m(message) for m in required)
            and (not optional or any(m(message) for m in optional))
            and not any(m(message) for m in excluded)
        )

    return predicate


def _searches(regex: re.Pattern[str]) -> Predicate:
    return lambda message: regex.search(message) is not None


def _contains(literal: str) -> Predicate:
    return lambda message: literal in message


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The string starting at the quote at `i` (backslash escapes) and the index after it."""
    out = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise FilterPatternError("Invalid filter pattern: unterminated quoted string.")


# -- JSON patterns -------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
    | (?P<selector>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])*)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9_*.]))
    | (?P<word>[^\s()&|=!<>{}"]+)
    )""",
    re.VERBOSE,
)
_MISSING = object()


class _JsonParser:
    def __init__(self, text: str) -> None:
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, i = [], 0
        while i < len(text):
            if text[i:].strip() == "":
                break
            m = _TOKEN.match(text, i)
            if not m or m.end() == i:
                raise FilterPatternError(f"Invalid filter pattern near: {text[i:i + 20]!r}")
            kind = m.lastgroup or ""
            tokens.append((kind, m.group(kind)))
            i = m.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, kind: str | None = None, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (kind and token[0] != kind) or (value and token[1].upper() != value):
            expected = f": expected {value or kind}" if kind or value else ""
            raise FilterPatternError("Invalid JSON filter pattern" + expected)
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        self._take("op", "{")
        node = self._or()
        self._take("op", "}")
        if self._peek() is not None:
            raise FilterPatternError("Invalid JSON filter pattern: text after the closing }.")

        def predicate(message: str) -> bool:
            try:
                doc = json.loads(message)
            except ValueError:
                return False
            return node(doc)

        return predicate

    def _or(self) -> Callable[[Any], bool]:
        parts = [self._and()]
        while self._peek() == ("op", "||"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def _and(self) -> Callable[[Any], bool]:
        parts = [self._atom()]
        while self._peek() == ("op", "&&"):
            self.pos += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def _atom(self) -> Callable[[Any], bool]:
        if self._peek() == ("op", "("):
            self.pos += 1
            node = self._or()
            self._take("op", ")")
            return node
        _, selector = self._take("selector")
        path = _selector_path(selector)
        token = self._take()
        if token[0] == "word" and token[1].upper() == "IS":
            _, what = self._take("word")
            want = what.upper()
            if want == "TRUE":
                return lambda d: _select(d, path) is True
            if want == "FALSE":
                return lambda d: _select(d, path) is False
            if want == "NULL":
                return lambda d: _select(d, path) is None
            raise FilterPatternError("Invalid JSON filter pattern: IS must be followed by TRUE, FALSE or NULL.")
        if token[0] == "word" and token[1].upper() == "NOT":
            self._take("word", "EXISTS")
            return lambda d: _select(d, path) is _MISSING
        if token[0] != "op" or token[1] not in ("=", "!=", "<", "<=", ">", ">="):
            raise FilterPatternError("Invalid JSON filter pattern: expected a comparison after the selector.")
        return _comparison(path, token[1], self._take())


def _selector_path(selector: str) -> list[str | int]:
    path: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z0-9_@\-]+)|\[(\d+)\]", selector[1:]):
        path.append(int(index) if index else name)
    return path


def _select(doc: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return _MISSING
            doc = doc[step]
        else:
            if not isinstance(doc, dict) or step not in doc:
                return _MISSING
            doc = doc[step]
    return doc


def _comparison(path: list[str | int], op: str, operand: tuple[str, str]) -> Callable[[Any], bool]:
    kind, raw = operand
    if kind == "number":
        number = float(raw)
        compare = {
            "=": lambda v: v == number, "!=": lambda v: v != number, "<": lambda v: v < number,
            "<=": lambda v: v <= number, ">": lambda v: v > number, ">=": lambda v: v >= number,
        }[op]

        def numeric(doc: Any) -> bool:
            value = _select(doc, path)
            return isinstance(value, (int, float)) and not isinstance(value, bool) and compare(value)

        return numeric
    if op not in ("=", "!="):
        raise FilterPatternError(f"Invalid JSON filter pattern: {op} needs a number.")
    if kind == "string":
        text = json.loads(raw)
    elif kind == "word":
        text = raw
    else:
        raise FilterPatternError("Invalid JSON filter pattern: expected a value after the comparison.")
    regex = re.compile(".*".join(map(re.escape, text.split("*"))) + r"\Z", re.DOTALL) if "*" in text else None

    def equal(s: str) -> bool:
        return regex.match(s) is not None if regex is not None else s == text

    def textual(doc: Any) -> bool:
        value = _select(doc, path)
        if value is _MISSING or isinstance(value, (dict, list)) or value is None:
            return False
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, str):
            value = json.dumps(value)
        return equal(value) if op == "=" else not equal(value)

    return textual
