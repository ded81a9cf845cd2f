"""Where the developer links point: the seed's defaults, overridable by environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DOCS_URL = "https://docs.turrisfi.com"
DEFAULT_POSTMAN_URL = "https://www.postman.com/turrisfi/workspace/turris-public-api"


@dataclass(frozen=True)
class Links:
    """The View Docs and Run in Postman destinations."""

    docs: str
    postman: str

    @classmethod
    def from_env(cls) -> Links:
        return cls(
            docs=os.environ.get("TURRIS_DOCS_URL", "").strip() or DEFAULT_DOCS_URL,
            postman=os.environ.get("TURRIS_POSTMAN_URL", "").strip() or DEFAULT_POSTMAN_URL,
        )
