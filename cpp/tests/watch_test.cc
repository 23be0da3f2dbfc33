// qcss: watch_test.cc -- Watcher, Mirror and compaction over the in-memory
// backend, with concurrent writer threads. No sleeps: every wait is on a
// condition (a watcher's position, a mirror's waitFor) with a generous timeout.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "qcss/Mirror.h"
#include "qcss/Open.h"
#include "qcss/Watch.h"
#include "testing.h"

using namespace qcss;
using namespace std::chrono_literals;

namespace {

// Collects what a watcher delivers; wait() blocks until a revision is reached.
struct Sink {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Change> seen;
    std::vector<std::int64_t> batchRevs;
    std::int64_t reached = 0;
    bool ordered = true;
    std::vector<std::int64_t> resyncs;
    std::vector<std::string> errors;

    WatchCallback callback() {
        return [this](std::vector<Change> const& cs, std::int64_t rev) {
            std::lock_guard lock(mu);
            for (auto const& c : cs) {
                if (!seen.empty() && c.revision < seen.back().revision) ordered = false;
                if (c.revision > rev || c.revision <= reached) ordered = false;
                seen.push_back(c);
            }
            if (rev < reached) ordered = false;
            reached = rev;
            batchRevs.push_back(rev);
            cv.notify_all();
        };
    }
    WatchOptions options(std::chrono::milliseconds interval = 5ms) {
        WatchOptions o;
        o.interval = interval;
        o.maxBackoff = 50ms;
        o.emptyBatches = true;  // so that `reached` follows the watcher's position
        o.onError = [this](std::exception_ptr e, int) {
            std::lock_guard lock(mu);
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& x) {
                errors.push_back(x.what());
            }
            cv.notify_all();
        };
        o.onResync = [this](Snapshot const& s) {
            std::lock_guard lock(mu);
            resyncs.push_back(s.revision);
            reached = s.revision;
            cv.notify_all();
        };
        return o;
    }
    bool wait(std::int64_t rev, std::chrono::milliseconds timeout = 20s) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, timeout, [&] { return reached >= rev; });
    }
    bool waitErrors(std::size_t n, std::chrono::milliseconds timeout = 20s) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, timeout, [&] { return errors.size() >= n; });
    }
};

bool sameChange(Change const& a, Change const& b) {
    return a.revision == b.revision && a.kind == b.kind && a.key == b.key && a.value == b.value &&
           a.version == b.version;
}

bool sameChanges(std::vector<Change> const& a, std::vector<Change> const& b) {
    if (a.size() != b.size()) {
        std::cerr << "  change count " << a.size() << " != " << b.size() << "\n";
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!sameChange(a[i], b[i])) {
            std::cerr << "  change " << i << " differs: rev " << a[i].revision << " " << a[i].key
                      << " vs rev " << b[i].revision << " " << b[i].key << "\n";
            return false;
        }
    return true;
}

bool sameSnapshot(Snapshot const& a, Snapshot const& b) {
    if (a.revision != b.revision || a.entries.size() != b.entries.size()) {
        std::cerr << "  snapshot rev " << a.revision << "/" << b.revision << " size "
                  << a.entries.size() << "/" << b.entries.size() << "\n";
        return false;
    }
    for (std::size_t i = 0; i < a.entries.size(); ++i) {
        auto const &x = a.entries[i], &y = b.entries[i];
        if (x.key != y.key || x.value != y.value || x.stat.version != y.stat.version ||
            x.stat.createRevision != y.stat.createRevision ||
            x.stat.modRevision != y.stat.modRevision || x.stat.numChildren != y.stat.numChildren) {
            std::cerr << "  entry " << x.key << " differs from " << y.key << "\n";
            return false;
        }
    }
    return true;
}

