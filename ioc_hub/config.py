"""Settings, read from the environment with the ``IOC_HUB_`` prefix."""

from datetime import timedelta
from functools import cached_property
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ioc_hub.kit.periods import Cadence


class Settings(BaseSettings):
    """Everything the hub can be told from outside; each field is one environment variable."""

    model_config = SettingsConfigDict(env_prefix="IOC_HUB_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./ioc_hub.db"
    """SQLAlchemy URL: ``sqlite+aiosqlite:///file.db`` or ``postgresql+asyncpg://user@host/db``."""

    timezone: str = "Asia/Ho_Chi_Minh"
    """IANA time zone of the province: periods start at its local midnight."""

    province_code: str = "74"
    """Code of the root unit (the provincial IOC itself)."""

    max_batch: int = Field(default=10_000, ge=1)
    """Most rows one push may carry."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest request body accepted; larger ones get 413 before they are read whole."""

    db_pool_size: int = Field(default=10, ge=1)
    """Connections each process keeps open to PostgreSQL."""

    db_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a request waits for a database connection or statement before answering 503."""

    read_database_url: str | None = None
    """A streaming standby of ``database_url`` (``postgresql+asyncpg://…``) that read-heavy
    routes use while it keeps up (docs/design.md §7, Read replica). PostgreSQL only."""

    read_max_lag_seconds: float = Field(default=5.0, ge=0.5)
    """How far behind the primary the standby may be for reads to use it; further behind,
    unreachable or slow to hand out a connection, reads go to the primary."""

    grace_daily: timedelta = timedelta(days=1)
    """Time after a daily period's end before it is due (docs/design.md §4)."""

    grace_weekly: timedelta = timedelta(days=2)
    """Time after a weekly period's end before it is due."""

    grace_monthly: timedelta = timedelta(days=5)
    """Time after a monthly period's end before it is due."""

    grace_quarterly: timedelta = timedelta(days=15)
    """Time after a quarterly period's end before it is due."""

    grace_yearly: timedelta = timedelta(days=30)
    """Time after a yearly period's end before it is due."""

    idempotency_ttl: timedelta = timedelta(days=1)
    """How long a push's ``Idempotency-Key`` and its first response are remembered."""

    stream_retention: int = Field(default=10_000, ge=1)
    """Recent events each process keeps, so a stream client reconnecting with `Last-Event-ID`
    resumes without loss."""

    stream_keepalive_seconds: float = Field(default=15.0, gt=0)
    """Longest silence on an event stream before a comment line keeps the connection open."""

    upload_max_rows: int = Field(default=20_000, ge=1)
    """Most rows, blank ones included, read from one sheet or CSV upload; beyond, 413. Rows that
    carry a value are bounded by ``max_batch`` as a push's are."""

    upload_max_columns: int = Field(default=64, ge=8)
    """Widest sheet an upload may declare, in columns; wider, 413."""

    upload_max_unzipped_bytes: int = Field(default=16 * 1024 * 1024, ge=1024 * 1024)
    """Most bytes an XLSX upload may unpack to, all its parts together; more, 413 (a zip
    bomb), judged from the archive's directory before anything is unpacked."""

    upload_max_shared_strings_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    """Largest table of shared strings an XLSX upload may unpack; larger, 413. openpyxl holds
    the whole table in memory, at about 15 times its size in the file for short strings; a
    form repeats its few texts (codes, names, periods), so its table stays small."""

    upload_max_zip_ratio: float = Field(default=200.0, ge=10.0)
    """Highest compression ratio of any part of an XLSX upload; higher, 413. Spreadsheet XML
    packs 5 to 50 times; a bomb packs thousands of times."""

    upload_max_zip_entries: int = Field(default=1000, ge=16)
    """Most parts an XLSX upload may hold; more, 413 (read from the archive's end record, before
    its directory is loaded)."""

    owed_keeper: bool = True
    """Whether this process keeps the owed series that coverage and staleness read
    (docs/design.md §4). Off everywhere, they expand the obligations on every call."""

    alert_evaluator: bool = True
    """Whether this process takes part in evaluating alert rules. One process evaluates at a
    time whatever this says (docs/design.md §9); turned off, a process never does."""

    alert_interval_seconds: float = Field(default=60.0, gt=0)
    """How often the evaluating process runs every alert rule, and how often the others try to
    take over from it: the longest a dead evaluator goes unreplaced."""
    # --- webhooks (docs/design.md §9, Webhooks) ---
    webhooks_dispatcher: bool = True
    """Whether this process delivers webhook notifications. Any number of processes may; turned
    off, a process still writes notifications to the outbox and leaves them to the others."""

    webhooks_allow_private: bool = False
    """Let webhook URLs reach loopback, private, link-local and reserved addresses. Off: such
    URLs are refused when registered, and checked again before every delivery."""

    webhooks_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    """How long one delivery attempt may take, name lookup and answer included."""

    webhooks_retry_schedule: tuple[float, ...] = Field(
        default=(0, 5, 300, 1800, 7200, 18000, 36000, 36000), min_length=1
    )
    """Seconds to wait before each attempt after the one before: immediately, 5 s, 5 min,
    30 min, 2 h, 5 h, 10 h, 10 h. The first is 0 (a notification goes out as soon as it is
    committed); each other wait gets up to a tenth more or less (jitter)."""

    webhooks_disable_after: timedelta = timedelta(days=5)
    """An endpoint whose every attempt failed for this long is disabled."""

    webhooks_concurrency: int = Field(default=16, ge=1, le=256)
    """Deliveries in flight at once to one endpoint (each endpoint has its own)."""

    webhooks_poll_seconds: float = Field(default=1.0, gt=0)
    """How often the dispatcher looks for deliveries that other processes wrote or that fell
    due; what this process writes it delivers at once."""
    # --- data quality (docs/design.md §9) ---
    outlier_flagging: bool = True
    """Score each new or changed value against its series' baseline as ingest stores it, and
    flag the improbable ones (never rejected). All processes of one database must agree."""

    outlier_algorithm: Literal["z_score", "modified_z"] = "modified_z"
    """How ingest scores a value: ``modified_z`` (median and MAD) or ``z_score`` (mean and sd)."""

    outlier_threshold: float = Field(default=3.0, ge=0)
    """Ingest flags a value whose score is above this."""

    outlier_min_points: int = Field(default=8, ge=2)
    """Values a baseline must hold before anything is judged against it (ingest and the
    outliers route alike)."""

    outlier_baseline_months: int = Field(default=12, ge=1, le=120)
    """Ingest's baseline: the series' values in this many calendar months before the month a
    value's period starts in."""

    log_level: str = "info"
    """Log level of the server."""

    opentelemetry: bool = False
    """FastAPI's own OpenTelemetry spans, metrics and logs of each request, sent to the providers
    set up in the process (say by ``opentelemetry-instrument``). Off unless asked for: the hub's
    metrics are Prometheus (``/metrics``), and when on, FastAPI looks the providers up on every
    request."""

    @field_validator("webhooks_retry_schedule")
    @classmethod
    def _waits_not_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if value[0] != 0:
            raise ValueError("the first attempt is made at once: the schedule starts with 0")
        if any(wait < 0 for wait in value):
            raise ValueError("a wait between webhook attempts cannot be negative")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "database_url must use an async driver: sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator("read_database_url")
    @classmethod
    def _postgres_standby(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("postgresql+asyncpg://"):
            raise ValueError("read_database_url must be a postgresql+asyncpg:// URL")
        return value

    @model_validator(mode="after")
    def _replica_needs_postgres(self) -> Self:
        if self.read_database_url is not None and self.is_sqlite:
            raise ValueError(
                "read_database_url is set but database_url is SQLite, which has no replicas: "
                "unset IOC_HUB_READ_DATABASE_URL, or use PostgreSQL"
            )
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def grace(self, cadence: Cadence, override_seconds: int | None = None) -> timedelta:
        """The grace of a cadence (docs/design.md §4), or an indicator's own override."""
        if override_seconds is not None:
            return timedelta(seconds=override_seconds)
        grace: timedelta = getattr(self, f"grace_{cadence.value}")
        return grace
