"""Names shared by every layer that handles ECS documents.

A resource's ECS-shaped document is a JSON object; `Doc` is its type, defined
here once.  What Portside keeps of its own beside a document (the service
scheduler's memory, an instance's agent mode) is a typed record of its own
(see `domain.service.SchedulerState`, `domain.instance`), never a `_` key
inside the wire document.
"""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]
