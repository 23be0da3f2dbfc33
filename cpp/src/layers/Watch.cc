// qcss: Watch.cc -- the polling watcher and log compaction by retention policy.
#include "qcss/Watch.h"

#include <algorithm>
#include <chrono>

#include "core/KvBase.h"
#include "qcss/Key.h"

namespace qcss {

Watcher::Watcher(KvPtr kv, std::string prefix, WatchCallback callback, std::int64_t sinceRevision,
                 WatchOptions options)
        : _kv(std::move(kv)),
          _prefix(std::move(prefix)),
          _callback(std::move(callback)),
          _opts(std::move(options)),
          _position(sinceRevision) {
    if (!_kv) throw ConfigError("watch: no store given");
    validateKey(_prefix);
    if (_opts.interval.count() < 0) throw ConfigError("watch: the interval must not be negative");
    if (sinceRevision < 0) _position = _kv->revision();
    _thread = std::thread([this] { run(); });
}

Watcher::~Watcher() { stop(); }

void Watcher::stop() {
    {
        std::lock_guard lock(_mu);
        _stop = true;
    }
    _cv.notify_all();
    if (_thread.joinable()) {
        if (std::this_thread::get_id() == _thread.get_id()) return;  // from a callback
        _thread.join();
    }
}

void Watcher::wake() {
    {
        std::lock_guard lock(_mu);
        _woken = true;
    }
    _cv.notify_all();
}

void Watcher::waitFor(std::chrono::milliseconds d) {
    std::unique_lock lock(_mu);
    _cv.wait_for(lock, d, [this] { return _stop.load() || _woken; });
    _woken = false;
}

void Watcher::waitUntil(std::chrono::steady_clock::time_point t) {
    std::unique_lock lock(_mu);
    _cv.wait_until(lock, t, [this] { return _stop.load() || _woken; });
    _woken = false;
}

void Watcher::report(std::exception_ptr e, int attempt) {
    if (!_opts.onError) return;
    try {
        _opts.onError(e, attempt);
    } catch (...) {
        // An error callback that fails has nowhere to report to.
    }
}

bool Watcher::pollOnce() {
    _polls.fetch_add(1, std::memory_order_relaxed);
    std::int64_t const pos = _position.load();
    std::int64_t const rev = _kv->revision();
    if (rev < pos)
        // Revisions only grow: the store was restored from an older copy (a
        // backup). What this watcher delivered may not be in it any more, so
        // it starts again from a snapshot, as after a compaction.
        throw CompactedError("the store's revision " + std::to_string(rev) +
                                     " is behind this watcher's position " + std::to_string(pos) +
                                     " (restored from an older copy?)",
                             rev + 1);
    if (rev == pos) return false;
    // Read the log up to `rev`. Every revision <= rev is committed (revisions
    // are taken in commit order), so the log holds all of them; changes past
    // `rev` that a read returns are left for the next round.
    std::vector<Change> batch;
    std::int64_t from = pos;
    for (;;) {
        std::vector<Change> got;
        try {
            got = _kv->changes(from, _prefix, _opts.batchLimit);
        } catch (CompactedError const&) {
            if (!batch.empty()) break;  // deliver what we have first, resync next round
            throw;
        }
        bool const full = _opts.batchLimit > 0 && got.size() >= _opts.batchLimit;
        bool passed = false;
        for (auto& c : got) {
            if (c.revision > rev) {
                passed = true;
                break;
            }
            batch.push_back(std::move(c));
        }
        if (!full || passed || batch.empty()) {
            from = rev;
            break;
        }
        from = batch.back().revision;
        if (from >= rev) break;
        // Deliver a full batch before reading further (bounded memory).
        if (batch.size() >= _opts.batchLimit) break;
    }
    if (!batch.empty() || _opts.emptyBatches) {
        _batches.fetch_add(1, std::memory_order_relaxed);
        try {
            _callback(batch, from);
        } catch (...) {
            report(std::current_exception(), 0);
        }
    }
    _position = from;
    return true;
}

void Watcher::run() {
    int failures = 0;
    auto backoff = std::max(_opts.interval, std::chrono::milliseconds(20));
    while (!_stop.load()) {
        // Polls start at a fixed rate (one every interval, whatever a poll
        // takes), so a commit waits interval/2 on average for the next one.
        auto const started = std::chrono::steady_clock::now();
        bool progressed = false;
        try {
            progressed = pollOnce();
            failures = 0;
            backoff = std::max(_opts.interval, std::chrono::milliseconds(20));
        } catch (CompactedError const& e) {
            // Trimmed past our position: reload the subtree and carry on from it.
            try {
                Snapshot snap = _kv->snapshot(_prefix);
                _resyncs.fetch_add(1);
                if (_opts.onResync) {
                    try {
                        _opts.onResync(snap);
                    } catch (...) {
                        report(std::current_exception(), 0);
                    }
                } else {
                    report(std::make_exception_ptr(e), 0);
                }
                _position = snap.revision;
                failures = 0;
                progressed = true;
            } catch (...) {
                _errors.fetch_add(1);
                report(std::current_exception(), ++failures);
            }
        } catch (...) {
            _errors.fetch_add(1);
            report(std::current_exception(), ++failures);
        }
        if (_stop.load()) break;
        if (failures > 0) {
            waitFor(backoff);
            backoff = std::min(backoff * 2, std::max(_opts.maxBackoff, _opts.interval));
        } else if (!progressed) {
            waitUntil(started + _opts.interval);
        }
        // After progress, poll again at once: more may have been committed.
    }
}

std::unique_ptr<Watcher> watch(KvPtr kv, std::string const& prefix, WatchCallback callback,
                               std::int64_t sinceRevision, WatchOptions options) {
    return std::make_unique<Watcher>(std::move(kv), prefix, std::move(callback), sinceRevision,
                                     std::move(options));
}

// ---- compaction -------------------------------------------------------------

CompactPlan compactRetaining(KvInterface& kv, std::int64_t keepRevisions, double maxAgeSeconds,
                             CompactMode mode, double now) {
    bool const dryRun = mode == CompactMode::DryRun;
    if (keepRevisions < 0 && maxAgeSeconds < 0)
        throw ConfigError("compact: give a number of revisions to keep, a maximum age, or both");
    std::int64_t const head = kv.revision();
    std::int64_t const floor = kv.compactedRevision();
    std::int64_t target = head;
    if (keepRevisions >= 0) target = std::min(target, head - keepRevisions);
    if (maxAgeSeconds >= 0) {
        if (now < 0) now = detail::wallClockNow();
        double const cutoff = now - maxAgeSeconds;
        // The largest revision committed before the cutoff: binary search on
        // the time of the first change after a revision (times follow
        // revisions: one clock, commit order).
        std::int64_t lo = floor, hi = std::min(target, head);  // answer in [lo, hi]
        while (lo < hi) {
            std::int64_t const mid = lo + (hi - lo + 1) / 2;
            std::vector<Change> c = kv.changes(mid - 1, "/", 1);
            bool const old = !c.empty() && c.front().revision <= mid && c.front().time < cutoff;
            if (old)
                lo = mid;
            else
                hi = mid - 1;
        }
        target = std::min(target, lo);
    }
    CompactPlan plan;
    plan.upToRevision = std::max(target, floor);
    if (!dryRun && plan.upToRevision > floor) plan.removed = kv.compact(plan.upToRevision);
    if (dryRun && plan.upToRevision > floor) {
        // What compact() would remove: the log entries of the revisions in (floor, upTo].
        std::int64_t n = 0;
        for (Change const& c : kv.changes(floor, "/", 0))
            if (c.revision <= plan.upToRevision) ++n;
        plan.removed = n;
    }
    return plan;
}

}  // namespace qcss
