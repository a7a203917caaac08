"""Sending one webhook request, safely: to public addresses only, within a deadline, never raising.

A webhook URL is chosen by an API user, and the request goes out from inside our network, so a
careless (or hostile) URL could make the server talk to itself, to a database next to it, or to the
cloud's metadata service (which hands out credentials). Two layers keep that out:

* :func:`check_webhook_url` when a URL is registered, to tell the API user at once what is wrong.
* :class:`WebhookSender` on every delivery: it resolves the host name *once*, checks every address
  it got with the same rule, and connects to the checked address itself. A name whose DNS answer
  changes between a check and a connect (DNS rebinding) therefore cannot reach a private address:
  there is no second lookup. TLS still verifies the certificate against the host *name*, and the
  ``Host`` header still carries the name, so virtual hosting works as usual.

Both refuse loopback, private (RFC 1918, fc00::/7), link-local (which includes 169.254.169.254),
carrier-grade NAT (100.64.0.0/10), unspecified, multicast, reserved and other special-purpose
addresses, the same inside IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64), and the known cloud
metadata addresses -- unless ``allow_private`` (tests, local development).

A delivery never follows redirects (a 3xx is just a failed, non-2xx answer: following one would be
a way around the address check), and everything -- name lookup, connect, TLS handshake, sending,
reading the answer -- fits in one deadline, enforced by a watchdog that shuts the socket down, so a
receiver that trickles its answer a byte at a time cannot hold a worker longer than the timeout.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote, urlsplit

import attrs

__all__ = [
    "MAX_RESPONSE_BODY",
    "MAX_URL_LENGTH",
    "METADATA_ADDRESSES",
    "DeliveryOutcome",
    "IPAddress",
    "Resolver",
    "UrlRefused",
    "WebhookSender",
    "address_problem",
    "check_webhook_url",
    "system_resolver",
]

MAX_URL_LENGTH = 2000
"""The longest webhook URL accepted (longer ones are refused, not truncated)."""

MAX_RESPONSE_BODY = 64 * 1024
"""How much of a receiver's answer is read: only the status matters; the body is just drained."""

RESOLVE_TIMEOUT = 10.0
"""How long :func:`check_webhook_url` waits for a host name to resolve."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str], Sequence[str]]
"""A host name -> the IP addresses (text) it stands for; raises OSError when it has none."""

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
"""Cloud instance metadata services: they hand out the machine's credentials to whoever asks."""

_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Everything visible in ASCII stays as the user wrote it (it is already encoded, or meant as is);
# only non-ASCII characters are percent-encoded (as UTF-8) so that http.client can send them.
_VISIBLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00\r\n]")
# The sender owns the request's framing and its connection; a caller's value would break them.
_SENDER_OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class UrlRefused(ValueError):
    """A webhook URL that will not be used; the message tells an API user what to change."""


@attrs.frozen
class _Target:
    """What a webhook URL means for one request."""

    scheme: str
    host: str  # as in the URL: a name (lowercase) or an IP literal without brackets
    port: int
    request_target: str  # path and query, ready for the request line


