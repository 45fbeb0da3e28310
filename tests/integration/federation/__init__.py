"""Helpers for the federation tests (tests/integration/test_s2s_*.py): a private CA, real Prosody
and ejabberd servers with their own config and data under a temp dir, /etc/hosts entries, a fake
DNS server and a raw server-to-server peer."""
