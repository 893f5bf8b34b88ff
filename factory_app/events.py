"""The event contract: every event the system writes or reads, in one place.

Events are msgspec Structs encoded as JSON with a ``type`` tag and a schema
version ``v``. Decoding validates types in one pass; anything that does not
decode is a ``DecodeFailure`` with a short machine-readable reason, which the
agents turn into a dead-letter event carrying the raw bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Annotated, Literal, Union

import msgspec

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
# No event of this system is near this size; anything larger is a mistake or an attack.
MAX_EVENT_BYTES = 64 * 1024

# Logical topic names; Settings.topic() adds the deployment's prefix.
TELEMETRY = "telemetry"          # Telemetry and StateTransition, key = asset id
OPERATOR_ACTIONS = "operator-actions"  # ModeChange, key = asset id (operators', never the ingest adapter's)
COMMANDS = "commands"            # Command, key = asset id
COMMAND_RESULTS = "command-results"  # CommandResult, key = asset id
COMMAND_INTENTS = "command-intents"  # CommandIntent, key = asset id (the writer's, before each write)
DEAD_LETTER = "dead-letter"      # DeadLetter, key = the bad message's key
SHADOW_COMMANDS = "commands-shadow"  # Command, key = asset id: a shadow rule set's (never read by the writer)
SOURCE_TOPICS = (TELEMETRY, OPERATOR_ACTIONS, COMMANDS, COMMAND_RESULTS, COMMAND_INTENTS, DEAD_LETTER, SHADOW_COMMANDS)

# What a value may be. Anything outside is refused at decode time (reason ``invalid``), so
# what reaches a table can always be stored, changelogged and replayed as it was read:
# integers fit in 64 bits (RocksDB/JSON round trip; the PLC's own Int64), floats are finite
# (JSON has no NaN/Inf; checked in __post_init__) and at most FLOAT_ABS_MAX in magnitude (a
# window's sum of them cannot overflow to Inf), text is at most MAX_TEXT_CHARS characters.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
FLOAT_ABS_MAX = 1e300
MAX_TEXT_CHARS = 1024
Int64 = Annotated[int, msgspec.Meta(ge=INT_MIN, le=INT_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
Scalar = Union[bool, Int64, float, Text]
# Event time bounds (epoch seconds): from 1970 to the year 3000. Beyond them float arithmetic
# on times loses the window size (at 1e300, start + 10 == start) and no PLC clock is right.
EVENT_TIME_MIN, EVENT_TIME_MAX = 0.0, 32503680000.0

# Identifiers (asset ids, tags, event ids, rule names, targets) are what table keys, URLs,
# metric labels and log lines are made of: a letter or digit, then letters, digits and
# ``_ . : -``, at most MAX_ID_CHARS. No separators of keys or paths, no whitespace or
# control characters. A message that breaks this is dead-lettered with ``invalid_id``.
MAX_ID_CHARS = 128
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,%d}" % (MAX_ID_CHARS - 1))
_ID_ERROR = "invalid id"


def valid_id(value: str) -> bool:
    """True when ``value`` is a valid identifier (see ID_PATTERN)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def _check_ids(event, *fields: str) -> None:
    for name in fields:
        value = getattr(event, name)
        if not valid_id(value):
            raise ValueError(f"{_ID_ERROR}: {name} {value[:40]!r} must match {ID_PATTERN.pattern}")


Quality = Literal["good", "uncertain", "bad"]
# What the command writer knows of a command (docs/safety.md): applied (written, read back
# equal within the tag's tolerance; or a method call returned Good), applied_unverified
# (written, read-back failed), applied_mismatch (written, read back different), rejected
# (failed the writer's checks; nothing sent), expired (deadline passed; nothing sent),
# not_sent (fenced, or the session failed before sending), refused (the PLC answered Bad: not applied), unknown (sent,
# no answer: it may have landed; never retried). "failed" is kept for logs written before
# these statuses existed: the log is kept forever and must still decode.
CommandStatus = Literal["applied", "applied_unverified", "applied_mismatch", "rejected", "expired", "not_sent",
                        "refused", "unknown", "conflict", "failed"]
# ``conflict`` is not the fate of a command: it reports that a second, different command
# arrived under an id the writer had already handled (it was not applied). Its event id is
# ``<command_id>:conflict:<digest>``; the original's result stands.


