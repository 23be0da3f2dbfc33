-- qcss schema version 2: the lease deadline and the write token (SQLite 3.35+).
-- Statements end with ';' at the end of a line (the runners split on that).

-- lease_deadline is never later than the earliest expiry of a lease in
-- qcss_leases (1e300 when there is none). Every writing batch bumps the
-- revision with "CASE WHEN lease_deadline > now THEN revision + 1 END": when
-- the deadline has passed, the bump fails and the writer first reaps the
-- expired leases (which recomputes the deadline). A lease grant lowers it; a
-- keep-alive or a revoke leaves it earlier than needed, which costs at most
-- one reap. It replaces a probe of qcss_leases in every write.
ALTER TABLE qcss_meta ADD COLUMN lease_deadline REAL NOT NULL DEFAULT 0;
UPDATE qcss_meta SET lease_deadline = COALESCE((SELECT MIN(expires_at) FROM qcss_leases), 1e300) WHERE id = 1;

-- write_token is set to a new random number by every write that bumps the
-- revision. A client that remembers the rows of the store at revision R (the
-- SQL core's row cache) writes from them only "WHERE revision = R AND
-- write_token = <its token>": a store restored from a backup and written
-- again up to the same revision R has another token, so stale rows are never
-- trusted.
ALTER TABLE qcss_meta ADD COLUMN write_token INTEGER NOT NULL DEFAULT 0;
