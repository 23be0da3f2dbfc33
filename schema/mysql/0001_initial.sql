-- qcss schema version 1 (MySQL 8 / MariaDB 10.6+).
-- Applied by `css-admin schema init`; never edit a released file, add 0002_*.sql.
-- Statements end with ';' at the end of a line (the runners split on that);
-- "DELIMITER //" ... "DELIMITER ;" switch the terminator as in the mysql client.

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

-- Overwrite an existing key in one call: the common set(), one round trip.
-- Takes the revision lock, writes the row if it exists (with the expected
-- version when p_expect >= 0), logs the Put and commits; returns the new
-- revision and version, or (0, 0) having changed nothing (the client then
-- takes the general path, which creates the key or reports why).
-- SQL SECURITY INVOKER: it can do no more than the caller's own privileges.
DELIMITER //
CREATE PROCEDURE qcss_set_existing(IN p_path VARBINARY(1024), IN p_value LONGBLOB,
                                   IN p_expect BIGINT, IN p_client VARBINARY(255))
    MODIFIES SQL DATA
    SQL SECURITY INVOKER
BEGIN
  DECLARE r BIGINT DEFAULT 0;
  DECLARE v BIGINT DEFAULT 0;
  START TRANSACTION;
  SELECT revision + 1 INTO r FROM qcss_meta WHERE id = 1 FOR UPDATE;
  UPDATE qcss_kv SET value = p_value, version = LAST_INSERT_ID(version + 1), mod_rev = r
    WHERE path = p_path AND (p_expect < 0 OR version = p_expect);
  IF ROW_COUNT() = 1 THEN
    SET v = LAST_INSERT_ID();
    INSERT INTO qcss_changes (revision, seq, kind, path, value, version, ts, client)
      VALUES (r, 1, 1, p_path, p_value, v, UNIX_TIMESTAMP(NOW(6)), p_client);
    UPDATE qcss_meta SET revision = r WHERE id = 1;
    COMMIT;
  ELSE
    ROLLBACK;
    SET r = 0;
  END IF;
  SELECT r, v;
END//
DELIMITER ;
