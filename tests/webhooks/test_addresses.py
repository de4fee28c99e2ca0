"""Where the hub sends (``ioc_hub.webhooks.addresses``): the check at delivery resolves the
name again, refuses what leads inside, and connects to the address it checked."""

import ipaddress
import re

import pytest

from ioc_hub.webhooks import addresses


async def test_a_name_that_now_resolves_inside_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Public when registered; rebound to a private address before the attempt.
    async def rebound(host: str, port: int) -> list[addresses.IPAddress]:
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.5")]

    monkeypatch.setattr(addresses, "resolve", rebound)
    with pytest.raises(
        addresses.Refused, match=re.escape("hooks.example.org resolves to 10.0.0.5")
    ):
        await addresses.pin("https://hooks.example.org/x", allow_private=False)


async def test_the_attempt_goes_to_the_address_checked_under_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def public(host: str, port: int) -> list[addresses.IPAddress]:
        return [ipaddress.ip_address("93.184.215.14")]

    monkeypatch.setattr(addresses, "resolve", public)
    target = await addresses.pin("https://hooks.example.org:8443/in?x=1", allow_private=False)
    assert str(target.url) == "https://93.184.215.14:8443/in?x=1"
    assert target.headers == {"Host": "hooks.example.org:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.org"}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "http://[::1]/", "http://localhost/", "http://a.localhost/"]
)
async def test_this_machine_is_refused_at_delivery_unless_allowed(url: str) -> None:
    with pytest.raises(addresses.Refused):
        await addresses.pin(url, allow_private=False)
    if "a.localhost" not in url:  # a name nothing resolves here
        assert (await addresses.pin(url, allow_private=True)).url.host in ("127.0.0.1", "::1")