// A store whose reads of the revision and the log fail while `down` is set:
// a server that is unreachable, as the watcher sees it.
class FlakyKv : public KvInterface {
public:
    explicit FlakyKv(KvPtr kv) : _kv(std::move(kv)) {}
    std::atomic<bool> down{false};
    void gate() const {
        if (down.load()) throw ConnError("server is down (test)");
    }
    CommitResult commit(std::vector<Op> const& ops) override { return _kv->commit(ops); }
    std::string get(std::string const& k) override { return _kv->get(k); }
    KeyStat getStat(std::string const& k) override { return _kv->getStat(k); }
    std::map<std::string, std::string> getMany(std::vector<std::string> const& k) override {
        return _kv->getMany(k);
    }
    bool exists(std::string const& k) override { return _kv->exists(k); }
    std::vector<std::string> getChildren(std::string const& k) override { return _kv->getChildren(k); }
    std::map<std::string, std::string> getChildrenValues(std::string const& k) override {
        return _kv->getChildrenValues(k);
    }
    Snapshot snapshot(std::string const& p) override {
        gate();
        return _kv->snapshot(p);
    }
    std::int64_t revision() override {
        gate();
        return _kv->revision();
    }
    std::vector<Change> changes(std::int64_t s, std::string const& p, std::size_t l) override {
        gate();
        return _kv->changes(s, p, l);
    }
    std::int64_t compact(std::int64_t r) override { return _kv->compact(r); }
    std::int64_t compactedRevision() override { return _kv->compactedRevision(); }
    std::int64_t grantLease(std::chrono::milliseconds t, std::string const& p) override { return _kv->grantLease(t, p); }
    bool keepLeaseAlive(std::int64_t id) override { return _kv->keepLeaseAlive(id); }
    void revokeLease(std::int64_t id) override { _kv->revokeLease(id); }
    std::int64_t reapExpiredLeases() override { return _kv->reapExpiredLeases(); }
    std::vector<LeaseInfo> leases() override { return _kv->leases(); }
    bool readOnly() const noexcept override { return false; }
    std::string url() const override { return "flaky:" + _kv->url(); }
    std::string backend() const override { return "flaky"; }
    std::string clientId() const override { return _kv->clientId(); }
    std::size_t maxValueSize() const noexcept override { return _kv->maxValueSize(); }

private:
    KvPtr _kv;
};

// One writer: sets, creates, transactions and recursive deletes under /w/<id>.
void writer(KvPtr kv, int id, int ops) {
    std::mt19937 rng(static_cast<unsigned>(id) * 7919u);
    std::string const base = "/w/" + std::to_string(id);
    for (int i = 0; i < ops; ++i) {
        std::string const k = base + "/k" + std::to_string(rng() % 20);
        switch (rng() % 5) {
            case 0:
                kv->set(k, "v" + std::to_string(i));
                break;
            case 1:
                kv->create(base + "/u/n_", "c" + std::to_string(i), CreateMode::Unique);
                break;
            case 2: {
                Transaction t = kv->transaction();
                for (int j = 0; j < 3; ++j)
                    t.set(base + "/t/x" + std::to_string(rng() % 8) + "/y", std::to_string(i));
                t.commit();
                break;
            }
            case 3:
                if (kv->exists(base + "/t")) kv->deleteKey(base + "/t");
                break;
            default:
                kv->set("/shared/" + std::to_string(rng() % 4), std::to_string(id));
        }
    }
}

}  // namespace

TEST_CASE("watcher delivers every change once, in order, transactions whole") {
    auto kv = open("mem://");
    Sink sink;
    auto w = watch(kv, "/", sink.callback(), 0, sink.options());
    kv->create("/a/b/c", "1");
    kv->set("/a/b/c", "2");
    Transaction t = kv->transaction();
    t.set("/x", "1").set("/y", "2").create("/a/z");
    t.commit();
    kv->deleteKey("/a");
    std::int64_t const rev = kv->revision();
    CHECK(sink.wait(rev));
    w->stop();
    CHECK(sink.ordered);
    CHECK(sameChanges(sink.seen, kv->changes(0, "/", 0)));
    CHECK_EQ(w->position(), rev);
}

TEST_CASE("sinceRevision -1 starts at the current revision; prefix filters") {
    auto kv = open("mem://");
    kv->set("/before", "x");
    Sink sink;
    auto w = watch(kv, "/p", sink.callback(), -1, sink.options());
    kv->set("/other", "1");
    kv->set("/p/q", "1");
    kv->set("/pp", "1");  // not under /p
    CHECK(sink.wait(kv->revision()));
    w->stop();
    CHECK_EQ(sink.seen.size(), std::size_t(2));  // /p (parent) and /p/q
    CHECK_EQ(w->position(), kv->revision());
    CHECK(sameChanges(sink.seen, kv->changes(1, "/p", 0)));
}

