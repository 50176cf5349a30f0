"""The MQL planner: from a quarter's target (customers and/or revenue) back to the MQLs, SQLs and
budget it takes, with the uncertainty a small history carries, the lag between an MQL and the
deal it brings, and a backtest of how well such plans came true.

The model, per lead channel c (rates learnt from mature cohorts, see `load_history`):
- an MQL reaches SQL with probability a_c (MQL cohorts) and an SQL is won with b_c (SQL
  cohorts); a won MQL closes k fiscal quarters after its MQL quarter with share g_k;
- so an MQL of cohort T-k becomes a customer closing in quarter T with probability
  a_c * b_c * g_k: quarter T's customers come from T's MQLs and from earlier cohorts' (already
  in the funnel, counted as they are) and from leads that never were MQLs (demo requests taken
  straight to SQL: a run rate per quarter);
- the MQLs still to come (the target quarter's, and any quarter before it that has not begun)
  are what the plan sizes, spread over channels by the channel mix, each channel's at its cost
  per MQL.
Uncertainty: a_c and b_c are Beta(1 + successes, 1 + failures) posteriors, the lag shares a
Dirichlet(1 + counts), the run rate of customers without an MQL Gamma-Poisson, deal sizes
normal around their posterior mean; outcomes are binomial. Monte Carlo with a fixed seed: every
draw is a vector over simulations. In each simulation the MQLs needed are negative binomial
(the trials until enough MQLs are won), so the MQLs for a 50/80/90% chance are its quantiles
and the chance of the target with M MQLs is the share of simulations needing at most M.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import duckdb
import numpy as np
import polars as pl

from funnelcast import definitions, lab
from funnelcast.analytics import metrics
from funnelcast.core.periods import Quarter, parse_quarter, quarter_of
from funnelcast.core.stats import rate
from funnelcast.data import db

LEVELS = (0.5, 0.8, 0.9)
SIMULATIONS = 10_000
SEED = 20_261_124
DEFAULT_WINDOW = 4  # mature quarters the rates are learnt from
RECENT_QUARTERS = 4  # complete quarters the channel mix, costs and run rates come from
MIN_HISTORY = 2  # mature quarters a backtest plan needs before the quarter it plans
# A cohort is mature once the quarters after it have held this share of past MQL-to-customer
# closes (stricter than the dashboard's 90% of days: an unfinished cohort biases rates down).
MATURE_SHARE = 0.95
# Below this share of a new MQL's deals closing in time, new MQLs cannot carry a target.
MIN_FUTURE_SHARE = 0.02


class PlanError(db.FunnelcastError):
    """A target, quarter or history the planner cannot plan from; the message says which."""


# =====================================================================================
# what the history says
# =====================================================================================


@dataclass(frozen=True)
class ChannelHistory:
    """One channel's counts: rates from the mature window, mix and cost from recent quarters."""

    channel: str
    mqls: int  # mature MQL cohorts in the window
    mqls_reached_sql: int
    mqls_reached_customer: int
    sqls: int  # mature SQL cohorts in the window
    sqls_reached_customer: int
    recent_mqls: int  # MQLs in the recent complete quarters: the channel mix
    recent_spend: float
    recent_has_spend: bool

    @property
    def cost_per_mql(self) -> float | None:
        """Return recent spend per recent MQL; None without spend rows or without MQLs."""
        if not self.recent_has_spend or not self.recent_mqls:
            return None
        return self.recent_spend / self.recent_mqls


@dataclass(frozen=True)
class History:
    """What the data knew at as_of that a plan needs, as plain counts."""

    as_of: dt.datetime
    fy_start_month: int
    window: tuple[str, ...]  # mature cohort quarters the rates come from
    recent: tuple[str, ...]  # complete quarters the mix, costs and run rates come from
    channels: tuple[ChannelHistory, ...]
    lag_counts: tuple[int, ...]  # MQL-to-customer closes by quarters later (window cohorts)
    sql_lag_counts: tuple[int, ...]  # SQL-to-customer closes by quarters later
    direct_customers: int  # customers without an MQL in the recent quarters
    deals: int  # deals with an amount in the recent quarters
    revenue: float
    revenue_squares: float
    cohort_mqls: dict[str, dict[str, int]]  # quarter label -> channel -> MQLs (as known)
    open_sqls: dict[str, dict[str, int]]  # channel -> SQL quarter label -> open SQLs

    @property
    def channel_names(self) -> list[str]:
        """Return the channels in order."""
        return [c.channel for c in self.channels]

    @property
    def mean_deal(self) -> float | None:
        """Return the mean deal amount of the recent quarters, None without deals."""
        return self.revenue / self.deals if self.deals else None

    @property
    def deal_sd(self) -> float:
        """Return the standard deviation of recent deal amounts (0 with fewer than two)."""
        if self.deals < 2:
            return 0.0
        mean = self.revenue / self.deals
        return math.sqrt(max(0.0, (self.revenue_squares - self.deals * mean**2) / (self.deals - 1)))


def _label(start: dt.date, fy: int) -> str:
    """Return the label of the quarter starting on a day."""
    return quarter_of(start, fy).label


def _is_complete(quarter: Quarter, as_of: dt.datetime) -> bool:
    """Return whether the data at as_of (exclusive) covers the quarter to its end."""
    return dt.datetime.combine(quarter.end, dt.time()) <= as_of


def data_today(ctx: metrics.DataContext) -> dt.datetime:
    """Return the moment just after the data ends (as_of is the last moment it covers)."""
    if ctx.as_of is None:
        raise PlanError(
            "the database has no leads or stage changes: there is no history to plan from"
        )
    return ctx.as_of + dt.timedelta(microseconds=1)


def quarters_to_mature(lag_counts: Sequence[int]) -> int:
    """Return the whole quarters after an MQL cohort by which MATURE_SHARE of past
    MQL-to-customer closes had happened (1 without any)."""
    counts = np.asarray(lag_counts, dtype=float)
    if counts.sum() == 0:
        return 1
    covered = np.cumsum(counts) / counts.sum()
    return int(np.argmax(covered >= MATURE_SHARE - 1e-12))


