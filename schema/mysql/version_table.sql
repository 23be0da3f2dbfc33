-- The schema runners' own bookkeeping: one row per applied numbered file.
-- Read by css-admin schema (python/qcss/schema.py) and embedded in the library
-- (cpp/src/sql/Schema.cc): the one definition.
CREATE TABLE IF NOT EXISTS qcss_schema_version (version INT NOT NULL PRIMARY KEY, dirty TINYINT NOT NULL, applied_at DOUBLE NOT NULL, description VARCHAR(255) NOT NULL) ENGINE=InnoDB;
