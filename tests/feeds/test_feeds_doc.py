"""docs/feeds.md lists every contract, column for column, as the YAML files say."""

from __future__ import annotations

from pathlib import Path

import pytest

from doudi.feeds.contract import TYPE_LABELS, Column, FeedContract, default_contracts

DOC = Path(__file__).resolve().parents[2] / "docs" / "feeds.md"
MODE = {"events": "事件（本期发生的事）", "snapshot": "全量名单（截至本期）"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def column_row(c: Column) -> str:
    if c.values:
        allowed = "、".join(f"`{code}` {label}" for code, label in c.values.items())
    else:
        allowed = "，".join(
            [
                *([f"≥ {_number(c.min)}"] if c.min is not None else []),
                *([f"≤ {_number(c.max)}"] if c.max is not None else []),
            ]
        )
    required = "是" if c.required else ""
    return f"| `{c.name}` | {c.label} | {TYPE_LABELS[c.type]} | {required} | {'、'.join(c.aliases)} | {allowed} |"


def section_of(text: str, kind: str) -> str:
    start = text.index(f"\n### {kind}：")
    end = text.find("\n### ", start + 1)
    return text[start : end if end >= 0 else len(text)]


@pytest.mark.parametrize("kind", sorted(default_contracts()))
def test_doc_has_the_contract(kind: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    contract: FeedContract = default_contracts()[kind]
    assert f"\n### {kind}：{contract.title}\n" in text, f"docs/feeds.md lacks the section of {kind}"
    section = section_of(text, kind)
    mode = f"- 方式：{MODE[contract.mode]}"
    if contract.event_date:
        mode += f"，事件日期列为“{contract.column(contract.event_date).label}”"
    assert f"- 提供部门：{contract.department}\n" in section
    assert mode + "\n" in section
    assert f"- 唯一键：{'、'.join(contract.column(k).label for k in contract.key)}\n" in section
    for check in contract.checks:
        assert f"- 校验：`{check.when}`（不满足时：{check.message}）" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [column_row(c) for c in contract.columns], (
        f"docs/feeds.md: columns of {kind} differ from {kind}.yaml"
    )
