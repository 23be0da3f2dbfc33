"""The MySQL test server helpers now live in the shipped harness, ``qcss.testing.mysql``;
this name stays for the tests that import it."""

from qcss.testing.mysql import MAX_PACKET, NoServer, Server, _free_port, find_or_start

__all__ = ["MAX_PACKET", "NoServer", "Server", "_free_port", "find_or_start"]
