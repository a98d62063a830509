"""What differs between the SQL of the two backends, for the repositories
written once for both (store/sql/): the parameter marker and a few functions.

A repository writes its statements with `?` markers and passes them through
`Dialect.sql`, which gives PostgreSQL its `%s`; the few functions that are
spelt differently are fields it formats in.  Only what those repositories use
is here; a new difference is a new field, not an `if`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    marker: str  # the parameter marker
    least: str  # the two-argument minimum / maximum of a row's values
    greatest: str
    contains: str  # SQL true when {0} contains {1} (both text), case-insensitive
    octets: str  # the length in bytes of a text value {0}

    @functools.lru_cache(maxsize=256)  # noqa: B019 (two dialects, living as long as the process)
    def sql(self, text: str) -> str:
        """SQLite's SQL in this dialect (the statements come from the code, never a request)."""
        return text if self.marker == "?" else text.replace("?", self.marker)


SQLITE = Dialect("sqlite", "?", "MIN", "MAX", "instr(lower({0}), lower({1})) > 0", "length(CAST({0} AS BLOB))")
# The PostgreSQL store's connection takes `?` markers itself (store/postgres/database.py `pyformat`,
# shared with the ECS repositories of store/sql/), so no marker is rewritten here.
POSTGRES = Dialect("postgres", "?", "LEAST", "GREATEST", "strpos(lower({0}), lower({1})) > 0", "octet_length({0})")
