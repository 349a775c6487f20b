"""Form parsing and answers shared by the case-work pages (申请, 发放, 救助对象, 复核).

Form fields arrive as text; these helpers turn them into the values the services take and
give a Chinese message (a :class:`~doudi.cases.errors.CaseError`, shown by the app's error
handler) when a field is malformed. After a change the pages redirect (303) to the object's
page with ``?ok=<code>`` so that a reload does not post again; :data:`DONE` is what the page
then says.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from doudi.auth import Actor, can
from doudi.cases.errors import CaseError

# ?ok=<code> → the message shown on the page after a change.
DONE: dict[str, str] = {
    "submitted": "申请已受理。",
    "checked": "家庭经济状况核对已完成，核对报告见下方。",
    "assessed": "初审建议已生成。",
    "reviewed": "审核意见已保存。",
    "objection": "公示异议已登记。",
    "resolved": "公示异议已处理。",
    "decided": "审核确认决定已保存。",
    "extended": "办理时限已延长。",
    "paid_first": "已先行救助，请在期限内补齐手续。",
    "paperwork": "手续已补齐，申请已办结。",
    "generated": "发放名册已生成。",
    "roll_checked": "发放名册核查完成。",
    "line": "问题行已处理。",
    "confirmed": "发放名册已确认并冻结。",
    "changed": "待遇变更已保存。",
    "review": "定期复核已登记。",
}

# Permissions the case-work templates ask about (forms are shown only to roles holding them;
# the services check them again).
PERMISSIONS = (
    "application.submit",
    "application.investigate",
    "application.review",
    "application.notice",
    "application.decide",
    "recipient.change",
    "review.record",
    "roll.generate",
    "roll.confirm",
    "roll.export",
)


def may(actor: Actor) -> dict[str, bool]:
    """``may["application.review"]`` etc. for the templates."""
    return {p: can(actor.role, p) for p in PERMISSIONS}


def done(url: str, ok: str) -> RedirectResponse:
    """Back to the object's page after a change (post/redirect/get)."""
    return RedirectResponse(f"{url}?ok={ok}", status_code=303)


def at_own_url(request: Request, response: Response) -> Response:
    """An object's page tells HTMX its address: the forms posting to a step do not push
    their action into the history (an error leaves the address alone), and after the
    redirect the address bar shows the object's page (without ``?ok=``)."""
    if request.headers.get("hx-request") == "true":
        response.headers["HX-Replace-Url"] = request.url.path
    return response


def ok_message(request: Request) -> str | None:
    return DONE.get(request.query_params.get("ok", ""))


def _bad(code: str, message: str, message_zh: str) -> CaseError:
    return CaseError(code, message, message_zh)


def text_or_none(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    return cleaned or None


def version(value: str | None) -> int | None:
    """The ``expected_version`` hidden field: the version the user saw (None: not given)."""
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    if not cleaned.isdigit():
        raise _bad("bad_version", f"bad expected version {value!r}", "页面数据有误（版本号），请刷新后重试。")
    return int(cleaned)


def money(value: str | None, what: str) -> Decimal | None:
    """A yuan amount (``560`` or ``560.50``), or None when left empty.

    >>> money(" 560.5 ", "金额")
    Decimal('560.50')
    >>> money("", "金额") is None
    True
    """
    cleaned = (value or "").strip().replace(",", "").replace("，", "")
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise _bad(
            "bad_amount",
            f"bad amount {value!r}",
            f"{what}“{value}”格式不对，应为不小于0的数字，如 560 或 560.50。",
        )
    return amount.quantize(Decimal("0.01"))


def whole(value: str | None, what: str) -> int | None:
    """A whole number such as a count of months or members, or None when left empty."""
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    if not cleaned.isdigit():
        raise _bad("bad_number", f"bad number {value!r}", f"{what}“{value}”应为整数，如 3。")
    return int(cleaned)


def day(value: str | None, what: str) -> dt.date | None:
    """A date ``YYYY-MM-DD`` (the browser's date field), or None when left empty.

    >>> day("2026-12-04", "核查日期"), day(" ", "核查日期")
    (datetime.date(2026, 12, 4), None)
    """
    cleaned = (value or "").strip()
    if not cleaned:
        return None
    try:
        return dt.date.fromisoformat(cleaned)
    except ValueError:
        raise _bad(
            "bad_date", f"bad date {value!r}", f"{what}“{value}”格式不对，应为 年-月-日，如 2026-12-01。"
        ) from None


def month(value: str | None) -> str | None:
    """A month ``YYYY-MM`` (the browser's month field); the services check it."""
    return text_or_none(value)


def page_number(value: int | None) -> int:
    return max(value or 1, 1)