TEST_CASE("a small batch limit never splits a transaction") {
    auto kv = open("mem://");
    for (int i = 0; i < 5; ++i) {
        Transaction t = kv->transaction();
        for (int j = 0; j < 7; ++j) t.set("/t/" + std::to_string(i) + "/" + std::to_string(j), "v");
        t.commit();
    }
    Sink sink;
    WatchOptions o = sink.options();
    o.batchLimit = 3;
    std::vector<std::pair<std::int64_t, std::int64_t>> spans;  // first, last revision of each batch
    auto cb = sink.callback();
    auto w = watch(kv, "/", [&](std::vector<Change> const& cs, std::int64_t rev) {
        if (!cs.empty()) spans.emplace_back(cs.front().revision, cs.back().revision);
        cb(cs, rev);
    }, 0, o);
    CHECK(sink.wait(kv->revision()));
    w->stop();
    CHECK(sameChanges(sink.seen, kv->changes(0, "/", 0)));
    // every revision lies in exactly one batch
    for (std::size_t i = 1; i < spans.size(); ++i) CHECK(spans[i].first > spans[i - 1].second);
    CHECK(spans.size() >= 2);
}

TEST_CASE("4 writer threads, 3 watchers, 2 mirrors: complete, ordered, equal") {
    auto kv = open("mem://");
    Sink all, one, late;
    auto wAll = watch(kv, "/", all.callback(), 0, all.options());
    auto wOne = watch(kv, "/w/1", one.callback(), 0, one.options(1ms));
    auto mAll = mirror(kv, "/", {});
    MirrorOptions mo;
    mo.interval = 2ms;
    auto mSub = mirror(kv, "/w/2", mo);
    std::vector<std::thread> ws;
    for (int i = 0; i < 4; ++i) ws.emplace_back(writer, kv, i, 400);
    // a watcher that starts from 0 while the writers run
    auto wLate = watch(kv, "/", late.callback(), 0, late.options(20ms));
    for (auto& t : ws) t.join();
    std::int64_t const rev = kv->revision();
    CHECK(all.wait(rev));
    CHECK(one.wait(rev));
    CHECK(late.wait(rev));
    CHECK(mAll->waitFor(rev, 20s));
    CHECK(mSub->waitFor(rev, 20s));
    wAll->stop();
    wOne->stop();
    wLate->stop();
    mAll->stop();
    mSub->stop();
    auto const log = kv->changes(0, "/", 0);
    CHECK(all.ordered && one.ordered && late.ordered);
    CHECK(sameChanges(all.seen, log));
    CHECK(sameChanges(late.seen, log));
    CHECK(sameChanges(one.seen, kv->changes(0, "/w/1", 0)));
    // each revision exactly once in the full feed
    std::int64_t prev = 0;
    for (auto const& c : all.seen) {
        CHECK(c.revision == prev || c.revision == prev + 1);
        prev = c.revision;
    }
    CHECK_EQ(prev, rev);
    CHECK_EQ(mAll->revision(), rev);
    CHECK(sameSnapshot(mAll->snapshot("/"), kv->snapshot("/")));
    CHECK(sameSnapshot(mSub->snapshot("/w/2"), kv->snapshot("/w/2")));
    CHECK(all.errors.empty());
}

