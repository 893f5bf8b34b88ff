"""The plant: its assets (endpoints, tags, allow-lists and facts), operators and the simulated plant."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from factory_app.config.base import ConfigError
from factory_app.config.base import Strict as _Model
from factory_app.config.rules import Rule, rule_acts, rule_refs
from factory_app.rules.registry import kinds
from factory_app.sim.physics import PARAMETERS


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
        if self.mode != "None" and self.server_certificate is None:
            # Without it the client takes whatever certificate answers: nothing authenticates
            # the PLC, and a man in the middle would get the commands and the user's password.
            raise ValueError("Sign/SignAndEncrypt need server_certificate (the PLC's own certificate, DER or PEM, "
                             "e.g. exported from the PLC, or `factory certs` for the simulated ones): "
                             "without it nothing authenticates the PLC and a man in the middle would "
                             "receive the commands and the password")
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
    # For people (the plant view): the value's unit, and whether True means an open fault.
    unit: str | None = None
    fault: bool = False


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


class MethodArg(_Model):
    """One argument of a method: its type and, for numbers, its limits (the writer refuses others)."""

    type: Literal["float", "int", "bool"]
    min: float | None = None
    max: float | None = None


class MethodSpec(_Model):
    """An OPC UA method commands may call, on ``object`` (default: the asset's object node)."""

    name: str
    node: str
    object: str | None = None
    # The arguments the method takes, in order (the writer refuses calls that do not match): a
    # type ("float", "int", "bool") or {type, min, max}.
    args: list[Literal["float", "int", "bool"] | MethodArg] = Field(default_factory=list)

    @property
    def arg_specs(self) -> list[MethodArg]:
        return [MethodArg(type=a) if isinstance(a, str) else a for a in self.args]

    @property
    def arg_types(self) -> list[str]:
        return [a.type for a in self.arg_specs]


AssetKind = Literal["oven", "conveyor", "press"]


class Production(_Model):
    """What the availability analytic needs to rate a producing machine (performance, quality, OEE)."""

    # The machine's design cycle time: performance = ideal_cycle_s x cycles / running time.
    ideal_cycle_s: float = Field(gt=0)
    # Read tags holding the PLC's monotonic counters (their differences are what was produced).
    cycle_counter: str = "cycle_counter"
    good_counter: str | None = "good_parts"
    bad_counter: str | None = "bad_parts"

    def counters(self) -> tuple[str, ...]:
        return tuple(t for t in (self.cycle_counter, self.good_counter, self.bad_counter) if t is not None)


class AssetType(_Model):
    """Facts every asset of one type shares (``asset_types.<type>``); an asset's own keys win."""

    state_tag: str | None = None
    production: Production | None = None


class Asset(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: AssetKind
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
    # The read tag whose value is the machine's state (idle / running / faulted ...): its changes
    # are also machine StateTransitions. Default: the type's, else a read tag named ``state``.
    state_tag: str | None = None
    # Default: the type's (``asset_types``); None: availability only, no performance or quality.
    production: Production | None = None

    @model_validator(mode="after")
    def _unique(self) -> "Asset":
        for kind, names in (("read tag", [r.tag for r in self.read]), ("write tag", [w.tag for w in self.write]),
                            ("method", [m.name for m in self.methods])):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _facts_name_read_tags(self) -> "Asset":
        tags = {r.tag for r in self.read}
        named = [("state_tag", self.state_tag)]
        if self.production is not None:
            named += [(f"production.{key}", getattr(self.production, key))
                      for key in ("cycle_counter", "good_counter", "bad_counter")]
        for key, tag in named:
            if tag is not None and tag not in tags:
                raise ValueError(f"{key} {tag!r} is not one of the asset's read tags ({', '.join(sorted(tags))})")
        return self

    def writable(self, tag: str) -> WriteTag | None:
        return next((w for w in self.write if w.tag == tag), None)

    def method(self, name: str) -> MethodSpec | None:
        return next((m for m in self.methods if m.name == name), None)


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
    # Per asset id, its model's parameters (factory_app/sim/physics.PARAMETERS), e.g. calibrated
    # from the log by ``factory twin calibrate`` so the simulated machine behaves like the real one.
    models: dict[str, dict[str, float]] = {}
    # Where calibrated parameters came from (the log span, the code version): provenance only.
    calibration: dict[str, Any] = {}


class Operator(_Model):
    """A non-rule origin of commands (a person, an HMI, a script): what it may act on.

    ``targets`` are ``asset.tag`` / ``asset.method`` names, or ``*`` for everything in the
    allow-lists. Commands carry their origin in ``rule``."""

    name: str
    targets: list[str]


class PlantConfig(_Model):
    asset_types: dict[AssetKind, AssetType] = {}
    assets: list[Asset]
    rules: list[Rule] = []
    operators: list[Operator] = []
    sim: SimSettings = SimSettings()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, doc):
        return with_defaults(doc)

    @model_validator(mode="after")
    def _references(self) -> "PlantConfig":
        ids = [a.id for a in self.assets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate asset id {', '.join(dupes)}")
        by_id = {a.id: a for a in self.assets}
        for asset_id, parameters in self.sim.models.items():
            if asset_id not in by_id:
                raise ValueError(f"sim.models names unknown asset {asset_id!r}")
            unknown = set(parameters) - set(PARAMETERS[by_id[asset_id].type])
            if unknown:
                raise ValueError(f"sim.models.{asset_id}: a {by_id[asset_id].type} has no parameter(s) "
                                 f"{', '.join(sorted(unknown))}; it has {', '.join(PARAMETERS[by_id[asset_id].type])}")
        names = [r.name for r in self.rules] + [o.name for o in self.operators]
        if len(set(names)) != len(names):
            raise ValueError("rule and operator names must be unique")
        for rule in self.rules:
            for ref in rule_refs(rule):
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
            return (asset_id, kind, target) in rule_refs(rule)
        operator = next((o for o in self.operators if o.name == origin), None)
        return operator is not None and ("*" in operator.targets or f"{asset_id}.{target}" in operator.targets)

    def allowed_asks(self, origin: str, asset_id: str, action: str, target: str) -> tuple | None:
        """The exact values (a write) or argument tuples (a call) a command from ``origin`` may carry
        on this target, from its rule's configuration (an interlock: its stop value; a thermostat: its
        on and off values; an auto-reset: its method without arguments). None: no such restriction
        (an operator, bounded by the tag's limits; a plug-in kind that does not declare its acts)."""
        rule = next((r for r in self.rules if r.name == origin), None)
        acts = None if rule is None else rule_acts(rule)
        if acts is None:
            return None
        return tuple(v for a, act, t, values in acts if (a, act, t) == (asset_id, action, target) for v in values)

    def may_set_mode(self, operator: str, asset_id: str) -> bool:
        """Whether ``operator`` may hand ``asset_id`` to manual or back: an operator of the plant file
        whose targets include something of that asset (taking an asset from its rules is acting on it)."""
        entry = next((o for o in self.operators if o.name == operator), None)
        return entry is not None and self.asset(asset_id) is not None and (
            "*" in entry.targets or any(t.startswith(f"{asset_id}.") for t in entry.targets))


def with_defaults(doc: Any) -> Any:
    """The raw plant document with each asset's facts filled in from its type (``asset_types``),
    the ``state`` read tag as the default machine-state tag, and each rule's defaults that its
    kind takes from its asset (``RuleKind.fill``: an auto-reset's ``state_tag``). Malformed
    parts are left for validation to name."""
    if not isinstance(doc, dict) or not isinstance(doc.get("assets"), list):
        return doc
    types = doc.get("asset_types") if isinstance(doc.get("asset_types"), dict) else {}
    assets = []
    for raw in doc["assets"]:
        if not isinstance(raw, dict):
            assets.append(raw)
            continue
        asset = dict(raw)
        facts = types.get(asset.get("type"))
        facts = facts if isinstance(facts, dict) else {}
        for key in ("state_tag", "production"):
            if key not in asset and key in facts:
                asset[key] = facts[key]
        reads = asset.get("read") if isinstance(asset.get("read"), list) else []
        if "state_tag" not in asset and any(isinstance(r, dict) and r.get("tag") == "state" for r in reads):
            asset["state_tag"] = "state"
        assets.append(asset)
    by_id = {a.get("id"): a for a in assets if isinstance(a, dict)}
    rules = []
    for raw in doc.get("rules") or []:
        kind = kinds().get(raw.get("kind")) if isinstance(raw, dict) else None
        rules.append(kind.fill(raw, by_id) if kind is not None and kind.fill is not None else raw)
    out = {**doc, "assets": assets}
    if "rules" in doc:
        out["rules"] = rules
    return out
