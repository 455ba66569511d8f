"""The Twilio simulator signs exactly as Twilio does: its signatures agree with the `twilio` package's own
RequestValidator, and with the example Twilio's library tests itself against."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator
from twilio_simulator import TwilioSimulator, new_sid, signature

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_twilios_own_examples() -> None:
    assert signature(TOKEN, URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    # A repeated parameter: values sorted within the name.
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signature(TOKEN, URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_the_parameters_order_does_not_matter() -> None:
    assert signature(TOKEN, URL, dict(reversed(PARAMS.items()))) == signature(TOKEN, URL, PARAMS)


@pytest.mark.parametrize(
    "url",
    [
        "https://revos.example.com/v1/voice/twilio/incoming",
        "http://127.0.0.1:8321/v1/voice/twilio/ended?agent_id=agt_123",
        "wss://revos.example.com/v1/voice/relay?agent_id=agt_123",
    ],
)
def test_the_validator_accepts_the_simulators_signatures_and_nothing_else(url: str) -> None:
    token = "f" * 32
    validator = RequestValidator(token)
    twilio = TwilioSimulator("http://unused", new_sid("AC"), token)
    form = twilio.call("+14155550100").form(CallStatus="ringing")
    signed = twilio.sign(url, form)
    assert signed == validator.compute_signature(url, form)
    assert validator.validate(url, form, signed)
    assert not validator.validate(url, {**form, "From": "+15550000000"}, signed)
    assert not validator.validate(url, {**form, "Extra": "1"}, signed)
    assert not validator.validate(url + "&x=1" if "?" in url else url + "?x=1", form, signed)
    assert not validator.validate(url.replace("/v1/", "/v2/"), form, signed)
    assert not RequestValidator("e" * 32).validate(url, form, signed)
    # The relay handshake: the URL alone, no params.
    assert validator.validate(url, {}, twilio.sign(url))
    assert not validator.validate(url, {}, signed)


def test_sids_look_like_twilios() -> None:
    sid = new_sid("CA")
    assert sid.startswith("CA") and len(sid) == 34 and int(sid[2:], 16) >= 0
    assert new_sid("CA") != sid
