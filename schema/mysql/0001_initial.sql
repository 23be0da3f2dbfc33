-- qcss schema version 1 (MySQL 8 / MariaDB 10.6+).
-- Applied by `css-admin schema init`; never edit a released file, add 0002_*.sql.
-- Statements end with ';' at the end of a line (the runners split on that).

-- One row: the global revision (every writing batch takes the next value,
-- serialised on this row, so revisions are assigned in commit order) and the
-- highest revision trimmed from the change log.
CREATE TABLE qcss_meta (
  id TINYINT UNSIGNED NOT NULL,
  revision BIGINT NOT NULL,
  compacted_revision BIGINT NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
INSERT INTO qcss_meta (id, revision, compacted_revision) VALUES (1, 0, 0);

-- The keys. path is binary (case-sensitive, compared as bytes) and the
-- clustered primary key: a point get is one primary-key lookup, a subtree
-- ('/a' and path >= '/a/' AND path < '/a0') one primary-key range. depth is
-- the number of components: the direct children of '/a' are the index range
-- (depth = 2, path >= '/a/' AND path < '/a0') of qcss_kv_children.
CREATE TABLE qcss_kv (
  path VARBINARY(1024) NOT NULL,
  depth SMALLINT UNSIGNED NOT NULL,
  value LONGBLOB NOT NULL,
  version BIGINT NOT NULL,
  create_rev BIGINT NOT NULL,
  mod_rev BIGINT NOT NULL,
  lease_id BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (path),
  KEY qcss_kv_children (depth, path),
  KEY qcss_kv_lease (lease_id)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC;
INSERT INTO qcss_kv (path, depth, value, version, create_rev, mod_rev, lease_id) VALUES ('/', 0, '', 0, 0, 0, 0);

-- The change log: one row per key written (kind 1 = put) or removed
-- (kind 2 = delete), in the same transaction as the change. A batch's rows
-- share its revision; seq orders them within it.
CREATE TABLE qcss_changes (
  revision BIGINT NOT NULL,
  seq INT NOT NULL,
  kind TINYINT NOT NULL,
  path VARBINARY(1024) NOT NULL,
  value LONGBLOB NOT NULL,
  version BIGINT NOT NULL,
  ts DOUBLE NOT NULL,
  client VARBINARY(255) NOT NULL,
  PRIMARY KEY (revision, seq),
  KEY qcss_changes_path (path, revision)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC;

-- Leases: expiry by the database server's clock (seconds since the epoch).
CREATE TABLE qcss_leases (
  id BIGINT NOT NULL AUTO_INCREMENT,
  ttl_ms BIGINT NOT NULL,
  granted_at DOUBLE NOT NULL,
  expires_at DOUBLE NOT NULL,
  owner VARBINARY(255) NOT NULL,
  purpose VARBINARY(1024) NOT NULL,
  PRIMARY KEY (id),
  KEY qcss_leases_expiry (expires_at)
) ENGINE=InnoDB;
