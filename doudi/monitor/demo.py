"""The monitoring part of ``doudi demo``: a month of department feeds for the synthetic
province, loaded through the real loader (quarantine and all), then the monthly run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from doudi.feeds.reader import FeedError
from doudi.feeds.service import FeedLoadResult, load_feed
from doudi.feeds.synthetic import generate_feeds
from doudi.monitor.run import MonitorResult, run_monitor
from doudi.settings import Settings


@dataclass
class FeedOutcome:
    kind: str
    period: str
    file_name: str
    result: FeedLoadResult | None
    error_zh: str | None


@dataclass
class DemoMonitoring:
    feeds: list[FeedOutcome]
    run: MonitorResult


def demo_monitoring(
    engine: Engine,
    *,
    settings: Settings,
    period: str,
    seed: int,
    actor: str,
    step: Callable[[str], None] | None = None,
) -> DemoMonitoring:
    """Generate ``period``'s feeds as departments deliver them, load each, run the month."""
    say = step or (lambda _m: None)
    say("生成部门数据")
    incoming = settings.data_dir / "incoming"
    files = generate_feeds(settings.data_dir / "population", [period], incoming, seed=seed, style="delivered")
    outcomes = []
    for f in files:
        say(f"载入部门数据：{f.kind}")
        try:
            result = load_feed(engine, settings, f.kind, f.path, f.period, actor=actor)
            outcomes.append(FeedOutcome(f.kind, f.period, f.path.name, result, None))
        except FeedError as err:
            outcomes.append(FeedOutcome(f.kind, f.period, f.path.name, None, err.message_zh))
    run = run_monitor(engine, settings, period=period, actor=actor, step=say)
    return DemoMonitoring(outcomes, run)
