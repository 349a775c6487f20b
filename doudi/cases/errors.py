"""Errors of case work, each with a stable code and a Chinese message for the user."""

from __future__ import annotations

from doudi.errors import UserFacingError


class CaseError(UserFacingError):
    """A case-work request that cannot be carried out as asked (bad input or wrong state)."""


class Conflict(CaseError):
    """Someone else changed the case since it was read (optimistic locking)."""

    def __init__(self, case_type: str, case_id: int, expected: int) -> None:
        super().__init__(
            "conflict",
            f"{case_type} {case_id} was changed by someone else (expected version {expected})",
            "该记录已被他人修改，您的操作未保存。请刷新后查看最新内容再操作。",
        )


class InvalidState(CaseError):
    """The act does not fit the case's current state."""

    def __init__(self, what: str, status: str, message_zh: str) -> None:
        super().__init__("invalid_state", f"cannot {what} in status {status}", message_zh)
