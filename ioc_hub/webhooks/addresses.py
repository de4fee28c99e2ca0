"""Where the hub may send a notification (docs/design.md §9, Webhooks).

A receiver's URL must not lead the hub to itself or to its own network: loopback, private,
link-local, shared, multicast and reserved addresses are refused unless the setting
``webhooks_allow_private`` allows them. The check runs twice:

- at registration (and on a URL change) on an address literal, and on the addresses a host
  name resolves to then — a name that does not resolve yet is accepted;
- at delivery (once for the attempts to an endpoint that start together), on the addresses the
  name resolves to at that moment; the attempts then connect to the address checked, so a name
  that changes its answer between the check and the connection (DNS rebinding) cannot slip
  through.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REGISTRATION_LOOKUP_SECONDS = 3.0
"""How long registration waits for a name to resolve before it takes the URL unresolved."""


class Refused(Exception):
    """The URL leads somewhere the hub does not send to; the message says why."""


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not one to send to, or ``None`` when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for is_kind, kind in (
        (address.is_loopback, "a loopback"),
        (address.is_unspecified, "an unspecified"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.is_private, "a private"),
        (address.is_reserved, "a reserved"),
    ):
        if is_kind:
            return f"{address} is {kind} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _local_name(host: str) -> bool:
    """``localhost`` and its subdomains always mean this machine (RFC 6761 §6.3)."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to now (an address literal: itself)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(found))


def _check(addresses: list[IPAddress], host: str) -> None:
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            shown = "" if _literal(host) is not None else f"{host} resolves to "
            raise Refused(
                f"{shown}{reason}; the hub sends only to public addresses "
                "(IOC_HUB_WEBHOOKS_ALLOW_PRIVATE lifts this)"
            )


async def check_registration(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host is, or resolves now to, an address the hub does not send to."""
    if allow_private:
        return
    parsed = httpx.URL(url)
    if _local_name(parsed.host):
        raise Refused(f"{parsed.host} is this machine; the hub sends only to public addresses")
    try:
        async with asyncio.timeout(REGISTRATION_LOOKUP_SECONDS):
            addresses = await resolve(parsed.host, parsed.port or _default_port(parsed))
    except (OSError, TimeoutError, UnicodeError):
        return  # checked again, and refused if need be, at delivery
    _check(addresses, parsed.host)


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the checked address in the URL, the name in ``Host`` and TLS."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def pin(url: str, allow_private: bool) -> Target:
    """Resolve ``url``'s host, check its addresses, and aim at the first of them.

    Raises :class:`Refused` for an address the hub does not send to, ``OSError`` when the
    name does not resolve."""
    parsed = httpx.URL(url)
    if not allow_private and _local_name(parsed.host):
        raise Refused(f"{parsed.host} is this machine")
    addresses = await resolve(parsed.host, parsed.port or _default_port(parsed))
    if not addresses:
        raise OSError(f"{parsed.host} resolves to no address")
    if not allow_private:
        _check(addresses, parsed.host)
    if _literal(parsed.host) is not None:
        return Target(parsed)
    # Host header and TLS server name keep the name; the connection goes to the address.
    return Target(
        parsed.copy_with(host=str(addresses[0])),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions={"sni_hostname": parsed.host} if parsed.scheme == "https" else {},
    )