def _lags(
    cur: duckdb.DuckDBPyConnection, as_of: dt.datetime, fy: int, start: dt.date, end: dt.date
) -> dict[str, tuple[int, ...]]:
    """Return per step the number of closes by quarters later, for starts in [start, end)."""
    frame = db.run(
        cur, "planner_lags", as_of=as_of, fy_start_month=fy, cohort_from=start, cohort_to=end
    )
    out = {}
    for step in ("mql_to_sql", "sql_to_customer", "mql_to_customer"):
        part = frame.filter(pl.col("step") == step)
        longest = cast(int, part["quarters_later"].max())  # polars types max() as any literal
        counts = [0] * (int(longest) + 1 if not part.is_empty() else 0)
        for k, n in part.select("quarters_later", "count_leads").iter_rows():
            counts[k] = int(n)
        out[step] = tuple(counts)
    return out


def load_history(
    cur: duckdb.DuckDBPyConnection,
    ctx: metrics.DataContext,
    *,
    as_of: dt.datetime | None = None,
    window: int = DEFAULT_WINDOW,
) -> History:
    """Return what a plan learns from the data recorded before as_of (default: all of it).

    Rates come from the last `window` mature quarters; the channel mix, cost per MQL, the run
    rate of customers without an MQL and deal sizes from the last RECENT_QUARTERS complete ones.
    """
    fy = ctx.fy_start_month
    as_of = as_of or data_today(ctx)
    if window < 1:
        raise PlanError(f"the history window must be at least 1 quarter, not {window}")
    rates = db.run(cur, "planner_rates", as_of=as_of, fy_start_month=fy)
    quarters = [q for q in ctx.quarters if dt.datetime.combine(q.start, dt.time()) < as_of]
    complete = [q for q in quarters if _is_complete(q, as_of)]
    if not complete or rates.is_empty() or rates["count_mqls"].sum() == 0:
        raise PlanError(
            f"no history to plan from: no MQLs recorded in a complete quarter before "
            f"{as_of:%Y-%m-%d}"
        )
    # Recent cohorts have only had time for their quick deals, which makes lags look short:
    # once a first estimate says how long cohorts take, learn it again from the cohorts that
    # have had longer than that, until it holds.
    need = quarters_to_mature(
        _lags(cur, as_of, fy, complete[0].start, as_of.date() + dt.timedelta(days=1))[
            "mql_to_customer"
        ]
    )
    for _ in range(4):
        older = [q for q in complete if _is_complete(q.shifted(need + 1, fy), as_of)]
        if not older:
            break
        again = quarters_to_mature(
            _lags(cur, as_of, fy, complete[0].start, older[-1].end)["mql_to_customer"]
        )
        if again <= need:
            break
        need = again
    mature = [q for q in complete if _is_complete(q.shifted(need, fy), as_of)]
    with_mqls = set(rates.filter(pl.col("count_mqls") > 0)["quarter_start"].to_list())
    mature = [q for q in mature if q.start in with_mqls][-window:]
    if not mature:
        raise PlanError(
            f"no mature history before {as_of:%Y-%m-%d}: no quarter's MQLs have yet had the "
            f"time past MQLs took to close (load older history, or wait)"
        )
    recent = complete[-RECENT_QUARTERS:]
    lags = _lags(cur, as_of, fy, mature[0].start, mature[-1].end)

    def totals(chosen: list[Quarter]) -> pl.DataFrame:
        starts = [q.start for q in chosen]
        return (
            rates.filter(pl.col("quarter_start").is_in(starts))
            .group_by("channel", maintain_order=True)
            .agg(pl.exclude("quarter_start", "has_spend").sum(), pl.col("has_spend").any())
        )

    in_window = {r["channel"]: r for r in totals(mature).to_dicts()}
    in_recent = {r["channel"]: r for r in totals(recent).to_dicts()}
    names = sorted(set(in_window) | set(in_recent))
    channels = []
    for name in names:
        w, r = in_window.get(name, {}), in_recent.get(name, {})
        channels.append(
            ChannelHistory(
                channel=name,
                mqls=int(w.get("count_mqls", 0)),
                mqls_reached_sql=int(w.get("count_mqls_reached_sql", 0)),
                mqls_reached_customer=int(w.get("count_mqls_reached_customer", 0)),
                sqls=int(w.get("count_sqls", 0)),
                sqls_reached_customer=int(w.get("count_sqls_reached_customer", 0)),
                recent_mqls=int(r.get("count_mqls", 0)),
                recent_spend=float(r.get("spend", 0.0)),
                recent_has_spend=bool(r.get("has_spend", False)),
            )
        )
    recent_rows = totals(recent)
    cohort_mqls: dict[str, dict[str, int]] = {}
    for start, channel, n in rates.select("quarter_start", "channel", "count_mqls").iter_rows():
        if n:
            cohort_mqls.setdefault(_label(start, fy), {})[channel] = int(n)
    open_sqls: dict[str, dict[str, int]] = {}
    pipeline = db.run(cur, "open_pipeline", as_of=as_of, fy_start_month=fy)
    for channel, start, n in pipeline.iter_rows():
        open_sqls.setdefault(channel, {})[_label(start, fy)] = int(n)
    return History(
        as_of=as_of,
        fy_start_month=fy,
        window=tuple(q.label for q in mature),
        recent=tuple(q.label for q in recent),
        channels=tuple(channels),
        lag_counts=lags["mql_to_customer"],
        sql_lag_counts=lags["sql_to_customer"],
        direct_customers=int(recent_rows["count_customers_without_mql"].sum()),
        deals=int(recent_rows["count_deals"].sum()),
        revenue=float(recent_rows["revenue"].sum()),
        revenue_squares=float(recent_rows["revenue_squares"].sum()),
        cohort_mqls=cohort_mqls,
        open_sqls=open_sqls,
    )


# =====================================================================================
# the plan
# =====================================================================================


@dataclass(frozen=True)
class Target:
    """What a quarter should win: customers, revenue, or both (both must be reached)."""

    quarter: str
    customers: int | None = None
    revenue: float | None = None

    def check(self) -> None:
        """Raise PlanError when neither figure is given or one is not a positive number."""
        if self.customers is None and self.revenue is None:
            raise PlanError(f"no target for {self.quarter}: give target customers or revenue")
        for name, value in (("customers", self.customers), ("revenue", self.revenue)):
            if value is None:
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise PlanError(
                    f"target {name} for {self.quarter} must be a number above 0, not {value}"
                )
        if self.customers is not None and self.customers != int(self.customers):
            raise PlanError(
                f"target customers for {self.quarter} must be a whole number, not {self.customers}"
            )