class Event(msgspec.Struct, tag_field="type", kw_only=True, frozen=True):
    """Fields every event carries. ``event_time`` is the event's own time (epoch seconds)."""

    event_id: str
    asset_id: str
    event_time: float
    v: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check_ids(self, "event_id", "asset_id")
        if not EVENT_TIME_MIN <= self.event_time < EVENT_TIME_MAX:  # also refuses NaN
            raise ValueError(f"event_time {self.event_time!r} is outside [{EVENT_TIME_MIN}, {EVENT_TIME_MAX})")


class Telemetry(Event, tag="telemetry", kw_only=True, frozen=True):
    """One sample of one tag, as the PLC reported it (``event_time`` = source timestamp)."""

    tag: str
    value: Scalar
    quality: Quality = "good"
    seq: Int64 = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ids(self, "tag")
        if isinstance(self.value, float) and not abs(self.value) <= FLOAT_ABS_MAX:  # also refuses NaN
            raise ValueError(f"value {self.value!r} is not a finite number within +/-{FLOAT_ABS_MAX}")


class StateTransition(Event, tag="state", kw_only=True, frozen=True):
    """An asset changed state, as its ingest adapter saw it: its connection
    (``kind='connection'``) or its machine state (``kind='machine'``). An operator's mode
    change is a ``ModeChange`` on the operator-actions topic: one on telemetry, where the
    ingest adapter writes, is not decodable (dead-lettered), so no PLC-facing principal can
    take the rules off an asset."""

    kind: Literal["connection", "machine"]
    to_state: Text
    from_state: Text | None = None
    reason: Text = ""


class ModeChange(Event, tag="mode_change", kw_only=True, frozen=True):
    """An operator handed an asset to manual (the control rules stand aside and the writer
    refuses their commands, interlocks excepted) or back to auto. On the operator-actions
    topic, with the operator's name as the plant file knows it."""

    mode: Literal["auto", "manual"]
    operator: str
    reason: Text = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ids(self, "operator")


class Command(Event, tag="command", kw_only=True, frozen=True):
    """A control decision. ``command_id`` is derived from (rule, cause) so replays repeat it."""

    command_id: str
    action: Literal["write", "call"]
    target: str  # tag name for a write, method name for a call
    value: Scalar | None = None
    args: tuple[Scalar, ...] = ()
    cause_event_id: str
    rule: str
    deadline: float  # event-time seconds after which the writer must refuse it

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ids(self, "command_id", "target", "cause_event_id", "rule")


class CommandResult(Event, tag="command_result", kw_only=True, frozen=True):
    """What the command writer did with a command."""

    command_id: str
    status: CommandStatus
    detail: Text = ""
    rule: Text = ""
    readback: Scalar | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ids(self, "command_id")


class CommandIntent(Event, tag="command_intent", kw_only=True, frozen=True):
    """The command writer is about to act on a command (on the command-intents topic).

    Committed to the log before the write, in a transaction a newer writer fences: any
    writer, even one whose local ledger is lost, then knows the command may have been
    applied and never applies it again."""

    command_id: str
    rule: Text = ""
    writer: Text = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_ids(self, "command_id")


AnyEvent = Union[Telemetry, StateTransition, ModeChange, Command, CommandResult, CommandIntent]


