-- The schema runners' own bookkeeping: one row per applied numbered file.
-- Read by css-admin schema (python/qcss/schema.py) and embedded in the library
-- (cpp/src/sql/Schema.cc): the one definition.
CREATE TABLE IF NOT EXISTS qcss_schema_version (version INTEGER NOT NULL PRIMARY KEY, dirty INTEGER NOT NULL, applied_at REAL NOT NULL, description TEXT NOT NULL);
