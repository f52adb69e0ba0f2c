"""Students join from their phones: the app's address on the network and a QR code of it.

Only when the teacher started the app with ``digitlab app --host ADDRESS`` on purpose: the
command then puts the address students type into ``DIGITLAB_JOIN_URL`` (see ``join_url_for``),
and every page shows it in the sidebar with a QR code made here (``segno``: no network, no
external image). Without ``--host`` the variable is not set and nothing is shown.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket

import segno

JOIN_ENV = "DIGITLAB_JOIN_URL"
EVERY_INTERFACE = ("0.0.0.0", "::", "")


def lan_address() -> str | None:
    """This machine's address on its network (not loopback), or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # a documentation address: no packet is sent
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def join_url_for(host: str, port: int) -> str | None:
    """The URL students type for an app listening on ``host``: its LAN address when it listens
    on every interface; None for loopback (nobody else can reach it) or no network."""
    address = lan_address() if host in EVERY_INTERFACE else host
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a host name: students can type it as it is
        return None if address == "localhost" else f"http://{address}:{port}"
    if ip.is_loopback:
        return None
    return f"http://[{ip}]:{port}" if ip.version == 6 else f"http://{ip}:{port}"


def join_url() -> str | None:
    """The URL set by ``digitlab app --host``, or None when the app was started without it."""
    return os.environ.get(JOIN_ENV) or None


def qr_png(url: str, scale: int = 6) -> bytes:
    """A QR code of exactly ``url`` as a PNG (dark on white, with its quiet zone)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def show_join_box() -> None:
    """The sidebar's "join from your phone" box, when the app was opened to the network."""
    import streamlit as st

    url = join_url()
    if not url:
        return
    with st.sidebar.container(key="join_box"):
        st.markdown("**Join from your phone**")
        st.image(qr_png(url), caption="Scan to open DigitLab", width=180)
        st.markdown("Or type this address (same Wi-Fi):")
        st.code(url, language=None)