class DeadHeader(msgspec.Struct, kw_only=True, frozen=True):
    """One record header of a dead-lettered message: its name and value cut, with their real sizes."""

    name: str
    value_b64: str
    size: int
    sha256: str
    truncated: bool = False


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A message no processor could use: why, where it is, and a bounded copy of its bytes.

    Whatever the message, a dead letter stays under ``DEAD_LETTER_MAX_BYTES`` (a record at the
    topic's size limit must not make one its producer refuses): key, value and headers are cut
    to their copy limits, with their full sizes and SHA-256 digests beside them. The whole
    message stays in its source topic at (topic, partition, offset)."""

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None
    raw_b64: str
    consumer: str
    # The copy keeps the first DEAD_VALUE_COPY_BYTES of the value (True: there was more).
    raw_truncated: bool = False
    raw_size: int = 0
    raw_sha256: str = ""
    key_size: int | None = None
    key_sha256: str | None = None
    key_truncated: bool = False
    headers: tuple[DeadHeader, ...] = ()
    headers_count: int = 0  # the message's; ``headers`` keeps the first DEAD_HEADERS_COPIED
    v: int = SCHEMA_VERSION

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.raw_b64)

    @property
    def key(self) -> bytes | None:
        return None if self.key_b64 is None else base64.b64decode(self.key_b64)


# What a dead letter copies of a message (see DeadLetter). Every valid key (an asset id) and
# every event the contract accepts fits whole; only hostile or broken messages are cut.
DEAD_KEY_COPY_BYTES = 1024
DEAD_VALUE_COPY_BYTES = MAX_EVENT_BYTES
DEAD_HEADERS_COPIED = 16
DEAD_HEADER_NAME_CHARS = 256
DEAD_HEADER_VALUE_COPY_BYTES = 1024
DEAD_DETAIL_CHARS = 500
# The bound those limits give an encoded dead letter (base64 is 4/3 of the bytes; names and
# JSON framing are a few hundred bytes each), far under the producers' 1 MiB request limit.
DEAD_LETTER_MAX_BYTES = 160 * 1024


# Every reason a message can be dead-lettered for (a bounded metric label set).
DEAD_LETTER_REASONS = ("undecodable", "invalid", "invalid_id", "unknown_schema_version", "unexpected_type",
                       "key_mismatch", "empty", "oversized", "clock_skew", "processing_error")


class DecodeFailure(Exception):
    """Raised by ``decode`` with a short ``reason`` (for metrics) and a human ``detail``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Envelope(msgspec.Struct):
    v: int = SCHEMA_VERSION
    type: str = ""


_decoder = msgspec.json.Decoder(AnyEvent)
_envelope = msgspec.json.Decoder(_Envelope)
_encoder = msgspec.json.Encoder()


def encode(event: AnyEvent | DeadLetter) -> bytes:
    """Serialize an event to its wire form (JSON, fields in declaration order)."""
    return _encoder.encode(event)


def decode(raw: bytes | None, expect: tuple[type, ...] | None = None) -> AnyEvent:
    """Parse and validate one message value; raise ``DecodeFailure`` saying why it is unusable.

    ``expect`` limits the accepted event types (a Command on the telemetry topic
    is a routing mistake, not telemetry).
    """
    if not raw:
        raise DecodeFailure("empty", "message has no value")
    if len(raw) > MAX_EVENT_BYTES:
        raise DecodeFailure("oversized", f"{len(raw)} bytes is over the {MAX_EVENT_BYTES}-byte event limit")
    try:
        event = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise _classify(raw, exc) from None
    if event.v not in SUPPORTED_VERSIONS:
        raise DecodeFailure("unknown_schema_version",
                            f"schema version {event.v!r} is not one of {sorted(SUPPORTED_VERSIONS)}")
    if expect is not None and not isinstance(event, expect):
        names = ", ".join(t.__name__ for t in expect)
        raise DecodeFailure("unexpected_type", f"{type(event).__name__} where {names} was expected")
    return event


def _classify(raw: bytes, exc: msgspec.DecodeError) -> DecodeFailure:
    # Only on the slow path: tell "not JSON" from "newer schema" from "wrong fields".
    try:
        env = _envelope.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return DecodeFailure("undecodable", str(exc))
    if env.v not in SUPPORTED_VERSIONS:
        return DecodeFailure("unknown_schema_version", f"schema version {env.v!r} is not one of {sorted(SUPPORTED_VERSIONS)}")
    if str(exc).startswith(_ID_ERROR):
        return DecodeFailure("invalid_id", str(exc))
    return DecodeFailure("invalid", str(exc))


def check_key(key: bytes | None, event: AnyEvent) -> None:
    """Raise ``DecodeFailure`` unless the message key is the event's asset id.

    A wrong key puts the event on another asset's partition, where its
    projection would be updated out of order with the asset's other events.
    """
    if key is None or key != event.asset_id.encode():
        shown = "None" if key is None else repr(key[:MAX_ID_CHARS * 2]) + ("..." if len(key) > MAX_ID_CHARS * 2 else "")
        raise DecodeFailure("key_mismatch", f"key {shown} is not asset id {event.asset_id!r}")


def decode_keyed(key: bytes | None, raw: bytes | None, expect: tuple[type, ...]) -> AnyEvent:
    """``decode`` plus ``check_key``: what every consumer of a keyed topic does first."""
    event = decode(raw, expect=expect)
    check_key(key, event)
    return event


def check_clock(event: AnyEvent, log_time: float | None, max_ahead_s: float) -> None:
    """Raise ``DecodeFailure('clock_skew')`` when ``event_time`` is ahead of its record's log time.

    ``log_time`` is the Kafka record timestamp (epoch seconds): when the event was appended
    (the appending producer's clock; the broker's with LogAppendTime). It is in the log, so
    live processing and every replay decide alike. A PLC whose clock runs ahead would
    otherwise occupy its tag's window retention with future windows and make every correct
    sample "late". Samples behind their log time are not refused: late data is legitimate
    (buffered PLCs) and cannot occupy the future.
    """
    if log_time is not None and log_time > 0 and event.event_time > log_time + max_ahead_s:
        raise DecodeFailure("clock_skew", f"event_time {event.event_time:.3f} is {event.event_time - log_time:.1f} s "
                                          f"ahead of its log time {log_time:.3f} (tolerance {max_ahead_s} s)")


def decode_source(key: bytes | None, raw: bytes | None, log_time: float | None,
                  expect: tuple[type, ...], max_ahead_s: float) -> AnyEvent:
    """What every processor of a source topic does with a record, live and in replay alike."""
    event = decode_keyed(key, raw, expect)
    check_clock(event, log_time, max_ahead_s)
    return event


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dead_header(name, value) -> DeadHeader:
    name = name if isinstance(name, str) else bytes(name or b"").decode("utf-8", "replace")
    value = bytes(value or b"")
    return DeadHeader(name=name[:DEAD_HEADER_NAME_CHARS], value_b64=_b64(value[:DEAD_HEADER_VALUE_COPY_BYTES]),
                      size=len(value), sha256=_sha256(value),
                      truncated=len(value) > DEAD_HEADER_VALUE_COPY_BYTES or len(name) > DEAD_HEADER_NAME_CHARS)


def dead_letter(failure: DecodeFailure, *, topic: str, partition: int, offset: int,
                key: bytes | None, raw: bytes | None, consumer: str, headers=()) -> DeadLetter:
    """Build the (bounded: see DeadLetter) dead-letter event for a message that failed to decode."""
    raw = raw or b""
    headers = list(headers or ())
    return DeadLetter(
        reason=failure.reason, detail=failure.detail[:DEAD_DETAIL_CHARS], topic=topic, partition=partition,
        offset=offset, key_b64=_b64(key[:DEAD_KEY_COPY_BYTES]) if key is not None else None,
        raw_b64=_b64(raw[:DEAD_VALUE_COPY_BYTES]), consumer=consumer,
        raw_truncated=len(raw) > DEAD_VALUE_COPY_BYTES, raw_size=len(raw), raw_sha256=_sha256(raw),
        key_size=None if key is None else len(key), key_sha256=None if key is None else _sha256(key),
        key_truncated=key is not None and len(key) > DEAD_KEY_COPY_BYTES,
        headers=tuple(_dead_header(n, v) for n, v in headers[:DEAD_HEADERS_COPIED]), headers_count=len(headers),
    )


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The record key of a message's dead letter: its own key (it lands beside its asset's other
    events), cut like the copy (a key at the topic's size limit cannot be sent again)."""
    return None if key is None else key[:DEAD_KEY_COPY_BYTES]


def command_digest(cmd: Command) -> str:
    """Digest of what a command asks for (not when it was stamped): two commands with one id
    and different digests are a conflict, not a duplicate."""
    what = (cmd.asset_id, cmd.action, cmd.target, cmd.value, list(cmd.args), cmd.cause_event_id, cmd.rule,
            cmd.deadline)
    return hashlib.sha256(_encoder.encode(what)).hexdigest()[:16]


def command_id(rule: str, cause_event_id: str, target: str) -> str:
    """Deterministic command id: the same rule reacting to the same event gives the same id."""
    digest = hashlib.sha256(f"{rule}\x00{cause_event_id}\x00{target}".encode()).hexdigest()
    return f"cmd-{digest[:24]}"


def decode_dead_letter(raw: bytes) -> DeadLetter:
    """Parse a dead-letter event (used by tools and tests that read that topic)."""
    return msgspec.json.decode(raw, type=DeadLetter)
