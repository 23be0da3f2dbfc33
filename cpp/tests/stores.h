// qcss: stores.h -- fresh stores for the C++ tests (the Python suite's twin is
// qcss.testing): a unique name, and the MariaDB server of $QCSS_TEST_MYSQL_URL
// (default mysql://root@127.0.0.1:3306), whose unreachability fails the run
// when CI is set instead of skipping.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include "testing.h"
#ifdef QCSS_WITH_MYSQL
#include "mysql_admin.h"
#endif

namespace qcss::testing {

inline std::string randomName(std::string const& prefix) {
    std::random_device rd;
    std::mt19937_64 g(rd());
    char buf[32];
    std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(g() & 0xffffffffu));
    return prefix + buf;
}

/// $QCSS_TEST_MYSQL_URL's server (user, host, port, options) with "%DB%" for the database.
inline std::string mysqlServer() {
    char const* env = std::getenv("QCSS_TEST_MYSQL_URL");
    std::string u = env && *env ? env : "mysql://root@127.0.0.1:3306/test";
    // Keep the server part; the database is replaced by a fresh one.
    std::size_t const q = u.find('?');
    std::string const query = q == std::string::npos ? "" : u.substr(q);
    std::string base = q == std::string::npos ? u : u.substr(0, q);
    std::size_t const slash = base.find('/', base.find("://") + 3);
    if (slash != std::string::npos) base = base.substr(0, slash);
    return base + "/%DB%" + query;
}

inline std::string withDb(std::string const& server, std::string const& db) {
    std::string u = server;
    u.replace(u.find("%DB%"), 4, db);
    return u;
}

inline bool mysqlAvailable() {
#ifdef QCSS_WITH_MYSQL
    static int state = -1;
    if (state < 0) {
        try {
            qcss::detail::mysqlServerExec(withDb(mysqlServer(), "mysql"), "SELECT 1");
            state = 1;
        } catch (std::exception const& e) {
            std::cerr << "MySQL not reachable: " << e.what() << "\n";
            state = 0;
            if (std::getenv("CI") != nullptr) {
                std::cerr << "CI is set: a MySQL test that cannot reach a server fails\n";
                ++testing::failures();
            }
        }
    }
    return state == 1;
#else
    return false;
#endif
}

}  // namespace qcss::testing