#ifdef QCSS_WITH_SQLITE
TEST_CASE("SQLite: 4 writer threads with their own handles, watcher and mirror on others") {
    char tmpl[] = "/tmp/qcss-watch-test-XXXXXX";
    std::string const dir = mkdtemp(tmpl);
    std::string const url = "sqlite://" + dir + "/feed.db?create=1";
    auto kv = open(url);
    kv->set("/w/ready", "1");
    Sink all;
    auto w = watch(open(url), "/", all.callback(), 0, all.options());
    auto m = mirror(open(url), "/w", {});
    std::vector<std::thread> ws;
    for (int i = 0; i < 4; ++i) ws.emplace_back(writer, open(url), i, 60);
    for (auto& t : ws) t.join();
    std::int64_t const rev = kv->revision();
    CHECK(all.wait(rev));
    CHECK(m->waitFor(rev, 20s));
    w->stop();
    m->stop();
    CHECK(all.ordered);
    CHECK(sameChanges(all.seen, kv->changes(0, "/", 0)));
    CHECK(sameSnapshot(m->snapshot("/w"), kv->snapshot("/w")));
    std::remove((dir + "/feed.db").c_str());
    std::remove((dir + "/feed.db-wal").c_str());
    std::remove((dir + "/feed.db-shm").c_str());
    rmdir(dir.c_str());
}
#endif

TEST_CASE("mirror: read-only, waitFor, reads local, re-creation keeps create revision") {
    auto kv = open("mem://");
    kv->set("/m/a", "1");
    auto m = mirror(kv, "/m", {});
    CHECK_EQ(m->get("/m/a"), std::string("1"));
    CHECK_EQ(m->backend(), std::string("mirror"));
    CHECK(m->readOnly());
    CHECK_THROWS(m->set("/m/a", "2"), ReadonlyCss);
    CHECK_THROWS(m->create("/m/b"), ReadonlyCss);
    CHECK_THROWS(m->deleteKey("/m/a"), ReadonlyCss);
    CHECK_THROWS(m->compact(1), ReadonlyCss);
    CHECK(!m->waitFor(kv->revision() + 1, 1ms));  // not written yet: cannot be reached
    Transaction t = kv->transaction();
    t.deleteKey("/m/a").create("/m/a", "re").set("/m/b/c", "d");
    std::int64_t const rev = t.commit();
    CHECK(m->waitFor(rev, 20s));
    CHECK_EQ(m->get("/m/a"), std::string("re"));
    CHECK_EQ(m->getStat("/m/a").createRevision, kv->getStat("/m/a").createRevision);
    CHECK(sameSnapshot(m->snapshot("/m"), kv->snapshot("/m")));
    CHECK_THROWS(m->get("/m/zz"), NoSuchKey);
    CHECK_THROWS(m->get("bad"), InvalidKeyError);
    CHECK_EQ(m->get("/m/zz", "d"), std::string("d"));
    // a write outside the prefix still advances the mirror's revision
    kv->set("/elsewhere", "x");
    std::int64_t const rev2 = kv->revision();
    CHECK(m->waitFor(rev2, 20s));
    CHECK_EQ(m->revision(), rev2);
    CHECK(!m->exists("/elsewhere"));
}

TEST_CASE("errors are reported and retried without losing the position") {
    auto mem = open("mem://");
    auto flaky = std::make_shared<FlakyKv>(mem);
    Sink sink;
    auto w = watch(flaky, "/", sink.callback(), 0, sink.options(2ms));
    mem->set("/a", "1");
    CHECK(sink.wait(mem->revision()));
    flaky->down = true;
    for (int i = 0; i < 20; ++i) mem->set("/b/" + std::to_string(i), "v");
    CHECK(sink.waitErrors(3));  // retried with backoff, each failure reported
    flaky->down = false;
    CHECK(sink.wait(mem->revision()));
    w->stop();
    CHECK(sameChanges(sink.seen, mem->changes(0, "/", 0)));
    CHECK(sink.ordered);
    CHECK(w->errors() >= 3);
}

