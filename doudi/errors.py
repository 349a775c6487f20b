"""Errors that reach the user: an English sentence for the log, a Chinese one for the user."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class UserFacingError(Exception):
    """``str()`` is an English sentence for logs (prefixed with the file name when there is
    one); ``message_zh`` one Chinese sentence for the user; ``code`` a stable machine code;
    ``details`` further lines for the user (Chinese)."""

    def __init__(
        self,
        code: str,
        message: str,
        message_zh: str,
        *,
        path: Path | None = None,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(f"{path.name}: {message}" if path is not None else message)
        self.code = code
        self.message_zh = message_zh
        self.path = path
        self.details = list(details)
