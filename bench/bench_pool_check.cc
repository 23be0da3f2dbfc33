// qcss: bench/bench_pool_check.cc -- what checking a pooled MySQL connection
// when it is taken (one poll() of its socket; mysql_ping only after 30 s idle)
// costs a get.
//
//   build/cpp/bench_pool_check [mysql://root@127.0.0.1:3306]   (or $QCSS_TEST_MYSQL_URL)
//
// Creates a fresh database, then times rounds of 2000 gets with the check and
// without it (sql::skipPoolCheck), interleaved, and prints the medians and
// their difference; on a loaded machine that difference is below the noise, so
// it also times the check's own work (a poll() of a connected socket and the
// two clock reads of the pool) alone and gives it as a share of a get.
// Timings are reported, never asserted.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "mysql_admin.h"
#include "qcss/KvInterface.h"
#include "qcss/Open.h"
#include "sql/Driver.h"

int main(int argc, char** argv) {
    using Clock = std::chrono::steady_clock;
    char const* env = std::getenv("QCSS_TEST_MYSQL_URL");
    std::string server = argc > 1 ? argv[1] : (env && *env ? env : "mysql://root@127.0.0.1:3306");
    // Keep scheme://user@host:port, drop any database and options.
    std::size_t const q = server.find('?');
    if (q != std::string::npos) server.resize(q);
    std::size_t const slash = server.find('/', server.find("://") + 3);
    if (slash != std::string::npos) server.resize(slash);
    std::mt19937_64 rng{std::random_device{}()};
    std::string const db = "qcss_bench_" + std::to_string(rng() % 1000000000);
    qcss::detail::mysqlServerExec(server + "/mysql", "CREATE DATABASE " + db);
    int rc = 0;
    try {
        qcss::detail::installMysqlSchema(server + "/" + db);
        auto kv = qcss::open(server + "/" + db + "?pool_size=1");
        kv->set("/bench/get", std::string(100, 'v'));
        constexpr int kGets = 2000, kRounds = 15;
        std::vector<double> with, without;
        for (int r = 0; r < 2 * kRounds; ++r) {
            bool const skip = r % 2 == 1;
            qcss::detail::sql::skipPoolCheck = skip;
            auto const t0 = Clock::now();
            for (int i = 0; i < kGets; ++i) kv->get("/bench/get");
            double const us =
                    std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kGets;
            (skip ? without : with).push_back(us);
        }
        qcss::detail::sql::skipPoolCheck = false;
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        double const a = median(with), b = median(without);
        std::printf("get with the pool check:    %.2f us (median of %d rounds of %d)\n", a,
                    kRounds, kGets);
        std::printf("get without the pool check: %.2f us\n", b);
        std::printf("difference: %.2f us per get (%.2f%%)\n", a - b, 100 * (a - b) / b);
        // The check alone: poll() of an idle socket (a socketpair), two clock reads.
        int fds[2] = {-1, -1};
        int const fd = ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0 ? fds[0] : -1;
        if (fd >= 0) {
            constexpr int kChecks = 200000;
            int readable = 0;
            auto const t0 = Clock::now();
            for (int i = 0; i < kChecks; ++i) {
                auto const since = Clock::now();
                pollfd p{};
                p.fd = fd;
                p.events = POLLIN;
                readable += ::poll(&p, 1, 0);
                readable += std::chrono::duration<double>(Clock::now() - since).count() > 1;
            }
            double const us =
                    std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kChecks;
            std::printf("the check alone: %.3f us (%.2f%% of a %.1f us get)%s\n", us, 100 * us / b,
                        b, readable > 0 ? " [socket was readable]" : "");
        }
        if (fd >= 0) {
            ::close(fds[0]);
            ::close(fds[1]);
        }
    } catch (std::exception const& e) {
        std::fprintf(stderr, "bench_pool_check: %s\n", e.what());
        rc = 1;
    }
    qcss::detail::mysqlServerExec(server + "/mysql", "DROP DATABASE " + db);
    return rc;
}
