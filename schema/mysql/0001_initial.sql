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

-- One-round-trip writes of a single key without a lease (set() and create()
-- in the common case). Takes the revision lock (bumping the revision; a miss
-- rolls it back); when a lease has expired it does nothing (the general path
-- reaps it first); p_mode 0 (set) overwrites the
-- key if it exists (with the expected version when p_expect >= 0); otherwise,
-- or with p_mode 1 (create), inserts it if it is absent and its parent
-- p_parent exists. Logs the Put, bumps the revision and commits; returns the
-- new revision and version, or (0, 0) having changed nothing: the client then
-- takes the general path, which creates parents or reports the error.
-- SQL SECURITY INVOKER: it can do no more than the caller's own privileges.
DELIMITER //
CREATE PROCEDURE qcss_put(IN p_path VARBINARY(1024), IN p_parent VARBINARY(1024),
                          IN p_depth INT, IN p_value LONGBLOB, IN p_mode INT,
                          IN p_expect BIGINT, IN p_client VARBINARY(255))
    MODIFIES SQL DATA
    SQL SECURITY INVOKER
BEGIN
  DECLARE r BIGINT DEFAULT 0;
  DECLARE v BIGINT DEFAULT 0;
  DECLARE n INT DEFAULT 0;
  START TRANSACTION;
  UPDATE qcss_meta SET revision = LAST_INSERT_ID(revision + 1) WHERE id = 1;
  SET r = LAST_INSERT_ID();
  -- Expired leases are reaped by the general path first: leave it to it.
  SELECT COUNT(*) INTO n FROM qcss_leases WHERE expires_at <= UNIX_TIMESTAMP(NOW(6));
  IF n > 0 THEN
    SET p_expect = -2, p_mode = 2;
  END IF;
  IF p_mode = 0 THEN
    UPDATE qcss_kv SET value = p_value, version = LAST_INSERT_ID(version + 1), mod_rev = r
      WHERE path = p_path AND (p_expect < 0 OR version = p_expect);
    IF ROW_COUNT() = 1 THEN
      SET v = LAST_INSERT_ID();
    END IF;
  END IF;
  IF v = 0 AND p_expect = -1 THEN
    SELECT COUNT(*) INTO n FROM qcss_kv WHERE path = p_parent;
    IF n = 1 AND p_mode = 1 THEN
      SELECT 1 - COUNT(*) INTO n FROM qcss_kv WHERE path = p_path;
    END IF;
    IF n = 1 THEN
      INSERT INTO qcss_kv (path, depth, value, version, create_rev, mod_rev, lease_id)
        VALUES (p_path, p_depth, p_value, 1, r, r, 0);
      SET v = 1;
    END IF;
  END IF;
  IF v > 0 THEN
    INSERT INTO qcss_changes (revision, seq, kind, path, value, version, ts, client)
      VALUES (r, 1, 1, p_path, p_value, v, UNIX_TIMESTAMP(NOW(6)), p_client);
    COMMIT;
  ELSE
    ROLLBACK;
    SET r = 0;
  END IF;
  SELECT r, v;
END//
DELIMITER ;