def channel_mix(history: History, mix: Mapping[str, float] | None = None) -> dict[str, float]:
    """Return each channel's share of new MQLs: the recent one, or an edited mix normalised."""
    if mix is None:
        total = sum(c.recent_mqls for c in history.channels)
        if total == 0:
            total = sum(c.mqls for c in history.channels)
            return {c.channel: c.mqls / total for c in history.channels}
        return {c.channel: c.recent_mqls / total for c in history.channels}
    unknown = [name for name in mix if name not in history.channel_names]
    if unknown:
        raise PlanError(
            f"channel mix: unknown channel {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(history.channel_names)})"
        )
    bad = [f"{k}={v}" for k, v in mix.items() if not math.isfinite(v) or v < 0]
    if bad:
        raise PlanError(f"channel mix: shares must be numbers of 0 or more, not {', '.join(bad)}")
    mix_total = float(sum(mix.values()))
    if mix_total <= 0:
        raise PlanError("channel mix: at least one channel needs a share above 0")
    return {c.channel: float(mix.get(c.channel, 0.0)) / mix_total for c in history.channels}


@dataclass(frozen=True)
class Cohort:
    """An MQL cohort that feeds the target quarter: known (counted) or still to come."""

    quarter: str
    quarters_before: int  # 0: the target quarter itself
    close_share: float  # g_k: share of a cohort's won deals that close in the target quarter
    is_future: bool
    mqls: dict[str, float]  # per channel; future cohorts: empty (the plan sizes them)
    is_partial: bool = False  # the quarter holding as_of: its MQLs so far, scaled to the quarter


def cohorts_for(history: History, quarter: Quarter) -> list[Cohort]:
    """Return the MQL cohorts whose deals close in the target quarter, by the lag shares."""
    fy = history.fy_start_month
    counts = np.asarray(history.lag_counts, dtype=float)
    shares = counts / counts.sum() if counts.sum() else np.array([1.0])
    out = []
    for k, share in enumerate(shares):
        q = quarter.shifted(-k, fy)
        start = dt.datetime.combine(q.start, dt.time())
        if start >= history.as_of:
            out.append(Cohort(q.label, k, float(share), True, {}))
            continue
        mqls = {c: float(n) for c, n in history.cohort_mqls.get(q.label, {}).items()}
        partial = not _is_complete(q, history.as_of)
        if partial:
            elapsed = (history.as_of - start).total_seconds()
            length = (dt.datetime.combine(q.end, dt.time()) - start).total_seconds()
            mqls = {c: n * length / elapsed for c, n in mqls.items()}
        out.append(Cohort(q.label, k, float(share), False, mqls, partial))
    return out


