"""The REST API (``/api/v1``): what every API module shares, and ``GET /api/v1/me``.

Every API route authenticates with a bearer token (:mod:`doudi.web.tokens`) and answers errors
in one shape, ``{"code", "message", "details"}`` (the app's handlers turn every
:class:`~doudi.errors.UserFacingError`, validation error, unknown path and wrong method under
``/api/`` into it). The OpenAPI document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from doudi.auth.roles import ROLES
from doudi.web.tokens import Principal, api_principal

PREFIX = "/api/v1"
MAX_INT = 2_147_483_647
"""Largest id of an INTEGER key (larger path ids are a 400, not a database error)."""
MAX_BIGINT = 9_223_372_036_854_775_807
MAX_PAGE = 1_000_000


def _zoned(value: dt.datetime) -> dt.datetime:
    return value.astimezone() if value.tzinfo is None else value


Timestamp = Annotated[dt.datetime, AfterValidator(_zoned)]
"""A moment as the API gives it: RFC 3339 with the offset. The database holds the server's local
time without a zone; the API says which zone that is."""


class ApiOut(BaseModel):
    """An answer read from a service's dataclass (its attributes become the fields)."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every error of the API."""

    code: str = Field(description="稳定的错误代码（英文），如 not_found、forbidden、invalid_request")
    message: str = Field(description="一句中文说明")
    details: list[str] = Field(description="补充说明（中文），可为空")


ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "请求被拒绝：{code, message, details}"},
}
"""The ``responses`` of every API route: any 4xx answer has the error shape. (Declaring it also
keeps FastAPI from documenting a 422 the app never sends: validation errors are 400.)"""


def error_response(status: int, code: str, message: str, details: list[str] | None = None) -> JSONResponse:
    """An error answered directly by a route (same shape as the app's handlers)."""
    return JSONResponse({"code": code, "message": message, "details": details or []}, status_code=status)


class MeOut(BaseModel):
    """The calling token."""

    id: int
    name: str
    feed_kinds: list[str] = Field(description="可报送的数据类别（部门令牌）")
    username: str | None = Field(description="绑定的用户（用户令牌），查询范围同该用户")
    role: str | None = None
    role_label: str | None = None
    division_code: str | None = None


api = APIRouter(prefix=PREFIX, tags=["令牌"], responses=ERRORS)


@api.get("/me", response_model=MeOut, summary="当前令牌")
def me(principal: Principal = Depends(api_principal)) -> MeOut:
    """The token's name, the feed kinds it may push and the account it reads as."""
    token, actor = principal.token, principal.actor
    return MeOut(
        id=token.id,
        name=token.name,
        feed_kinds=list(token.feed_kinds),
        username=token.username,
        role=actor.role if actor else None,
        role_label=ROLES[actor.role].label if actor else None,
        division_code=actor.division_code if actor else None,
    )