def _parse(url: str) -> _Target:
    """Split a webhook URL into what a request needs; UrlRefused when it is not a usable one."""
    if not isinstance(url, str):
        raise UrlRefused("a webhook URL is a string")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(
            f"the webhook URL is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed"
        )
    if any(c <= " " or c == "\x7f" for c in url):
        raise UrlRefused(
            "the webhook URL contains spaces or control characters; percent-encode them"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unbalanced [ in the host, for one
        raise UrlRefused(f"the webhook URL cannot be parsed ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise UrlRefused(
            f"a webhook URL starts with https:// or http:// (this one has {shown}), "
            "e.g. https://example.com/hooks"
        )
    if "@" in parts.netloc:
        raise UrlRefused(
            "a webhook URL cannot carry a user name or password (user:password@host); "
            "remove them, and check the webhook-signature header to authenticate deliveries"
        )
    host = parts.hostname
    if not host:
        raise UrlRefused("the webhook URL has no host, e.g. https://example.com/hooks")
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or above 65535
        raise UrlRefused("the webhook URL's port is not a number from 1 to 65535") from exc
    if port == 0:
        raise UrlRefused("the webhook URL's port is not a number from 1 to 65535")
    request_target = parts.path or "/"
    if parts.query:
        request_target += "?" + parts.query
    return _Target(
        scheme=scheme,
        host=host,
        port=port or _DEFAULT_PORTS[scheme],
        request_target=quote(request_target, safe=_VISIBLE_ASCII),
    )


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is no place to send a webhook, in a few words; None for a public address."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata service"
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach (or are translated to) that address.
        embedded: list[tuple[str, ipaddress.IPv4Address | None]] = [
            ("IPv4-mapped", address.ipv4_mapped),
            ("6to4", address.sixtofour),
            (
                "NAT64",
                ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None,
            ),
        ]
        for form, inner in embedded:
            if inner is not None:
                problem = address_problem(inner)
                return None if problem is None else f"{form} {problem}"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "carrier-grade NAT"
    if address.is_private:
        return "private"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_reserved:
        return "reserved"
    # is_global knows the rest of the special-purpose registries (documentation, benchmarking...).
    if not address.is_global:
        return "not globally routable"
    return None


def _is_localhost_name(host: str) -> bool:
    # RFC 6761: "localhost" and every name under ".localhost" are loopback, whatever DNS says.
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _sockaddr_text(sockaddr: tuple[object, ...]) -> str:
    """The address of a getaddrinfo sockaddr as text, with the IPv6 scope (zone) when it has one."""
    text = str(sockaddr[0])
    if len(sockaddr) == 4 and sockaddr[3] and "%" not in text:
        text = f"{text}%{sockaddr[3]}"
    return text


def _literal(host: str) -> IPAddress | None:
    """The address ``host`` spells out, without any lookup; None when it is a name.

    Asks the C library (AI_NUMERICHOST) rather than ipaddress, because the connect goes through the
    C library, which also reads legacy spellings such as ``127.1`` or ``2130706433`` as addresses.
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(_sockaddr_text(infos[0][4]))


def system_resolver(host: str) -> list[str]:
    """The addresses the operating system's resolver (getaddrinfo) gives for ``host``, in its
    order, without duplicates. Raises OSError (socket.gaierror) when there are none."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM):
        text = _sockaddr_text(sockaddr)
        if text not in found:
            found.append(text)
    return found


def _resolve_within(resolver: Resolver, host: str, timeout: float) -> list[IPAddress]:
    """``resolver(host)`` as addresses, waiting at most ``timeout`` seconds.

    getaddrinfo cannot be interrupted, and the C resolver's own retries can take half a minute, so
    it runs in a daemon thread that is abandoned (to finish on its own) when the time is up.
    Raises TimeoutError, OSError (no such name, or no addresses), UnicodeError or ValueError.
    """
    if timeout <= 0:
        raise TimeoutError("no time left to resolve the host name")
    answers: list[Sequence[str] | Exception] = []

    def resolve() -> None:
        try:
            answers.append(resolver(host))
        except Exception as exc:  # handed to the waiting thread, which raises it
            answers.append(exc)

    thread = threading.Thread(target=resolve, name="webhook-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if not answers:
        raise TimeoutError("the host name did not resolve in time")
    answer = answers[0]
    if isinstance(answer, Exception):
        raise answer
    addresses = [ipaddress.ip_address(text) for text in answer]
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no addresses")
    return addresses


def check_webhook_url(
    url: str, *, allow_private: bool, resolve: bool = True, resolver: Resolver | None = None
) -> None:
    """Refuse (UrlRefused) a URL that webhooks cannot be sent to; return None for a good one.

    Refused: more than 2000 characters; a scheme other than http/https; no host; a user name or
    password; a port outside 1-65535; spaces or control characters. With ``resolve``, also a host
    name that does not resolve, and (unless ``allow_private``) a host any of whose addresses is not
    a public one (see :func:`address_problem`). IP literals are checked even without ``resolve``
    (they need no lookup). ``resolver`` replaces the operating system's (:func:`system_resolver`).

    This is the early, friendly check; the sender checks again at every delivery.
    """
    target = _parse(url)
    host = target.host
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    elif not allow_private and _is_localhost_name(host):
        raise UrlRefused(
            f"the host name {host!r} always means this machine, which is not a public address "
            "(loopback); webhooks can only be sent to public internet addresses"
        )
    elif not resolve:
        return
    else:
        try:
            addresses = _resolve_within(resolver or system_resolver, host, RESOLVE_TIMEOUT)
        except TimeoutError as exc:
            raise UrlRefused(
                f"the host name {host!r} did not resolve within {RESOLVE_TIMEOUT:g} s; "
                "check the name, or try again later"
            ) from exc
        except (OSError, UnicodeError, ValueError) as exc:
            raise UrlRefused(
                f"the host name {host!r} does not resolve (DNS has no address for it); "
                "check its spelling"
            ) from exc
    if allow_private:
        return
    for address in addresses:
        problem = address_problem(address)
        if problem is None:
            continue
        where = (
            f"the address {address}"
            if literal is not None
            else f"the host name {host!r} resolves to {address}, which"
        )
        raise UrlRefused(
            f"{where} is not a public address ({problem}); "
            "webhooks can only be sent to public internet addresses"
        )


@attrs.frozen
class DeliveryOutcome:
    """What one attempt to deliver a webhook came to.

    ``status`` is the HTTP status when an answer came back (a 3xx too: redirects are not followed);
    otherwise ``error`` says briefly why not ("timed out after 10 s", "connection refused",
    "refused address 127.0.0.1 (loopback)"). ``duration_ms`` is the whole attempt, lookup included.
    """

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        """Whether the receiver accepted the event: a 2xx answer (and nothing else) counts."""
        return self.status is not None and 200 <= self.status < 300


class _Deadline:
    """The end of one attempt: per-operation socket timeouts up to it, and a watchdog at it.

    Socket timeouts bound each operation, not their sum: a receiver sending its headers one byte
    at a time would reset them forever. At the deadline the watchdog shuts the socket down, which
    makes any blocked call return at once.
    """

    def __init__(self, at: float) -> None:
        self.at = at
        self.expired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(max(0.0, at - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._socket is not None:
                self._shutdown(self._socket)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        # OSError: not connected yet, or already closed -- nothing to interrupt.
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown, on the descriptor: SSLSocket.shutdown would also drop
            # the TLS state under the feet of the thread that is reading.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def watch(self, sock: socket.socket) -> None:
        """Make ``sock`` the socket to shut down at the deadline (and give it the time left)."""
        with self._lock:
            self._socket = sock
            if self.expired:
                self._shutdown(sock)
        self.limit(sock)

    def limit(self, sock: socket.socket) -> None:
        """Give the next operation on ``sock`` the time left; TimeoutError when there is none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        sock.settimeout(left)

    def passed(self) -> bool:
        """Whether the deadline has come (by the watchdog or the clock)."""
        return self.expired or time.monotonic() >= self.at

    def stop(self) -> None:
        """Call off the watchdog; after this it touches no socket (they are about to be closed)."""
        self._timer.cancel()
        with self._lock:
            self._socket = None


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """The system's CAs, hostname checked; made once (loading the CA store takes a while), and
    safe to share between threads."""
    return ssl.create_default_context()


class WebhookSender:
    """Sends webhook requests: one POST per :meth:`send`, within ``timeout`` seconds in all.

    Holds no connection between sends and is safe to share between threads. ``resolver`` replaces
    the operating system's name lookup, and ``ssl_context`` the default (system CAs, hostname
    checked), e.g. to trust a private CA.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = 10.0,
        user_agent: str = "inventory-core-webhooks",
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"the timeout is a positive number of seconds, not {timeout}")
        if not user_agent or _HEADER_VALUE_FORBIDDEN.search(user_agent):
            raise ValueError("the user agent is a non-empty, single-line header value")
        self.allow_private = allow_private
        self.timeout = timeout
        self.user_agent = user_agent
        self._resolver = resolver or system_resolver
        self._ssl_context = ssl_context

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> DeliveryOutcome:
        """POST ``body`` (JSON) with ``headers`` to ``url``; never raises for network problems.

        The outcome has the HTTP status if an answer came back in time, else an error. Raises
        ValueError only for a mistake of the caller's: a malformed header, or one the sender owns
        (Host, Content-Length, Transfer-Encoding, Connection).
        """
        request_headers = self._request_headers(headers)
        started = time.monotonic()
        status, error = self._attempt(url, request_headers, body, started + self.timeout)
        duration_ms = round((time.monotonic() - started) * 1000)
        return DeliveryOutcome(status=status, error=error, duration_ms=duration_ms)

    def _request_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        merged = {"Content-Type": "application/json", "User-Agent": self.user_agent}
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name) or _HEADER_VALUE_FORBIDDEN.search(value):
                raise ValueError(f"not a valid HTTP header: {name!r}")
            if name.lower() in _SENDER_OWNED_HEADERS:
                raise ValueError(f"the sender sets the {name} header itself")
            # A caller's header replaces a default of the same name, whatever its case.
            merged = {k: v for k, v in merged.items() if k.lower() != name.lower()}
            merged[name] = value
        # One request per connection: nothing is pooled, so tell the receiver not to wait for more.
        merged["Connection"] = "close"
        return merged

    def _addresses(self, host: str, deadline: float) -> list[IPAddress]:
        literal = _literal(host)
        if literal is not None:
            return [literal]
        return _resolve_within(self._resolver, host, deadline - time.monotonic())

    def _attempt(
        self, url: str, headers: dict[str, str], body: bytes, deadline_at: float
    ) -> tuple[int | None, str | None]:
        try:
            target = _parse(url)
        except UrlRefused as exc:
            return None, str(exc)
        try:
            addresses = self._addresses(target.host, deadline_at)
        except TimeoutError:
            return None, f"timed out after {self.timeout:g} s (looking up {target.host})"
        except (OSError, UnicodeError, ValueError):
            return None, f"host name {target.host} does not resolve"
        if not self.allow_private:
            for address in addresses:
                problem = address_problem(address)
                if problem is not None:
                    return None, f"refused address {address} ({problem})"

        deadline = _Deadline(deadline_at)
        sock: socket.socket | None = None
        connection: http.client.HTTPConnection | None = None
        response: http.client.HTTPResponse | None = None
        try:
            sock = self._connect(addresses, target.port, deadline)
            if target.scheme == "https":
                # The certificate is checked against the host name of the URL, not the address.
                context = self._ssl_context or _default_ssl_context()
                sock = context.wrap_socket(
                    sock, server_hostname=target.host, do_handshake_on_connect=False
                )
                deadline.watch(sock)  # the descriptor now belongs to the TLS socket
                sock.do_handshake()
                connection = http.client.HTTPSConnection(target.host, target.port, context=context)
            else:
                connection = http.client.HTTPConnection(target.host, target.port)
            # Already connected (to the checked address): http.client only writes the request,
            # with Host: the URL's host (and port, unless the scheme's default).
            connection.sock = sock
            deadline.limit(sock)
            connection.request("POST", target.request_target, body=body, headers=headers)
            deadline.limit(sock)
            response = connection.getresponse()
            if deadline.expired:
                # The watchdog's shutdown reads as the end of the headers: what came is cut short.
                raise TimeoutError("the answer did not arrive in time")
            status = response.status
            try:
                deadline.limit(sock)
                response.read(MAX_RESPONSE_BODY)
            except (OSError, http.client.HTTPException):
                pass  # the status is the answer; a body cut short or late changes nothing
            return status, None
        except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError is an OSError
            return None, self._describe(exc, deadline)
        finally:
            deadline.stop()
            if response is not None:
                response.close()
            if connection is not None:
                connection.close()
            if sock is not None:
                sock.close()

    @staticmethod
    def _connect(addresses: list[IPAddress], port: int, deadline: _Deadline) -> socket.socket:
        """A TCP connection to the first of ``addresses`` that answers (in the resolver's order)."""
        failure: OSError | None = None
        for address in addresses:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                str(address), port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                deadline.watch(sock)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                if isinstance(exc, TimeoutError) or deadline.passed():
                    raise
                failure = exc
                continue
            return sock
        assert failure is not None  # there is at least one address
        raise failure

    def _describe(self, exc: Exception, deadline: _Deadline) -> str:
        """A short, stable description of why an attempt failed (for the deliveries list)."""
        if isinstance(exc, TimeoutError) or deadline.passed():
            return f"timed out after {self.timeout:g} s"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, ConnectionResetError):
            return "connection reset by the receiver"
        if isinstance(exc, BrokenPipeError | ConnectionAbortedError):
            return "connection closed by the receiver"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted: {exc.verify_message}"
        if isinstance(exc, ssl.SSLError):
            return f"TLS error: {exc.reason or type(exc).__name__}"
        if isinstance(exc, http.client.RemoteDisconnected):
            return "connection closed without an answer"
        if isinstance(exc, http.client.HTTPException):
            return f"not a valid HTTP answer ({type(exc).__name__})"
        if isinstance(exc, OSError) and exc.strerror:
            return f"network error: {exc.strerror}"
        return f"network error: {type(exc).__name__}"
