// qcss: bench_mirror.cc -- mirror point-read throughput from C++ (one thread
// and N threads), and a plain MemKv for comparison. Prints one JSON object.
//   bench_mirror [URL [KEYS [GETS]]]     default: mem:// 1000 keys, 20M gets
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "qcss/Mirror.h"
#include "qcss/Open.h"

using Clock = std::chrono::steady_clock;

namespace {

double getsPerSecond(qcss::KvInterface& kv, std::vector<std::string> const& keys, long gets,
                     int threads) {
    std::atomic<std::size_t> sink{0};
    auto const t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            std::size_t local = 0;
            std::size_t const n = keys.size();
            long const per = gets / threads;
            for (long i = 0; i < per; ++i) local += kv.get(keys[(static_cast<std::size_t>(i) + t) % n]).size();
            sink += local;
        });
    for (auto& t : ts) t.join();
    double const s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (sink.load() == 0) std::fprintf(stderr, "no data read\n");
    return static_cast<double>(gets / threads * threads) / s;
}

}  // namespace

int main(int argc, char** argv) {
    std::string const url = argc > 1 ? argv[1] : "mem://";
    int const nkeys = argc > 2 ? std::atoi(argv[2]) : 1000;
    long const gets = argc > 3 ? std::atol(argv[3]) : 20000000L;
    auto kv = qcss::open(url);
    std::vector<std::string> keys;
    {
        auto t = kv->transaction();
        for (int i = 0; i < nkeys; ++i) {
            keys.push_back("/DBS/LSST/TABLES/Object_" + std::to_string(i) + "/partitioning");
            t.set(keys.back(), "{\"subChunks\": 1, \"dirTable\": \"Object\"}");
        }
        t.commit();
    }
    auto m = qcss::mirror(kv, "/", {});
    double const one = getsPerSecond(*m, keys, gets, 1);
    double const two = getsPerSecond(*m, keys, gets, 2);
    double const memOne = url.rfind("mem:", 0) == 0 ? getsPerSecond(*kv, keys, gets, 1) : 0.0;
    std::printf("{\"keys\": %d, \"gets\": %ld, \"mirror_1thread\": %.0f, \"mirror_2threads\": %.0f, "
                "\"mem_1thread\": %.0f}\n",
                nkeys, gets, one, two, memOne);
    return 0;
}
