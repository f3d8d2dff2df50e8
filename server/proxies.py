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


def client_ip(peer: str, forwarded_for: Iterable[str], trusted: tuple[str, ...]) -> str:
    """The peer, or — when the peer is a trusted proxy — the right-most address in
    X-Forwarded-For that is not itself a trusted proxy (the one the first trusted hop
    saw). `forwarded_for` is every X-Forwarded-For header line, in order: a proxy may
    add its own line rather than extend the client's, and all of them are one list
    (RFC 9110), the nearest hop last. A malformed entry stops the walk there: it is
    returned as the peer would be."""
    nets = networks(trusted)
    hops = [h.strip() for line in forwarded_for for h in line.split(",") if h.strip()]
    if not hops or not nets or not _trusted(peer, nets):
        return peer
    for hop in reversed(hops):
        if not _trusted(hop, nets):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:
                return peer
    return hops[0] if hops else peer
