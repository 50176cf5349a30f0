"""The planner's probabilistic model: the cohorts that feed a quarter, posterior draws of
everything uncertain, and the odds of a target with a number of new MQLs.

Per lead channel c (rates learnt from mature cohorts, see `history.load_history`):
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
and the chance of the target with M MQLs is the share of simulations needing at most M; the
binomial tails are scipy's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from funnelcast.core.periods import Quarter
from funnelcast.planner.history import ChannelHistory, History, is_complete
from funnelcast.planner.targets import Target

LEVELS = (0.5, 0.8, 0.9)
SIMULATIONS = 10_000
SEED = 20_261_124


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
        partial = not is_complete(q, history.as_of)
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


def observed_rates(history: History) -> tuple[np.ndarray, np.ndarray]:
    """Return per channel the rates its counts show, no uncertainty: MQL to SQL, SQL to
    customer (0 without counts)."""
    s_a, n_a, s_b, n_b = rate_counts(history)
    a_hat = np.divide(s_a, n_a, out=np.zeros_like(s_a), where=n_a > 0)
    b_hat = np.divide(s_b, n_b, out=np.zeros_like(s_b), where=n_b > 0)
    return a_hat, b_hat


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


def drawn_customers(
    rng: np.random.Generator,
    mqls: Mapping[str, float],
    channels: Sequence[ChannelHistory],
    p: np.ndarray,
) -> np.ndarray:
    """Return per simulation the customers a cohort's MQLs bring (rounded to whole MQLs per
    channel), each MQL becoming one with its channel's chance p (simulations x channels)."""
    counts = np.round([mqls.get(c.channel, 0.0) for c in channels]).astype(np.int64)
    return rng.binomial(counts, p).sum(axis=1)


def binomial_at_least(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return P(Binomial(n, p) >= k) for whole numbers k and n, vectorised: 1 for k <= 0,
    0 for k > n (scipy's survival function at k - 1)."""
    return np.asarray(stats.binom.sf(np.asarray(k, dtype=float) - 1, n, p), dtype=float)


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


def simulate_odds(
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
            if not c.is_future:
                known_sim += drawn_customers(rng, c.mqls, ch, ab * g[:, [c.quarters_before]])
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