def rate_counts(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return per channel the counts its rates rest on: MQLs reaching SQL of MQLs, SQLs won of
    SQLs. A channel without MQLs (or SQLs) in the window, such as a new one, borrows all
    channels' counts together rather than planning with no rate at all."""
    ch = history.channels
    s_a = np.array([c.mqls_reached_sql for c in ch], dtype=float)
    n_a = np.array([c.mqls for c in ch], dtype=float)
    s_b = np.array([c.sqls_reached_customer for c in ch], dtype=float)
    n_b = np.array([c.sqls for c in ch], dtype=float)
    for s, n in ((s_a, n_a), (s_b, n_b)):
        empty = n == 0
        s[empty], n[empty] = s.sum(), n.sum()
    return s_a, n_a, s_b, n_b


def borrowed_rates(history: History) -> list[str]:
    """Return the channels whose rates are borrowed from all channels (no history of their own)."""
    return [c.channel for c in history.channels if c.mqls == 0 or c.sqls == 0]


@dataclass(frozen=True)
class Draws:
    """Posterior draws, one per simulation: rates per channel, lag shares, run rate, deal mean."""

    a: np.ndarray  # (sims, channels) MQL -> SQL
    b: np.ndarray  # (sims, channels) SQL -> customer
    g: np.ndarray  # (sims, quarters later) lag shares
    direct_rate: np.ndarray  # (sims,) customers without an MQL per quarter
    deal_mean: np.ndarray | None  # (sims,)


def draw(history: History, rng: np.random.Generator, n: int = SIMULATIONS) -> Draws:
    """Return posterior draws of everything uncertain the history pins down."""
    ch = history.channels
    s_a, n_a, s_b, n_b = rate_counts(history)
    a = rng.beta(1 + s_a, 1 + n_a - s_a, size=(n, len(ch)))
    b = rng.beta(1 + s_b, 1 + n_b - s_b, size=(n, len(ch)))
    lags = np.asarray(history.lag_counts or (1,), dtype=float)
    g = rng.dirichlet(1 + lags, size=n) if len(lags) > 1 else np.ones((n, 1))
    quarters = max(1, len(history.recent))
    direct_rate = rng.gamma(history.direct_customers + 0.5, 1 / quarters, size=n)
    deal_mean = None
    if history.mean_deal is not None:
        se = history.deal_sd / math.sqrt(history.deals) if history.deals > 1 else history.mean_deal
        deal_mean = np.maximum(rng.normal(history.mean_deal, se, size=n), history.mean_deal * 0.05)
    return Draws(a, b, g, direct_rate, deal_mean)


def customers_for_revenue(
    revenue: float, deal_mean: np.ndarray, deal_sd: float, z: np.ndarray
) -> np.ndarray:
    """Return per simulation the deals whose sum first reaches revenue.

    Deal sums are taken as normal, k deals summing to k*mean + z*sd*sqrt(k), so the first k
    reaching the revenue solves mean*x^2 + z*sd*x - revenue = 0 for x = sqrt(k).
    """
    x = (-z * deal_sd + np.sqrt((z * deal_sd) ** 2 + 4 * deal_mean * revenue)) / (2 * deal_mean)
    return np.ceil(np.maximum(x, 0.0) ** 2)


@dataclass
class Plan:
    """A plan for one quarter's target: required MQLs, SQLs and budget, per channel, with odds."""

    target: Target
    history: History
    mix: dict[str, float]
    cohorts: list[Cohort]
    point: dict[str, Any]
    required_mqls: dict[str, int | None]  # per level "p50"...: new MQLs per future quarter
    odds: Odds = field(repr=False)
    expected_customers_known: dict[str, float] = field(default_factory=dict)
    required_mqls_steady_state: dict[str, int | None] = field(default_factory=dict)
    steady_odds: Odds | None = field(default=None, repr=False)

    def probability(self, mqls: float) -> float:
        """Return the chance of reaching the target with this many new MQLs per future quarter."""
        return self.odds.probability(mqls)


def plan(
    history: History,
    target: Target,
    *,
    mix: Mapping[str, float] | None = None,
    simulations: int = SIMULATIONS,
    seed: int = SEED,
) -> Plan:
    """Return the plan for a target: point waterfall, and MQLs for a 50/80/90% chance."""
    target.check()
    fy = history.fy_start_month
    try:
        quarter = parse_quarter(target.quarter, fy)
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    if dt.datetime.combine(quarter.start, dt.time()) < history.as_of:
        nxt = quarter_of(history.as_of - dt.timedelta(microseconds=1), fy).shifted(1, fy)
        raise PlanError(
            f"{quarter.label} has begun (the data runs to {history.as_of - dt.timedelta(microseconds=1):%Y-%m-%d}): "
            f"plan a quarter that starts later, such as {nxt.label}"
        )
    ch = history.channels
    if (
        sum(c.mqls_reached_customer for c in ch) == 0
        or sum(c.sqls_reached_customer for c in ch) == 0
    ):
        raise PlanError(
            f"no conversions in the history window ({history.window[0]}–{history.window[-1]}): "
            f"no MQL or SQL of those quarters became a customer, so there is no rate to plan with"
        )
    mean_deal = history.mean_deal
    if target.revenue is not None and mean_deal is None:
        raise PlanError(
            f"a revenue target needs deal amounts, and no deal in {history.recent[0]}–"
            f"{history.recent[-1]} has one: give a customer target instead"
        )
    shares = channel_mix(history, mix)
    w = np.array([shares[c.channel] for c in ch])
    cohorts = cohorts_for(history, quarter)
    future = [c for c in cohorts if c.is_future]
    known = [c for c in cohorts if not c.is_future]

    # ----- the point waterfall: observed rates, no uncertainty -----
    s_a, n_a, s_b, n_b = rate_counts(history)
    a_hat = np.divide(s_a, n_a, out=np.zeros_like(s_a), where=n_a > 0)
    b_hat = np.divide(s_b, n_b, out=np.zeros_like(s_b), where=n_b > 0)
    lag = np.asarray(history.lag_counts, dtype=float)
    g_hat = lag / lag.sum()
    future_share = float(sum(g_hat[c.quarters_before] for c in future))
    if future_share < MIN_FUTURE_SHARE:
        raise PlanError(
            f"MQLs still to come cannot carry {quarter.label}'s target: only "
            f"{future_share:.0%} of past MQLs' deals closed by then; its customers come from "
            f"MQLs already in (plan a later quarter)"
        )
    per_mql = w * a_hat * b_hat  # customers per new MQL, per channel, whenever they close
    known_customers = {
        c.quarter: float(
            sum(c.mqls.get(x.channel, 0.0) * a_hat[i] * b_hat[i] for i, x in enumerate(ch))
            * g_hat[c.quarters_before]
        )
        for c in known
    }
    direct = history.direct_customers / max(1, len(history.recent))
    customers_needed = float(target.customers or 0)
    if target.revenue is not None and mean_deal is not None:  # (None refused above)
        customers_needed = max(customers_needed, target.revenue / mean_deal)
    from_new = max(0.0, customers_needed - direct - sum(known_customers.values()))
    mqls_point = from_new / (per_mql.sum() * future_share) if per_mql.sum() > 0 else math.inf
    point = {
        "customers_needed": customers_needed,
        "customers_without_mql": direct,
        "customers_from_known_mqls": sum(known_customers.values()),
        "customers_from_new_mqls": from_new,
        "mql_to_customer": float(per_mql.sum()),
        "future_close_share": future_share,
        "mqls": mqls_point,
        "sqls": mqls_point * float((w * a_hat).sum()),
        "by_channel": {
            c.channel: {"mqls": mqls_point * w[i], "sqls": mqls_point * w[i] * a_hat[i]}
            for i, c in enumerate(ch)
        },
    }

    # ----- the same with uncertainty -----
    odds = _simulate(history, target, w, cohorts, simulations, seed)
    steady = _simulate(history, target, w, None, simulations, seed)
    point["mqls_steady_state"] = (
        max(0.0, customers_needed - direct) / per_mql.sum() if per_mql.sum() > 0 else math.inf
    )
    return Plan(
        target,
        history,
        shares,
        cohorts,
        point,
        odds.levels(),
        odds,
        known_customers,
        steady.levels(),
        steady,
    )


def _lgamma(x: np.ndarray) -> np.ndarray:
    """Return log Gamma(x) for x > 0, vectorised (Stirling's series after shifting x past 8)."""
    x = np.asarray(x, dtype=float)
    shift = np.zeros_like(x)
    y = x.copy()
    for _ in range(8):
        small = y < 8
        shift = np.where(small, shift + np.log(np.where(small, y, 1.0)), shift)
        y = np.where(small, y + 1, y)
    inv, inv2 = 1 / y, 1 / (y * y)
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    return (y - 0.5) * np.log(y) - y + 0.5 * math.log(2 * math.pi) + series - shift


def _betacf(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return the continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c = np.ones_like(x)
    d = 1 - qab * x / qap
    d = 1 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / np.where(np.abs(d) < tiny, tiny, d)
        c = 1 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / np.where(np.abs(d) < tiny, tiny, d)
        c = 1 + aa / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        step = d * c
        h *= step
        if np.all(np.abs(step - 1) < 1e-13):
            break
    return h


def betainc(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return the regularised incomplete beta function I_x(a, b) for a, b > 0, 0 <= x <= 1."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, x)))
    out = np.where(x >= 1, 1.0, 0.0)
    inside = (x > 0) & (x < 1)
    if not inside.any():
        return out
    a_, b_, x_ = a[inside], b[inside], x[inside]
    log_front = _lgamma(a_ + b_) - _lgamma(a_) - _lgamma(b_) + a_ * np.log(x_) + b_ * np.log1p(-x_)
    front = np.exp(log_front)
    direct = x_ < (a_ + 1) / (a_ + b_ + 2)
    value = np.empty_like(x_)
    if direct.any():
        value[direct] = front[direct] * _betacf(a_[direct], b_[direct], x_[direct]) / a_[direct]
    flip = ~direct
    if flip.any():
        value[flip] = 1 - front[flip] * _betacf(b_[flip], a_[flip], 1 - x_[flip]) / b_[flip]
    out[inside] = np.clip(value, 0.0, 1.0)
    return out


def _normal_above(x: np.ndarray) -> np.ndarray:
    """Return P(Z > x) for a standard normal Z (Abramowitz and Stegun 7.1.26, error < 2e-7)."""
    z = np.abs(x) / math.sqrt(2)
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    tail = 0.5 * poly * np.exp(-z * z)
    return np.where(x >= 0, tail, 1 - tail)


# Above this binomial variance the tail is taken as normal (the continued fraction would need
# thousands of steps; the normal is then accurate to a small fraction of a percent).
NORMAL_VARIANCE = 5_000.0


def binomial_at_least(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return P(Binomial(n, p) >= k), vectorised: 1 for k <= 0, 0 for k > n."""
    k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, p)))
    out = np.where(k <= 0, 1.0, 0.0)
    mid = (k > 0) & (k <= n)
    if mid.any():
        km, nm, pm = k[mid], n[mid], p[mid]
        variance = nm * pm * (1 - pm)
        big = variance > NORMAL_VARIANCE
        value = np.empty_like(km)
        if big.any():
            value[big] = _normal_above((km[big] - 0.5 - nm[big] * pm[big]) / np.sqrt(variance[big]))
        if (~big).any():
            value[~big] = betainc(km[~big], nm[~big] - km[~big] + 1, pm[~big])
        out[mid] = value
    return out


@dataclass(frozen=True)
class Odds:
    """Per simulation what the new MQLs must bring and how likely one MQL brings it.

    need: customers still missing once those without an MQL and the earlier cohorts' are
    counted; p: the chance that one new MQL becomes a customer closing in the target quarter;
    future: how many quarters of new MQLs there are (each gets the same number).
    """

    need: np.ndarray
    p: np.ndarray
    future: int

    def probability(self, mqls: float) -> float:
        """Return the chance of reaching the target with this many new MQLs per future quarter."""
        trials = np.floor(max(0.0, mqls) * self.future + 1e-9)
        return float(binomial_at_least(self.need, trials, self.p).mean())

    def probabilities(self, mqls: Sequence[float]) -> np.ndarray:
        """Return probability() for each of several MQL counts."""
        return np.array([self.probability(m) for m in mqls])

    def required(self, level: float, cap: int = 10**9) -> int | None:
        """Return the fewest new MQLs per future quarter that give at least this chance
        (None when even `cap` would not)."""
        if self.probability(0) >= level:
            return 0
        hi = max(
            1, int(np.median(np.maximum(self.need, 0) / np.maximum(self.p, 1e-12)) / self.future)
        )
        while self.probability(hi) < level:
            if hi >= cap:
                return None
            hi = min(cap, hi * 2)
        lo = 0  # probability(lo) < level <= probability(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.probability(mid) >= level:
                hi = mid
            else:
                lo = mid
        return hi

    def levels(self) -> dict[str, int | None]:
        """Return the MQLs for a 50, 80 and 90% chance."""
        return {f"p{round(level * 100)}": self.required(level) for level in LEVELS}


def _simulate(
    history: History,
    target: Target,
    w: np.ndarray,
    cohorts: list[Cohort] | None,
    simulations: int,
    seed: int,
) -> Odds:
    """Return per simulation the customers the new MQLs must bring and each one's chance
    (cohorts None: the steady state, every cohort alike and all of an MQL's deals counted)."""
    rng = np.random.default_rng(seed)
    d = draw(history, rng, simulations)
    ch = history.channels
    ab = d.a * d.b
    known_sim = np.zeros(simulations)
    if cohorts is None:
        g_future, n_future = np.ones(simulations), 1
    else:
        g = d.g
        if g.shape[1] < len(cohorts):
            g = np.pad(g, ((0, 0), (0, len(cohorts) - g.shape[1])))
        for c in cohorts:
            if c.is_future:
                continue
            counts = np.round([c.mqls.get(x.channel, 0.0) for x in ch]).astype(np.int64)
            known_sim += rng.binomial(counts, ab * g[:, [c.quarters_before]]).sum(axis=1)
        future = [c for c in cohorts if c.is_future]
        g_future = sum((g[:, c.quarters_before] for c in future), np.zeros(simulations))
        n_future = len(future)
    direct_sim = rng.poisson(d.direct_rate)
    needed = np.full(simulations, float(target.customers or 0))
    z = rng.standard_normal(simulations)
    if target.revenue is not None:
        assert d.deal_mean is not None  # plan() refuses a revenue target without deal amounts
        needed = np.maximum(
            needed, customers_for_revenue(target.revenue, d.deal_mean, history.deal_sd, z)
        )
    need = needed - known_sim - direct_sim
    p_new = (ab * w).sum(axis=1) * g_future / n_future  # per new MQL, averaged over cohorts
    return Odds(need, p_new, n_future)


# =====================================================================================
# budget, pipeline, rates: what the page and the CLI show around a plan
# =====================================================================================


def channel_rows(p: Plan) -> list[dict[str, Any]]:
    """Return per channel its share, rates (n, Wilson interval), cost per MQL and needs."""
    rows = []
    borrowed = borrowed_rates(p.history)
    for c in p.history.channels:
        share = p.mix[c.channel]
        cpm = c.cost_per_mql
        # a level no number of MQLs reaches (None) has no MQLs or budget to share out
        mqls = {k: v * share if v is not None else None for k, v in p.required_mqls.items()}
        rows.append(
            {
                "channel": c.channel,
                "rates_borrowed_from_all_channels": c.channel in borrowed,
                "mix_share": share,
                "mql_to_sql": rate(c.mqls_reached_sql, c.mqls).as_dict(),
                "sql_to_customer": rate(c.sqls_reached_customer, c.sqls).as_dict(),
                "cost_per_mql": cpm,
                "mqls": mqls,
                "mqls_point": p.point["by_channel"][c.channel]["mqls"],
                "sqls_point": p.point["by_channel"][c.channel]["sqls"],
                "budget": {
                    k: (v * cpm if cpm is not None and v is not None else None)
                    for k, v in mqls.items()
                },
            }
        )
    return rows


def budget(p: Plan) -> dict[str, Any]:
    """Return the budget per level: each channel's MQLs at its cost per MQL, summed.

    Channels without spend rows cannot be costed: they are listed, and left out of the sum.
    """
    rows = channel_rows(p)
    costed = [r for r in rows if r["cost_per_mql"] is not None]
    out: dict[str, Any] = {
        k: float(sum(r["budget"][k] for r in costed)) if v is not None else None
        for k, v in p.required_mqls.items()
    }
    out["point"] = float(
        sum(p.point["by_channel"][r["channel"]]["mqls"] * r["cost_per_mql"] for r in costed)
    )
    out["channels_without_cost"] = [
        r["channel"] for r in rows if r["cost_per_mql"] is None and r["mix_share"] > 0
    ]
    return out


def open_pipeline(history: History, quarter: Quarter) -> dict[str, Any]:
    """Return the SQLs still open at as_of and the customers they are expected to bring in the
    target quarter.

    An open SQL of quarter s is won with its channel's SQL-to-customer rate; wins and losses
    are taken to take equally long, so it closes k quarters after s with the share of past wins
    closing k quarters later among those that closed no earlier than now.
    """
    fy = history.fy_start_month
    lags = np.asarray(history.sql_lag_counts, dtype=float)
    now = quarter_of(history.as_of - dt.timedelta(microseconds=1), fy)
    now_done = _is_complete(now, history.as_of)
    _, _, s_b, n_b = rate_counts(history)
    b_of = {c.channel: s_b[i] / n_b[i] if n_b[i] else 0.0 for i, c in enumerate(history.channels)}
    total_open, expected, stale = 0, 0.0, 0
    for channel, quarters in history.open_sqls.items():
        b = b_of.get(channel, 0.0)
        for label, n in quarters.items():
            s = parse_quarter(label, fy)
            total_open += n
            k_target = _quarters_between(s, quarter, fy)
            k_now = _quarters_between(s, now, fy) + (1 if now_done else 0)
            tail = lags[k_now:].sum() if k_now < len(lags) else 0.0
            if tail == 0:
                stale += n
                continue
            share = lags[k_target] / tail if k_target < len(lags) else 0.0
            expected += n * b * share
    return {"open_sqls": total_open, "expected_customers": expected, "stale_open_sqls": stale}


def _quarters_between(a: Quarter, b: Quarter, fy: int) -> int:
    """Return how many quarters b is after a."""
    return ((b.start.year - a.start.year) * 12 + b.start.month - a.start.month) // 3


def rate_posteriors(
    history: History,
    levels: Sequence[float] = (0.8, 0.9),
    simulations: int = SIMULATIONS,
    seed: int = SEED,
) -> pl.DataFrame:
    """Return per channel and rate (mql_to_sql, sql_to_customer) the posterior mean and the
    central credible interval for each level (low_80, high_80, ...)."""
    d = draw(history, np.random.default_rng(seed), simulations)
    rows = []
    for i, c in enumerate(history.channels):
        for name, samples, s, n in (
            ("mql_to_sql", d.a[:, i], c.mqls_reached_sql, c.mqls),
            ("sql_to_customer", d.b[:, i], c.sqls_reached_customer, c.sqls),
        ):
            row = {
                "channel": c.channel,
                "rate": name,
                "successes": s,
                "n": n,
                "mean": float(samples.mean()),
            }
            for level in levels:
                lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
                row[f"low_{round(level * 100)}"] = float(lo)
                row[f"high_{round(level * 100)}"] = float(hi)
            rows.append(row)
    return pl.DataFrame(rows)


# =====================================================================================
# targets
# =====================================================================================


def stored_targets(
    cur: duckdb.DuckDBPyConnection, since: dt.date = dt.date(1900, 1, 1)
) -> pl.DataFrame:
    """Return the stored targets of the quarters starting on or after a day."""
    return db.run(cur, "planner_targets", from_date=since)


def stored_target(cur: duckdb.DuckDBPyConnection, quarter: Quarter) -> Target | None:
    """Return the target stored for a quarter, or None."""
    rows = stored_targets(cur, quarter.start).filter(pl.col("quarter_start") == quarter.start)
    if rows.is_empty():
        return None
    customers, revenue = rows.row(0)[1:]
    return Target(quarter.label, customers, revenue)


def save_target(
    cur: duckdb.DuckDBPyConnection, quarter: Quarter, customers: int | None, revenue: float | None
) -> Target:
    """Store a quarter's target (replacing the one it had) and return it; checked first."""
    target = Target(quarter.label, customers, revenue)
    target.check()
    cur.execute(
        "insert or replace into targets values ($q, $c, $r)",
        {"q": quarter.start, "c": customers, "r": revenue},
    )
    return target


def default_quarter(history: History) -> Quarter:
    """Return the first quarter that starts after the data ends: the next one to plan."""
    fy = history.fy_start_month
    last = quarter_of(history.as_of - dt.timedelta(microseconds=1), fy)
    return last.shifted(1, fy)


# =====================================================================================
# enough qualified leads? The Threshold Lab engine at the current or a what-if threshold
# =====================================================================================


def lab_engine(
    cur: duckdb.DuckDBPyConnection,
) -> tuple[definitions.Definition, lab.Materialised, lab.Scores] | None:
    """Return the definition in force with its materialised history and scores (None: none)."""
    current = definitions.current(cur)
    if current is None:
        return None
    m = lab.materialise_for(cur, current)
    return current, m, lab.score(m, current)


def qualified_leads(
    history: History,
    p: Plan,
    engine: tuple[definitions.Definition, lab.Materialised, lab.Scores] | None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Return the MQLs the definition is expected to produce per quarter (the mean of the recent
    complete quarters' replayed MQLs) at its threshold or a what-if one, the chance of the target
    with them, and per level the highest threshold whose volume meets the requirement, with the
    SQL rate it brings ("volume"), and the highest whose MQLs still meet the requirement once it
    is rescaled to the MQL-to-customer rate that threshold gives on the mature window
    ("customers": a looser threshold brings more MQLs, each less likely to buy)."""
    if engine is None:
        recent_mqls = [sum(history.cohort_mqls.get(q, {}).values()) for q in history.recent]
        expected = float(np.mean(recent_mqls)) if recent_mqls else 0.0
        return {
            "source": "recorded MQLs (no MQL definition is in force)",
            "definition": None,
            "threshold": None,
            "expected_mqls": expected,
            "probability_of_target": p.probability(expected),
            "enough": {k: v is not None and expected >= v for k, v in p.required_mqls.items()},
            "threshold_for_required": None,
            "threshold_for_steady_state": None,
        }
    current, m, s = engine
    if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
        raise PlanError(f"what-if threshold must be a number of 0 or more, not {threshold:g}")
    t = float(current.threshold if threshold is None else threshold)
    known = {q.label for q in m.calendar.quarters}
    recent = [q for q in history.recent if q in known]
    window = [q for q in history.window if q in known]
    bt = lab.backtest(m, s, t, recent)
    expected = float(cast(float, bt.quarters["mqls"].mean())) if not bt.quarters.is_empty() else 0.0
    thresholds = sorted(set(np.round(lab.default_thresholds(s), 6).tolist()) | {t})
    volume = lab.tradeoff_curve(m, s, recent, thresholds)
    quality = lab.tradeoff_curve(m, s, window, thresholds)
    n_recent = max(1, len(recent))
    curve = pl.DataFrame(
        {
            "threshold": volume["threshold"],
            "expected_mqls": volume["mqls"] / n_recent,
            "mql_to_sql": quality["mql_to_sql"],
            "mql_to_customer": quality["mql_to_customer"],
            "mqls_in_window": quality["mqls"],
        }
    )
    at_t = curve.filter(pl.col("threshold") == t).row(0, named=True)
    base_q = at_t["mql_to_customer"]
    by_threshold = curve.sort("threshold", descending=True).to_dicts()

    def highest(required: float, rescale: bool) -> dict[str, Any] | None:
        """Return the highest threshold whose MQLs reach the requirement (rescaled to its own
        MQL-to-customer rate when asked)."""
        for row in by_threshold:
            q = row["mql_to_customer"]
            if rescale and (not q or not base_q):
                continue
            need = required * base_q / q if rescale else required
            if row["expected_mqls"] >= need:
                return {**row, "required_mqls": need}
        return None

    def for_levels(requirements: Mapping[str, int | None]) -> dict[str, Any]:
        return {
            level: {"volume": highest(required, False), "customers": highest(required, True)}
            if required is not None
            else {"volume": None, "customers": None}
            for level, required in requirements.items()
        }

    return {
        "source": f"definition {current.definition_id} '{current.name}' replayed on "
        f"{recent[0]}–{recent[-1]}"
        if recent
        else "no complete quarter",
        "definition": {
            "definition_id": current.definition_id,
            "name": current.name,
            "threshold": float(current.threshold),
        },
        "threshold": t,
        "expected_mqls": expected,
        "mqls_per_quarter": dict(
            zip(bt.quarters["quarter"].to_list(), bt.quarters["mqls"].to_list())
        ),
        "mql_to_sql": at_t["mql_to_sql"],
        "probability_of_target": p.probability(expected),
        "enough": {k: v is not None and expected >= v for k, v in p.required_mqls.items()},
        "threshold_for_required": for_levels(p.required_mqls),
        "threshold_for_steady_state": for_levels(p.required_mqls_steady_state),
        "curve": curve,
    }


# =====================================================================================
# one call: what the CLI prints and the page shows
# =====================================================================================


def make_plan(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    customers: int | None = None,
    revenue: float | None = None,
    window: int = DEFAULT_WINDOW,
    mix: Mapping[str, float] | None = None,
    threshold: float | None = None,
    engine: Any = "load",
    history: History | None = None,
) -> dict[str, Any]:
    """Return the whole plan as a JSON-ready dict: required MQLs, SQLs, budget, odds, channels,
    stage lags and open pipeline, and whether the definition yields enough MQLs.

    Without customers and revenue the quarter's stored target is used.
    """
    ctx = metrics.load_context(cur)
    history = history or load_history(cur, ctx, window=window)
    fy = ctx.fy_start_month
    if quarter:
        try:
            q = parse_quarter(quarter, fy)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    else:
        q = default_quarter(history)
    if customers is None and revenue is None:
        target = stored_target(cur, q)
        if target is None:
            raise PlanError(
                f"no target stored for {q.label}: give --target-customers or --target-revenue"
            )
    else:
        target = Target(q.label, customers, revenue)
    p = plan(history, target, mix=mix)
    if engine == "load":
        engine = lab_engine(cur)
    leads = qualified_leads(history, p, engine, threshold)
    return summary(p, leads)


def summary(p: Plan, leads: dict[str, Any]) -> dict[str, Any]:
    """Return a plan and its qualified-leads check as a JSON-ready dict."""
    h = p.history
    fy = h.fy_start_month
    quarter = parse_quarter(p.target.quarter, fy)
    pipeline = open_pipeline(h, quarter)
    needed = p.point["customers_needed"]
    lags = np.asarray(h.lag_counts, dtype=float)
    expected = leads["expected_mqls"]
    rows = channel_rows(p)
    return {
        "target": {
            "quarter": quarter.label,
            "customers": p.target.customers,
            "revenue": p.target.revenue,
        },
        "as_of": (h.as_of - dt.timedelta(microseconds=1)).isoformat(),
        "history": {
            "rates_from": list(h.window),
            "mix_costs_and_run_rates_from": list(h.recent),
            "mean_deal": h.mean_deal,
            "deals": h.deals,
        },
        "required_mqls": p.required_mqls,
        "required_mqls_point": p.point["mqls"],
        "required_mqls_steady_state": p.required_mqls_steady_state,
        "required_mqls_steady_state_point": p.point["mqls_steady_state"],
        "required_sqls": p.point["sqls"],
        "required_sqls_by_level": {
            k: (None if v is None else v * p.point["sqls"] / p.point["mqls"])
            if p.point["mqls"]
            else 0.0
            for k, v in p.required_mqls.items()
        },
        "customers_needed": needed,
        "budget": budget(p),
        "expected_mqls_current_definition": expected,
        "probability_of_target": p.probability(expected),
        "future_quarters": [c.quarter for c in p.cohorts if c.is_future],
        "per_channel": rows,
        "waterfall": {k: v for k, v in p.point.items() if k != "by_channel"},
        "stage_lags": {
            "mql_to_customer_close_share": {
                f"{k} quarters later": float(n / lags.sum()) for k, n in enumerate(lags)
            },
            "cohorts": [
                {
                    "quarter": c.quarter,
                    "quarters_before_target": c.quarters_before,
                    "close_share": c.close_share,
                    "status": "to come"
                    if c.is_future
                    else ("so far, scaled" if c.is_partial else "in"),
                    "mqls": (p.point["mqls"] if c.is_future else float(sum(c.mqls.values()))),
                    "expected_customers_in_target": (
                        p.point["mqls"] * p.point["mql_to_customer"] * c.close_share
                        if c.is_future
                        else p.expected_customers_known.get(c.quarter, 0.0)
                    ),
                }
                for c in p.cohorts
            ],
        },
        "open_pipeline": {
            **pipeline,
            "share_of_target": pipeline["expected_customers"] / needed if needed else None,
        },
        "qualified_leads": {k: v for k, v in leads.items() if k != "curve"},
    }


# =====================================================================================
# backtest: plan each past quarter with the data before it, compare with what happened
# =====================================================================================


def predict_customers(
    history: History,
    quarter: Quarter,
    new_mqls: Mapping[str, float],
    simulations: int = SIMULATIONS,
    seed: int = SEED,
) -> np.ndarray:
    """Return per simulation the customers closing in a quarter, given its own MQLs per
    channel (the cohorts before it as the history knows them)."""
    rng = np.random.default_rng(seed)
    d = draw(history, rng, simulations)
    ch = history.channels
    cohorts = cohorts_for(history, quarter)
    g = d.g
    ab = d.a * d.b
    total = rng.poisson(d.direct_rate).astype(float)
    for c in cohorts:
        mqls = new_mqls if c.quarters_before == 0 else c.mqls
        counts = np.round([mqls.get(x.channel, 0.0) for x in ch]).astype(np.int64)
        total += rng.binomial(counts, ab * g[:, [c.quarters_before]]).sum(axis=1)
    return total


def backtest(
    cur: duckdb.DuckDBPyConnection,
    ctx: metrics.DataContext | None = None,
    *,
    window: int = DEFAULT_WINDOW,
    min_history: int = MIN_HISTORY,
    simulations: int = 5_000,
) -> pl.DataFrame:
    """Return per past quarter with enough mature history before it: the customers predicted
    from the data before it (given the MQLs it then had), the 80% and 90% ranges, and what
    happened."""
    ctx = ctx or metrics.load_context(cur)
    now = data_today(ctx)
    fy = ctx.fy_start_month
    actual = db.run(cur, "planner_rates", as_of=now, fy_start_month=fy)
    rows = []
    for q in ctx.quarters:
        if not _is_complete(q, now):
            continue
        start = dt.datetime.combine(q.start, dt.time())
        try:
            h = load_history(cur, ctx, as_of=start, window=window)
        except PlanError:
            continue
        if len(h.window) < min_history or sum(c.mqls_reached_customer for c in h.channels) == 0:
            continue
        here = actual.filter(pl.col("quarter_start") == q.start)
        new = {c: float(n) for c, n in here.select("channel", "count_mqls").iter_rows()}
        sims = predict_customers(h, q, new, simulations)
        lo80, hi80, lo90, hi90, median = np.quantile(sims, [0.1, 0.9, 0.05, 0.95, 0.5])
        happened = int(here["count_customers"].sum())
        rows.append(
            {
                "quarter": q.label,
                "history": f"{h.window[0]}–{h.window[-1]}",
                "mqls": int(sum(new.values())),
                "predicted": float(median),
                "mean": float(sims.mean()),
                "low_80": float(lo80),
                "high_80": float(hi80),
                "low_90": float(lo90),
                "high_90": float(hi90),
                "actual": happened,
                "in_80": bool(lo80 <= happened <= hi80),
                "in_90": bool(lo90 <= happened <= hi90),
                "error": float(median - happened),
            }
        )
    schema = {
        "quarter": pl.String,
        "history": pl.String,
        "mqls": pl.Int64,
        "predicted": pl.Float64,
        "mean": pl.Float64,
        "low_80": pl.Float64,
        "high_80": pl.Float64,
        "low_90": pl.Float64,
        "high_90": pl.Float64,
        "actual": pl.Int64,
        "in_80": pl.Boolean,
        "in_90": pl.Boolean,
        "error": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def backtest_summary(frame: pl.DataFrame) -> dict[str, Any]:
    """Return the hit rates of the 80% and 90% ranges and the point forecast's errors."""
    if frame.is_empty():
        return {
            "quarters": 0,
            "hit_rate_80": None,
            "hit_rate_90": None,
            "mean_absolute_error": None,
            "mean_absolute_percentage_error": None,
            "bias": None,
        }
    actual = frame["actual"].cast(pl.Float64)
    with_actual = frame.filter(pl.col("actual") > 0)
    return {
        "quarters": frame.height,
        "hit_rate_80": rate(int(frame["in_80"].sum()), frame.height).as_dict(),
        "hit_rate_90": rate(int(frame["in_90"].sum()), frame.height).as_dict(),
        "mean_absolute_error": float(cast(float, frame["error"].abs().mean())),
        "mean_absolute_percentage_error": (
            float(cast(float, (with_actual["error"].abs() / with_actual["actual"]).mean()))
            if not with_actual.is_empty()
            else None
        ),
        "bias": float(cast(float, frame["error"].mean())),
        "mean_actual": float(cast(float, actual.mean())),
    }