TEST_CASE("compaction: CompactedError, watcher and mirror resync from a snapshot") {
    auto mem = open("mem://");
    for (int i = 0; i < 10; ++i) mem->set("/c/" + std::to_string(i), "v");
    CHECK_EQ(mem->compact(5), 6);  // revision 1 also created /c
    CHECK_EQ(mem->compactedRevision(), 5);
    bool thrown = false;
    try {
        mem->changes(2, "/", 0);
    } catch (CompactedError const& e) {
        thrown = true;
        CHECK_EQ(e.oldestAvailable(), 6);
    }
    CHECK(thrown);
    // a watcher from 0 resyncs at once, then follows
    Sink sink;
    auto w = watch(mem, "/c", sink.callback(), 0, sink.options());
    CHECK(sink.wait(10));
    CHECK_EQ(sink.resyncs.size(), std::size_t(1));
    CHECK_EQ(sink.resyncs.at(0), 10);
    mem->set("/c/x", "after");
    CHECK(sink.wait(11));
    w->stop();
    CHECK_EQ(sink.seen.size(), std::size_t(1));
    CHECK_EQ(sink.seen.at(0).key, std::string("/c/x"));

    // a mirror whose source is unreachable while the log is compacted
    auto flaky = std::make_shared<FlakyKv>(mem);
    std::atomic<int> resyncs{0};
    MirrorOptions mo;
    mo.interval = 2ms;
    mo.maxBackoff = 20ms;
    mo.onResync = [&](std::int64_t) { ++resyncs; };
    auto m = mirror(flaky, "/c", mo);
    flaky->down = true;
    mem->deleteKey("/c/3");
    mem->set("/c/new", "n");
    std::int64_t const rev = mem->revision();
    mem->compact(rev);
    flaky->down = false;
    CHECK(m->waitFor(rev, 20s));
    CHECK_EQ(resyncs.load(), 1);
    CHECK_EQ(m->resyncs(), std::uint64_t(1));
    CHECK(sameSnapshot(m->snapshot("/c"), mem->snapshot("/c")));
}

TEST_CASE("a callback that throws is reported, not redelivered") {
    auto kv = open("mem://");
    Sink sink;
    std::atomic<int> calls{0};
    auto cb = sink.callback();
    auto w = watch(kv, "/", [&](std::vector<Change> const& cs, std::int64_t rev) {
        if (calls++ == 0) {
            cb(cs, rev);
            throw std::runtime_error("callback failed");
        }
        cb(cs, rev);
    }, 0, sink.options());
    kv->set("/a", "1");
    std::int64_t const r1 = kv->revision();
    CHECK(sink.waitErrors(1));
    kv->set("/b", "1");
    std::int64_t const r2 = kv->revision();
    CHECK(sink.wait(r2));
    w->stop();
    CHECK_EQ(sink.seen.size(), std::size_t(2));
    CHECK_EQ(sink.seen.at(0).revision, r1);
    CHECK_EQ(sink.errors.at(0), std::string("callback failed"));
}

TEST_CASE("stop() does not wait for the interval") {
    auto kv = open("mem://");
    WatchOptions o;
    o.interval = std::chrono::hours(1);  // the test would hang if stop() slept through it
    auto w = watch(kv, "/", [](std::vector<Change> const&, std::int64_t) {}, -1, o);
    w->stop();
    CHECK(!w->running());
}

TEST_CASE("compactRetaining: by count and by age") {
    auto kv = open("mem://");
    for (int i = 0; i < 20; ++i) kv->set("/k", std::to_string(i));
    CHECK_THROWS(compactRetaining(*kv, -1, -1), ConfigError);
    CompactPlan p = compactRetaining(*kv, 15, -1);
    CHECK_EQ(p.upToRevision, 5);
    CHECK_EQ(p.removed, 5);
    auto const log = kv->changes(5, "/", 0);
    // by age: a `now` just after revision 12's commit time, max age 0 keeps 13..20
    double const t12 = log.at(12 - 6).time;
    double const t13 = log.at(13 - 6).time;
    if (t13 > t12) {  // clock resolution permitting
        p = compactRetaining(*kv, -1, 0.0, CompactMode::DryRun, t13);
        CHECK_EQ(p.upToRevision, 12);
        CHECK_EQ(p.removed, 7);  // dry run: what compact() would remove (revisions 6..12)
        CHECK_EQ(kv->compactedRevision(), 5);  // and nothing removed
    }
    p = compactRetaining(*kv, -1, 1e9);  // nothing is that old
    CHECK_EQ(p.upToRevision, 5);
    p = compactRetaining(*kv, 0, 0.0, CompactMode::Apply, log.back().time + 1);
    CHECK_EQ(p.upToRevision, 20);
    CHECK_EQ(kv->compactedRevision(), 20);
}

QCSS_TEST_MAIN()
