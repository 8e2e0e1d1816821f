"""Write the synthetic world: chunks of customers simulated independently, written atomically.

Each chunk draws from its own child of `SeedSequence(seed)`, so the files depend only on the seed
(and the chunk size), never on worker count, scheduling or machine load.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.table import Table

from features.atomic import atomic_directory, check_owned
from features.contract import CUSTOMERS, EVENTS
from features.errors import ConfigError
from features.synth import events as ev
from features.synth.campaign import Campaign, Treatment, campaign_truth, continue_treated
from features.synth.campaign import untreated_hazard as campaign_hazard
from features.synth.latent import simulate_latent
from features.synth.population import customer_ids, draw_population
from features.synth.spec import EVENT_NAMES, MECHANISMS, WorldSpec
from features.synth.truth import customer_truth, hazard_table

log = logging.getLogger(__name__)

SESSIONS_PER_CHUNK = 10**9  # session numbers of chunk k start at k * 1e9: unique world-wide
# A replayed campaign numbers the sessions it draws anew from the middle of the chunk's range.
REPLAY_SESSIONS = SESSIONS_PER_CHUNK // 2
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3}


@dataclass
class ChunkResult:
    """What a chunk hands back: its customer rows (public and truth) and counts."""

    customers: pa.Table
    truth: pa.Table | None
    event_counts: np.ndarray
    churners: np.ndarray  # by mechanism
    first_ts: int
    last_ts: int
    treatment: pa.Table | None = None  # a replay's scored customers: their untreated hazard


@dataclass(frozen=True)
class WorldSummary:
    """Counts of what was written and where; prints as a table."""

    out: Path
    customers: int
    events_by_type: dict[str, int]
    churners_by_mechanism: dict[str, int]
    first_event: pd.Timestamp
    last_event: pd.Timestamp
    seconds: float
    truth: bool = True

    @property
    def events(self) -> int:
        """All events written."""
        return sum(self.events_by_type.values())

    @property
    def churners(self) -> int:
        """Customers who cancelled within the world."""
        return sum(self.churners_by_mechanism.values())

    def __rich__(self) -> Table:
        table = Table(title=f"Synthetic world written to {self.out}", show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("customers", f"{self.customers:,}")
        table.add_row(
            "events", f"{self.events:,} ({self.events / max(self.customers, 1):.0f} per customer)"
        )
        for name, count in self.events_by_type.items():
            table.add_row(f"  {name}", f"{count:,}")
        table.add_row("churners", f"{self.churners:,}")
        for name, count in self.churners_by_mechanism.items():
            table.add_row(f"  {name}", f"{count:,}")
        table.add_row("events from", str(self.first_event))
        table.add_row("events to", str(self.last_event))
        table.add_row("ground truth", str(self.out / "truth") if self.truth else "not written")
        table.add_row("seconds", f"{self.seconds:.1f}")
        return table

    def __str__(self) -> str:
        counts = f"{self.customers} customers, {self.events} events, {self.churners} churners"
        return f"{counts} in {self.out}"


def _session_ids(session: np.ndarray) -> pa.Array:
    """Session numbers as strings like S000000001234; -1 becomes null."""
    numbers = pa.array(session, mask=session < 0)
    padded = pc.utf8_lpad(pc.cast(numbers, pa.string()), width=13, padding="0")
    return pc.binary_join_element_wise("S", padded, "")


def events_table(ids: pa.Array, batch: ev.Batch) -> pa.Table:
    """Arrow table in the data contract's types."""
    types = {column.name: column.type for column in EVENTS.columns}
    return pa.table(
        {
            "customer_id": ids.take(pa.array(batch.customer)),
            "ts": pa.array(batch.ts, types["ts"]),
            "event": pa.array(list(EVENT_NAMES), types["event"]).take(pa.array(batch.code)),
            "value": pa.array(batch.value, types["value"], from_pandas=True),
            "session_id": _session_ids(batch.session),
        }
    )


def simulate_chunk(
    chunk: int,
    first: int,
    n: int,
    total: int,
    seed: np.random.SeedSequence,
    campaigns: np.ndarray,
    spec: WorldSpec,
    staging: Path,
    truth: bool,
    treatment: Treatment | None = None,
) -> ChunkResult:
    """Simulate customers [first, first + n) and write their events (and truth) part files;
    with a `treatment`, the world continues from its day with the campaign applied."""
    rng = np.random.default_rng(seed)
    pop = draw_population(rng, first, n, spec)
    latent = simulate_latent(rng, pop, spec)
    base = chunk * SESSIONS_PER_CHUNK
    batch = ev.simulate_events(rng, pop, latent, spec, campaigns, base)
    ids = pa.array(customer_ids(pop.index, total), CUSTOMERS.column("customer_id").type)
    untreated = None
    if treatment is not None:
        untreated = campaign_hazard(ids, pop, latent, treatment, spec)
        latent, batch = continue_treated(
            seed, pop, latent, batch, treatment, spec, campaigns, base + REPLAY_SESSIONS
        )

    name = f"part-{chunk:05d}.parquet"
    pq.write_table(events_table(ids, batch), staging / "events" / name, **PARQUET_OPTIONS)
    truth_rows = None
    if truth:
        pq.write_table(
            hazard_table(ids, latent, spec), staging / "truth" / "hazard" / name, **PARQUET_OPTIONS
        )
        truth_rows = customer_truth(ids, pop, latent, spec)
    customers = pa.table(
        {
            "customer_id": ids,
            "signup_at": pa.array(pop.signup_us, CUSTOMERS.column("signup_at").type),
            "plan": pa.array(np.asarray(spec.plans, dtype=object)[pop.plan], pa.string()),
            "plan_price": pa.array(pop.price, pa.float64()),
            "country": pa.array(np.asarray(spec.countries, dtype=object)[pop.country], pa.string()),
        }
    )
    churned = latent.churn_us < spec.end_us
    return ChunkResult(
        customers=customers,
        truth=truth_rows,
        event_counts=np.bincount(batch.code, minlength=len(EVENT_NAMES)),
        churners=np.bincount(latent.mechanism[churned], minlength=len(MECHANISMS)),
        first_ts=int(batch.ts.min()) if len(batch.ts) else spec.end_us,
        last_ts=int(batch.ts.max()) if len(batch.ts) else spec.start_us,
        treatment=untreated,
    )


