-- qcss schema version 1 (SQLite 3.35+).
-- Applied by `css-admin schema init`, or by the library itself when it opens a
-- fresh file; never edit a released file, add 0002_*.sql.
-- Statements end with ';' at the end of a line (the runners split on that).
-- Paths are BLOBs: compared with memcmp, like VARBINARY on MySQL.

CREATE TABLE qcss_meta (
  id INTEGER NOT NULL PRIMARY KEY,
  revision INTEGER NOT NULL,
  compacted_revision INTEGER NOT NULL
);
INSERT INTO qcss_meta (id, revision, compacted_revision) VALUES (1, 0, 0);

CREATE TABLE qcss_kv (
  path BLOB NOT NULL PRIMARY KEY,
  depth INTEGER NOT NULL,
  value BLOB NOT NULL,
  version INTEGER NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev INTEGER NOT NULL,
  lease_id INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX qcss_kv_children ON qcss_kv (depth, path);
CREATE INDEX qcss_kv_lease ON qcss_kv (lease_id);
INSERT INTO qcss_kv (path, depth, value, version, create_rev, mod_rev, lease_id) VALUES (CAST('/' AS BLOB), 0, X'', 0, 0, 0, 0);

CREATE TABLE qcss_changes (
  revision INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  path BLOB NOT NULL,
  value BLOB NOT NULL,
  version INTEGER NOT NULL,
  ts REAL NOT NULL,
  client BLOB NOT NULL,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
CREATE INDEX qcss_changes_path ON qcss_changes (path, revision);

CREATE TABLE qcss_leases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl_ms INTEGER NOT NULL,
  granted_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  owner BLOB NOT NULL,
  purpose BLOB NOT NULL
);
CREATE INDEX qcss_leases_expiry ON qcss_leases (expires_at);
