"""Who the client is when the node sits behind a load balancer.

Rate limits (sign-up, login) and the operators' session list key on the client's
address. Behind nginx every request comes from the proxy, so the proxy's
`X-Forwarded-For` is believed — but only from a peer listed in `trusted_proxies`:
anyone else could write the header themselves and pick a fresh address per request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    """The configured proxies ("10.0.0.5", "10.0.0.0/8", "::1") as networks."""
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted if t.strip())


def _trusted(addr: str, nets: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_ip(peer: str, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The peer, or — when the peer is a trusted proxy — the right-most address in
    X-Forwarded-For that is not itself a trusted proxy (the one the first trusted hop
    saw). A malformed entry stops the walk there: it is returned as the peer would be."""
    nets = networks(trusted)
    if not forwarded_for or not nets or not _trusted(peer, nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, nets):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:
                return peer
    return hops[0] if hops else peer
