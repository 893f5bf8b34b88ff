"""Commands an operator sends (``factory command``, the plant view's form): built here, then
appended to the commands topic like a rule's, so the command writer's allow-list, limits,
deadline and ledger apply to them exactly as to every rule's command.

The operator's name (an ``operators:`` entry of the plant file) is the command's origin, in
its ``rule`` field: the log says who sent every command. These checks are for a clear error
before anything is appended; the command writer decides (and says why in the result).
"""

from __future__ import annotations

import uuid

from factory_app import events
from factory_app.config import PlantConfig

DEFAULT_DEADLINE_S = 10.0


class OperatorRefused(ValueError):
    """The request names something the plant file does not allow; nothing was appended."""


def parse_value(text: str, kind: str) -> bool | int | float:
    """A form's or a terminal's text as a value of the tag's type (``float``, ``int``, ``bool``)."""
    raw = text.strip().lower()
    if kind == "bool":
        if raw in ("true", "1", "on", "yes"):
            return True
        if raw in ("false", "0", "off", "no"):
            return False
        raise OperatorRefused(f"{text!r} is not a bool (true/false, on/off, 1/0)")
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        raise OperatorRefused(f"{text!r} is not a{'n' if kind == 'int' else ''} {kind}") from None


def operator_command(plant: PlantConfig, operator: str, asset_id: str, action: str, target: str,
                     value_text: str | None = None, args_text: tuple[str, ...] = (), *, now: float,
                     deadline_s: float = DEFAULT_DEADLINE_S) -> events.Command:
    """The Command event for an operator's request; ``OperatorRefused`` says why there is none."""
    asset = plant.asset(asset_id)
    if asset is None:
        raise OperatorRefused(f"unknown asset {asset_id!r}")
    if not any(o.name == operator for o in plant.operators):
        raise OperatorRefused(f"{operator!r} is not an operator of the plant file")
    if action == "write":
        spec = asset.writable(target)
        if spec is None:
            raise OperatorRefused(f"{asset_id}.{target} is not in the asset's write list "
                                  f"({', '.join(w.tag for w in asset.write) or 'empty'})")
        if value_text is None:
            raise OperatorRefused("a write needs a value")
        value, args = parse_value(value_text, spec.type), ()
    else:
        method = asset.method(target)
        if method is None:
            raise OperatorRefused(f"{asset_id}.{target} is not one of the asset's methods "
                                  f"({', '.join(m.name for m in asset.methods) or 'none'})")
        if len(args_text) != len(method.args):
            raise OperatorRefused(f"{target} takes {len(method.args)} argument(s), got {len(args_text)}")
        value, args = None, tuple(parse_value(a, k) for a, k in zip(args_text, method.arg_types))
    if not plant.may_act(operator, asset_id, action, target):
        raise OperatorRefused(f"operator {operator!r} may not {action} {asset_id}.{target} (its targets in the plant file)")
    # The operator's request is the cause: a fresh id, so two identical requests are two commands.
    cause = f"request-{uuid.uuid4().hex}"
    return events.Command(event_id=uuid.uuid4().hex, asset_id=asset_id, event_time=now,
                          command_id=events.command_id(operator, cause, target), action=action, target=target,
                          value=value, args=args, cause_event_id=cause, rule=operator, deadline=now + deadline_s)


def mode_change(plant: PlantConfig, operator: str, asset_id: str, mode: str, reason: str, *,
                now: float) -> events.StateTransition:
    """An operator handing ``asset_id`` to manual or back to auto (``factory mode``, the plant view):
    the operator's name goes into the event's reason, so the log says who did it. Checked as a
    command is: ``OperatorRefused`` unless the operator is in the plant file with the asset in scope."""
    if plant.asset(asset_id) is None:
        raise OperatorRefused(f"unknown asset {asset_id!r}")
    if mode not in ("auto", "manual"):
        raise OperatorRefused(f"mode {mode!r} is neither auto nor manual")
    if not any(o.name == operator for o in plant.operators):
        raise OperatorRefused(f"{operator!r} is not an operator of the plant file")
    if not plant.may_set_mode(operator, asset_id):
        raise OperatorRefused(f"operator {operator!r} may not change the mode of {asset_id} "
                              "(none of its targets in the plant file is on that asset)")
    return events.ModeChange(event_id=uuid.uuid4().hex, asset_id=asset_id, event_time=now, mode=mode,
                             operator=operator, reason=reason.strip()[:500])
