"""The plant configuration file (YAML), validated into typed models.

Errors name the file, the key path and, where YAML knows it, the line, and
nothing starts on an invalid file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """The plant configuration is invalid; the message says where and why."""


# A command older than this is no longer the answer to what the machine does now.
MAX_RULE_DEADLINE_S = 300.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Security(_Model):
    """OPC UA security of one endpoint. Secrets come from environment variables, never the file."""

    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    policy: Literal["None", "Basic256Sha256"] = "None"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    username_env: str | None = None
    password_env: str | None = None
    # Must equal the URI inside ``certificate`` (``factory certs`` writes both).
    application_uri: str = "urn:factory:adapter"

    @model_validator(mode="after")
    def _consistent(self) -> "Security":
        if (self.mode == "None") != (self.policy == "None"):
            raise ValueError("mode and policy must both be None or both set")
        if self.mode != "None" and (self.certificate is None or self.private_key is None):
            raise ValueError("Sign/SignAndEncrypt need certificate and private_key")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("username_env and password_env go together")
        return self

    def credentials(self) -> tuple[str, str] | None:
        """(user, password) read from the environment now, or None for anonymous."""
        if self.username_env is None or self.password_env is None:
            return None
        try:
            return os.environ[self.username_env], os.environ[self.password_env]
        except KeyError as exc:
            raise ConfigError(f"environment variable {exc.args[0]} (OPC UA credentials) is not set") from None


class ReadTag(_Model):
    """A node the ingest adapter reads into telemetry."""

    tag: str
    node: str  # string identifier in the asset's namespace, e.g. "oven-1.temperature"
    sampling_ms: int = Field(default=100, ge=10)
    mode: Literal["subscribe", "poll"] = "subscribe"


class WriteTag(_Model):
    """A node commands may write (the allow-list), with its type and limits."""

    tag: str
    node: str
    type: Literal["float", "int", "bool"]
    min: float | None = None
    max: float | None = None
    # How far a float's read-back may differ from the written value and still count as applied
    # (a PLC that stores a Double as a Real rounds it).
    readback_tolerance: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _limits(self) -> "WriteTag":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class MethodSpec(_Model):
    """An OPC UA method commands may call, on ``object`` (default: the asset's object node)."""

    name: str
    node: str
    object: str | None = None
    # The arguments the method takes, in order (the writer refuses calls that do not match).
    args: list[Literal["float", "int", "bool"]] = Field(default_factory=list)


class Asset(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["oven", "conveyor", "press"]
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    namespace: str
    object: str  # string id of the asset's folder/object node
    security: Security = Security()
    # How often the server sends the subscription's queued changes (default: the smallest sampling_ms).
    # 0 asks for every change at once; asyncua servers grant it, other servers revise it to their minimum.
    publishing_ms: int | None = Field(default=None, ge=0)
    read: list[ReadTag]
    write: list[WriteTag] = []
    methods: list[MethodSpec] = []

    @model_validator(mode="after")
    def _unique(self) -> "Asset":
        for kind, names in (("read tag", [r.tag for r in self.read]), ("write tag", [w.tag for w in self.write]),
                            ("method", [m.name for m in self.methods])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} {', '.join(dupes)}")
        return self

    def writable(self, tag: str) -> WriteTag | None:
        return next((w for w in self.write if w.tag == tag), None)

    def method(self, name: str) -> MethodSpec | None:
        return next((m for m in self.methods if m.name == name), None)


class ThermostatRule(_Model):
    """Hysteresis: output on_value below ``on_below``, off_value above ``off_above``."""

    kind: Literal["thermostat"]
    name: str
    asset: str
    input: str = "temperature"
    output: str = "heater_power"
    on_below: float
    off_above: float
    on_value: float
    off_value: float = 0.0
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    retry_s: float = Field(default=3.0, gt=0)
    # A temperature (or heater value) older than this, in event time, is not acted on.
    stale_s: float = Field(default=30.0, gt=0)
    # On a stale or not-good temperature: switch the heater off (off_value), or hold it.
    on_stale: Literal["off", "hold"] = "off"

    @model_validator(mode="after")
    def _band(self) -> "ThermostatRule":
        if self.on_below >= self.off_above:
            raise ValueError("on_below must be below off_above (the hysteresis band)")
        return self


class InterlockRule(_Model):
    """Write ``value`` to ``upstream.output`` when ``downstream.input`` is one of ``trip_values``."""

    kind: Literal["interlock"]
    name: str
    upstream: str
    downstream: str
    input: str
    trip_values: list[Union[bool, str, float]]
    output: str = "motor_on"
    value: Union[bool, float] = False
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    # A lost downstream (connection lost, or a bad reading of the input) is a trip.
    trip_on_lost: bool = True
    # While tripped, the stop is asserted again this often (event time of downstream events).
    retry_s: float = Field(default=2.0, gt=0)


class AutoResetRule(_Model):
    """Call ``method`` when the asset is in ``state`` and its ``fault_tag`` has cleared."""

    kind: Literal["auto_reset"]
    name: str
    asset: str
    state_tag: str = "state"
    state: str = "faulted"
    fault_tag: str = "fault_active"
    method: str = "reset_fault"
    deadline_s: float = Field(default=5.0, gt=0, le=MAX_RULE_DEADLINE_S)
    retry_s: float = Field(default=3.0, gt=0)
    # The cleared fault must have held this long (event time) before a reset is tried.
    dwell_s: float = Field(default=0.0, ge=0)
    # Resets tried per fault; then the operator decides.
    max_attempts: int = Field(default=3, ge=1)
    # A tag the operator sets True to allow automatic resets (None: no permissive needed).
    permissive_tag: str | None = None


Rule = Annotated[Union[ThermostatRule, InterlockRule, AutoResetRule], Field(discriminator="kind")]


class SimSecurity(_Model):
    """What the simulated PLCs demand: Basic256Sha256 modes, a server certificate, user credentials."""

    modes: list[Literal["Sign", "SignAndEncrypt"]] = ["Sign", "SignAndEncrypt"]
    certificate: Path
    private_key: Path
    application_uri: str = "urn:factory:sim"
    allow_anonymous: bool = False
    username_env: str | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _users(self) -> "SimSecurity":
        if not self.allow_anonymous and (self.username_env is None or self.password_env is None):
            raise ValueError("without allow_anonymous, username_env and password_env must name the credentials")
        return self


class SimSettings(_Model):
    """The simulated plant's clock: ``speed`` simulated seconds pass per wall second."""

    speed: float = Field(default=10.0, gt=0)
    tick_s: float = Field(default=0.05, gt=0)
    security: SimSecurity | None = None


class Operator(_Model):
    """A non-rule origin of commands (a person, an HMI, a script): what it may act on.

    ``targets`` are ``asset.tag`` / ``asset.method`` names, or ``*`` for everything in the
    allow-lists. Commands carry their origin in ``rule``."""

    name: str
    targets: list[str]


class PlantConfig(_Model):
    assets: list[Asset]
    rules: list[Rule] = []
    operators: list[Operator] = []
    sim: SimSettings = SimSettings()

    @model_validator(mode="after")
    def _references(self) -> "PlantConfig":
        ids = [a.id for a in self.assets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate asset id {', '.join(dupes)}")
        by_id = {a.id: a for a in self.assets}
        names = [r.name for r in self.rules] + [o.name for o in self.operators]
        if len(set(names)) != len(names):
            raise ValueError("rule and operator names must be unique")
        for rule in self.rules:
            for ref in _rule_refs(rule):
                if ref[0] not in by_id:
                    raise ValueError(f"rule {rule.name!r} names unknown asset {ref[0]!r}")
                asset = by_id[ref[0]]
                if ref[1] == "write" and asset.writable(ref[2]) is None:
                    raise ValueError(f"rule {rule.name!r} writes {ref[0]}.{ref[2]}, which is not in its write list")
                if ref[1] == "method" and asset.method(ref[2]) is None:
                    raise ValueError(f"rule {rule.name!r} calls {ref[0]}.{ref[2]}, which is not in its methods")
                if ref[1] == "read" and ref[2] not in {r.tag for r in asset.read}:
                    raise ValueError(f"rule {rule.name!r} reads {ref[0]}.{ref[2]}, which is not a read tag")
        return self

    def asset(self, asset_id: str) -> Asset | None:
        return next((a for a in self.assets if a.id == asset_id), None)

    def may_act(self, origin: str, asset_id: str, action: str, target: str) -> bool:
        """Whether commands from ``origin`` (a rule's or an operator's name) may do this.

        A rule may act only on what its own configuration names; an operator on its targets."""
        rule = next((r for r in self.rules if r.name == origin), None)
        if rule is not None:
            kind = "write" if action == "write" else "method"
            return (asset_id, kind, target) in _rule_refs(rule)
        operator = next((o for o in self.operators if o.name == origin), None)
        return operator is not None and ("*" in operator.targets or f"{asset_id}.{target}" in operator.targets)


def _rule_refs(rule) -> list[tuple[str, str, str]]:
    if isinstance(rule, ThermostatRule):
        return [(rule.asset, "read", rule.input), (rule.asset, "write", rule.output)]
    if isinstance(rule, InterlockRule):
        return [(rule.downstream, "read", rule.input), (rule.upstream, "write", rule.output)]
    return [(rule.asset, "read", rule.state_tag), (rule.asset, "read", rule.fault_tag),
            (rule.asset, "method", rule.method)]


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key (for error messages)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode):
    mapping = loader.construct_mapping(node, deep=True)
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return _Located(mapping, lines, node.start_mark.line + 1)


class _Located(dict):
    def __init__(self, data: dict, key_lines: dict, line: int):
        super().__init__(data)
        self.key_lines = key_lines
        self.line = line


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(doc, loc: tuple) -> int | None:
    node, line = doc, getattr(doc, "line", None)
    for part in loc:
        if isinstance(node, _Located) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def load_plant(path: Path | str) -> PlantConfig:
    """Read and validate the plant file; raise ``ConfigError`` naming file, line and key on any problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read plant configuration: {exc.strerror}") from None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with 'assets' (and 'rules')")
    try:
        return PlantConfig.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("thermostat", "interlock", "auto_reset")))
            where = ".".join(str(p) for p in loc) or "(top level)"
            line = _line_of(doc, loc)
            problems.append(f"{path}:{line if line else '?'}: {where}: {err['msg']}")
        raise ConfigError("invalid plant configuration:\n  " + "\n  ".join(problems)) from None
