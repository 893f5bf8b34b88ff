import base64

import msgspec
import pytest

from factory_app import events
from factory_app.events import DecodeFailure, Telemetry, decode, encode


def telemetry(**kw):
    base = dict(event_id="e1", asset_id="oven-1", event_time=100.0, tag="temperature", value=21.5, seq=3)
    base.update(kw)
    return Telemetry(**base)


@pytest.mark.parametrize("event", [
    telemetry(),
    telemetry(value=True), telemetry(value=7), telemetry(value="RUNNING"),
    events.StateTransition(event_id="s", asset_id="a", event_time=1.0, kind="connection", to_state="connected"),
    events.Command(event_id="c", asset_id="a", event_time=1.0, command_id="cmd-1", action="write",
                   target="heater_power", value=40.0, cause_event_id="e1", rule="thermostat", deadline=5.0),
    events.CommandResult(event_id="r", asset_id="a", event_time=1.0, command_id="cmd-1", status="applied"),
])
def test_round_trip(event):
    assert decode(encode(event)) == event


def test_value_types_survive_round_trip():
    # bool must not come back as int, nor int as float
    assert decode(encode(telemetry(value=True))).value is True
    assert type(decode(encode(telemetry(value=7))).value) is int


@pytest.mark.parametrize("raw,reason", [
    (b"\xff\xfe", "undecodable"),
    (b"{not json", "undecodable"),
    (b'{"type":"telemetry","v":2,"event_id":"e"}', "unknown_schema_version"),
    (b'{"type":"telemetry","v":2,"event_id":"e","asset_id":"a","event_time":1,"tag":"t","value":1}',
     "unknown_schema_version"),
    (b'{"type":"telemetry","event_id":"e","asset_id":"a","event_time":1,"tag":"t","value":[1]}', "invalid"),
    (b'{"type":"telemetry","event_id":"e","asset_id":"a","event_time":1,"tag":"t","value":1e999}', "invalid"),
    (b'{"type":"telemetry","event_id":"e","asset_id":"","event_time":1,"tag":"t","value":1}', "invalid_id"),
    (b'{"type":"telemetry","event_id":"e","asset_id":"a","event_time":"x","tag":"t","value":1}', "invalid"),
    (b'{"type":"mystery","event_id":"e"}', "invalid"),
])
def test_bad_input_is_classified(raw, reason):
    with pytest.raises(DecodeFailure) as info:
        decode(raw)
    assert info.value.reason == reason


def test_unexpected_type_is_refused():
    cmd = events.CommandResult(event_id="r", asset_id="a", event_time=1.0, command_id="c", status="failed")
    with pytest.raises(DecodeFailure) as info:
        decode(encode(cmd), expect=(Telemetry,))
    assert info.value.reason == "unexpected_type"


def test_key_must_be_asset_id():
    events.check_key(b"oven-1", telemetry())
    with pytest.raises(DecodeFailure):
        events.check_key(b"oven-2", telemetry())
    with pytest.raises(DecodeFailure):
        events.check_key(None, telemetry())


def test_dead_letter_keeps_raw_bytes():
    raw = b"\x00garbage\xff"
    dl = events.dead_letter(DecodeFailure("undecodable", "x"), topic="t", partition=3, offset=9, key=b"k",
                            raw=raw, consumer="p")
    back = events.decode_dead_letter(encode(dl))
    assert back.raw == raw and back.partition == 3 and base64.b64decode(back.key_b64) == b"k"


def test_command_id_is_deterministic_and_distinct():
    a = events.command_id("thermostat", "e1", "heater")
    assert a == events.command_id("thermostat", "e1", "heater")
    assert a != events.command_id("thermostat", "e2", "heater")
    assert a != events.command_id("interlock", "e1", "heater")


def test_encoding_is_stable_json():
    assert msgspec.json.decode(encode(telemetry()))["type"] == "telemetry"


def test_oversized_and_empty_are_refused():
    big = encode(telemetry(value="x" * (events.MAX_EVENT_BYTES + 10)))
    for raw, reason in ((big, "oversized"), (b"", "empty"), (None, "empty")):
        with pytest.raises(DecodeFailure) as info:
            decode(raw)
        assert info.value.reason == reason


def _raw(**fields):
    doc = {"type": "telemetry", "event_id": "e1", "asset_id": "oven-1", "event_time": 100.0, "tag": "t", "value": 1}
    doc.update(fields)
    return msgspec.json.encode(doc)


@pytest.mark.parametrize("fields,reason", [
    ({"value": 2**63}, "invalid"),              # beyond 64 bits: cannot be stored as the PLC's Int64
    ({"value": -(2**63) - 1}, "invalid"),
    ({"value": 10**30}, "invalid"),
    ({"seq": 2**64}, "invalid"),
    ({"value": "x" * (events.MAX_TEXT_CHARS + 1)}, "invalid"),
    ({"value": 1.7976931348623157e308}, "invalid"),  # a window's sum of two would be Inf
    ({"event_time": 1e300}, "invalid"),         # a window there would have end == start
    ({"event_time": -1.0}, "invalid"),
    ({"asset_id": "a|b"}, "invalid_id"),        # the key separator
    ({"asset_id": "   "}, "invalid_id"),
    ({"asset_id": "../etc"}, "invalid_id"),
    ({"asset_id": "oven/1"}, "invalid_id"),
    ({"tag": "temp\x00"}, "invalid_id"),
    ({"tag": "a" * (events.MAX_ID_CHARS + 1)}, "invalid_id"),
    ({"event_id": "id with space"}, "invalid_id"),
])
def test_contract_limits_are_refused_at_decode(fields, reason):
    with pytest.raises(DecodeFailure) as info:
        decode(_raw(**fields))
    assert info.value.reason == reason


@pytest.mark.parametrize("fields", [
    {"value": 2**63 - 1}, {"value": -(2**63)}, {"value": "x" * events.MAX_TEXT_CHARS},
    {"asset_id": "a" * events.MAX_ID_CHARS}, {"tag": "ns:Line_1.temp-2"}, {"event_time": 0.0},
    {"value": events.FLOAT_ABS_MAX}, {"value": -events.FLOAT_ABS_MAX},
])
def test_values_at_the_limits_are_accepted(fields):
    event = decode(_raw(**fields))
    for name, value in fields.items():
        assert getattr(event, name) == value
