#!/usr/bin/python3
"""Bulk-loads benchmark accounts into corvid's PostgreSQL database.

    /usr/bin/python3 bench/corvid-accounts.py ACCOUNTS_FILE DOMAIN ITERATIONS | psql DSN

`corvidctl adduser` creates one account per process (about 7 a second here): 10,000 accounts
would take over 20 minutes. This writes what it would write, for all accounts at once: per
account and per hash (SHA-1, SHA-256) a random 16-byte salt, the iteration count, and the SCRAM
StoredKey and ServerKey (RFC 5802 §3), as SQL on stdout for psql. It mirrors
storage/schema/001_accounts.sql (tables accounts and account_scram); when that schema changes,
this must follow, or compare.sh must go back to corvidctl (--corvid-accounts corvidctl).
Existing accounts get new credentials. Usernames must already be in normalised form (the bench's
are lowercase ASCII).
"""

import hashlib
import hmac
import os
import sys


def keys(hash_name, password, salt, iterations):
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    stored_key = hashlib.new(hash_name, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hash_name).digest()
    return stored_key, server_key


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: corvid-accounts.py ACCOUNTS_FILE DOMAIN ITERATIONS | psql DSN")
    path, domain, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = sys.stdout
    out.write("BEGIN;\n")
    out.write("CREATE TEMPORARY TABLE bench_import (username text, mechanism text, salt bytea,"
              " iterations integer, stored_key bytea, server_key bytea) ON COMMIT DROP;\n")
    out.write("COPY bench_import FROM STDIN;\n")
    with open(path) as accounts:
        for line in accounts:
            fields = line.split()
            if len(fields) < 2 or fields[0].startswith("#"):
                continue
            user, password = fields[0].lower(), fields[1]
            for mechanism, hash_name in (("SHA-1", "sha1"), ("SHA-256", "sha256")):
                salt = os.urandom(16)
                stored_key, server_key = keys(hash_name, password, salt, iterations)
                out.write("%s\t%s\t\\\\x%s\t%d\t\\\\x%s\t\\\\x%s\n" % (
                    user, mechanism, salt.hex(), iterations, stored_key.hex(), server_key.hex()))
    out.write("\\.\n")
    out.write("INSERT INTO accounts (domain, username)"
              " SELECT DISTINCT '%s', username FROM bench_import ON CONFLICT DO NOTHING;\n" % domain)
    out.write("DELETE FROM account_scram s USING accounts a, bench_import i"
              " WHERE s.account_id = a.id AND a.domain = '%s' AND a.username = i.username;\n"
              % domain)
    out.write("INSERT INTO account_scram"
              " (account_id, mechanism, salt, iterations, stored_key, server_key)"
              " SELECT a.id, i.mechanism, i.salt, i.iterations, i.stored_key, i.server_key"
              " FROM bench_import i JOIN accounts a ON a.domain = '%s' AND a.username = i.username;\n"
              % domain)
    out.write("COMMIT;\n")


if __name__ == "__main__":
    main()