def _workers(requested: int | None, chunks: int) -> int:
    """Process count: as asked, else one per core once there are enough chunks to pay for it."""
    if requested is not None:
        return max(1, min(requested, chunks))
    # A spawned worker costs ~2 s of imports: below ~8 chunks one process is as fast.
    return 1 if chunks < 8 else max(1, min(os.cpu_count() or 1, chunks))


def write_world(
    out: Path | str,
    customers: int,
    seed: int = 1,
    *,
    truth: bool = True,
    workers: int | None = None,
    chunk_size: int | None = None,
    spec: WorldSpec | None = None,
    campaign: Campaign | None = None,
) -> WorldSummary:
    """Simulate `customers` customers and write customers, events parts and truth to `out`
    (the truth's `world.json` holds the seed, size and spec that regenerate the world). A
    `campaign` replays the world with it (see `features.synth.replay`)."""
    if customers < 1:
        raise ConfigError(f"synth: --customers must be at least 1, got {customers}")
    spec = spec or WorldSpec()
    if chunk_size is not None:
        spec = replace(spec, chunk_size=chunk_size)
    if spec.chunk_size < 1:
        raise ConfigError(f"synth: chunk size must be at least 1, got {spec.chunk_size}")
    if campaign is not None and not truth:
        raise ConfigError("replay: a campaign is written with its ground truth")
    out = Path(out)
    check_owned(out)  # before minutes of simulation, not after
    began = time.perf_counter()
    starts = list(range(0, customers, spec.chunk_size))
    sizes = [min(spec.chunk_size, customers - s) for s in starts]
    children = np.random.SeedSequence(seed).spawn(len(starts) + 1)
    campaigns = ev.campaign_days(np.random.default_rng(children[0]), spec)
    n_workers = _workers(workers, len(starts))
    log.info(
        "simulating %s customers in %d chunks with %d worker(s), seed %d",
        f"{customers:,}", len(starts), n_workers, seed,
    )  # fmt: skip

    writer = "churn data synth" if campaign is None else "churn data replay"
    with atomic_directory(out, writer) as staging:
        (staging / "events").mkdir()
        if truth:
            (staging / "truth" / "hazard").mkdir(parents=True)
            record = {"seed": seed, "customers": customers, "spec": asdict(spec)}
            (staging / "truth" / "world.json").write_text(json.dumps(record, indent=1) + "\n")
        jobs = [
            (k, s, n, customers, children[k + 1], campaigns, spec, staging, truth)
            + ((campaign.chunk(s, n),) if campaign is not None else ())
            for k, (s, n) in enumerate(zip(starts, sizes, strict=True))
        ]
        results = _run(jobs, n_workers)
        pq.write_table(
            pa.concat_tables([r.customers for r in results]),
            staging / "customers.parquet",
            **PARQUET_OPTIONS,
        )
        if truth:
            pq.write_table(
                pa.concat_tables([r.truth for r in results if r.truth is not None]),
                staging / "truth" / "customers.parquet",
                **PARQUET_OPTIONS,
            )
        if campaign is not None:
            hazard = pa.concat_tables([r.treatment for r in results if r.treatment is not None])
            rows, planted = campaign_truth(campaign, hazard.to_pandas())
            rows.to_parquet(staging / "truth" / "treatment.parquet", index=False)
            (staging / "truth" / "campaign.json").write_text(json.dumps(planted, indent=1) + "\n")
    counts = np.sum([r.event_counts for r in results], axis=0)
    churners = np.sum([r.churners for r in results], axis=0)
    summary = WorldSummary(
        out=out,
        customers=customers,
        events_by_type={name: int(c) for name, c in zip(EVENT_NAMES, counts, strict=True)},
        churners_by_mechanism={
            m: int(c) for m, c in zip(MECHANISMS[1:], churners[1:], strict=True)
        },
        first_event=pd.Timestamp(min(r.first_ts for r in results), unit="us", tz="UTC"),
        last_event=pd.Timestamp(max(r.last_ts for r in results), unit="us", tz="UTC"),
        seconds=time.perf_counter() - began,
        truth=truth,
    )
    log.info("wrote %s events for %s customers to %s", f"{summary.events:,}", f"{customers:,}", out)
    return summary


def _log_chunk(done: int, total: int, result: ChunkResult) -> None:
    log.info(
        "chunk %d/%d: %s customers, %s events",
        done, total, f"{result.customers.num_rows:,}", f"{int(result.event_counts.sum()):,}",
    )  # fmt: skip


def _run(jobs: list[tuple], n_workers: int) -> list[ChunkResult]:
    """Simulate every chunk, in order, in-process or in a pool of fresh processes."""
    if n_workers == 1:
        results = []
        for job in jobs:
            results.append(simulate_chunk(*job))
            _log_chunk(len(results), len(jobs), results[-1])
        return results
    # Fresh (spawned) processes: forking a process that holds Arrow thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        futures = [pool.submit(simulate_chunk, *job) for job in jobs]
        results = []
        try:
            for future in futures:
                results.append(future.result())
                _log_chunk(len(results), len(jobs), results[-1])
        except BaseException:
            # Fail fast: do not simulate the remaining chunks of a world that will not be written.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return results
