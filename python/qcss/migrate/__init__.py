"""Migration into qcss from ZooKeeper and old Qserv CSS dumps (css-migrate)."""
