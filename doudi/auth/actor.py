"""The acting user as the services see it: name, role and division scope."""

from __future__ import annotations

from dataclasses import dataclass

from doudi.auth.roles import ROLES


def scope_prefix(division_code: str) -> str:
    """The prefix every division code inside ``division_code`` starts with.

    >>> scope_prefix("520000"), scope_prefix("520100"), scope_prefix("520102")
    ('52', '5201', '520102')
    >>> scope_prefix("520102001"), scope_prefix("520102001001")
    ('520102001', '520102001001')
    """
    code = division_code.strip()
    if len(code) == 6:
        if code.endswith("0000"):
            return code[:2]
        if code.endswith("00"):
            return code[:4]
    return code


@dataclass(frozen=True)
class Actor:
    """Who is acting. ``division_code`` is the root of what they may see and touch."""

    username: str
    role: str
    division_code: str
    display_name: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")

    @property
    def prefix(self) -> str:
        return scope_prefix(self.division_code)

    @property
    def role_label(self) -> str:
        return ROLES[self.role].label

    def covers(self, division_code: str | None) -> bool:
        """Whether a division (village, township, county …) lies inside the actor's scope."""
        return division_code is not None and division_code.startswith(self.prefix)

    def like(self) -> str:
        """The ``LIKE`` pattern of the scope, for ``column LIKE :scope`` filters."""
        return self.prefix + "%"
