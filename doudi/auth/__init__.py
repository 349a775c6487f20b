"""Users, roles and division scopes: who may do what, and over which households."""

from doudi.auth.actor import Actor
from doudi.auth.roles import ROLES, can, require

__all__ = ["ROLES", "Actor", "can", "require"]
