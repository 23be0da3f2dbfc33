// qcss: Watch.h -- change detection by polling that never misses a change.
//
// A Watcher runs one C++ thread that polls a store (any KvInterface):
//
//   idle poll   one call to revision() (one indexed point read on SQL);
//   if moved    changes(position, prefix, batchLimit) until caught up with the
//               revision read, then the callback, then position := revision.
//
// Guarantees (see docs/watch.md):
// - the callback sees every change to `prefix` or under it with revision >
//   sinceRevision exactly once, in revision order, a transaction's changes in
//   one batch (never split), batches in order, from one thread;
// - a change is delivered only once the revision read from the store covers it,
//   so a batch never holds a revision whose predecessors are not yet visible;
// - an error while polling (server down, lost connection) is reported to
//   onError with the attempt number, then retried with exponential backoff
//   (interval .. maxBackoff) from the same position: nothing is lost;
// - if the change log was compacted past the position (CompactedError), the
//   watcher reloads snapshot(prefix), calls onResync(snapshot) and continues
//   from the snapshot's revision. Without onResync the CompactedError is
//   reported to onError instead, so a skipped range is never silent;
// - an exception thrown by the callback is reported to onError and the batch
//   counts as delivered (at most once: it is not retried);
// - stop() wakes the thread at once (condition variable) and joins it; it may
//   be called from any thread, also from a callback (then it does not join).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "qcss/KvInterface.h"

namespace qcss {

/// Called with each batch of changes and the revision the watcher reached
/// (>= the revision of every change in the batch).
using WatchCallback = std::function<void(std::vector<Change> const& changes, std::int64_t revision)>;
/// Called with the error and the number of consecutive failed attempts (1, 2, ...).
using WatchErrorCallback = std::function<void(std::exception_ptr error, int attempt)>;
/// Called after the watcher reloaded the subtree because the log was compacted.
using WatchResyncCallback = std::function<void(Snapshot const& snapshot)>;

struct WatchOptions {
    /// Time between the starts of two polls when nothing changed.
    std::chrono::milliseconds interval{100};
    /// Most changes read by one changes() call (a transaction is never split,
    /// so a batch may hold more); 0: no limit.
    std::size_t batchLimit = 10000;
    /// Longest wait between two attempts after errors.
    std::chrono::milliseconds maxBackoff{2000};
    /// Also call the callback with an empty batch when the store's revision
    /// moved but nothing changed under the prefix (mirrors use it to advance).
    bool emptyBatches = false;
    WatchErrorCallback onError;
    WatchResyncCallback onResync;
};

/// A running poller; see the file comment. Destroying it stops it.
class Watcher {
public:
    Watcher(KvPtr kv, std::string prefix, WatchCallback callback, std::int64_t sinceRevision,
            WatchOptions options);
    ~Watcher();
    Watcher(Watcher const&) = delete;
    Watcher& operator=(Watcher const&) = delete;

    /// Stop polling and join the thread (immediate; idempotent). Called from
    /// the watcher's own callbacks it only asks the thread to stop.
    void stop();
    /// Poll now instead of waiting for the end of the interval.
    void wake();
    bool running() const noexcept { return !_stop.load(); }
    /// True when called from the watcher's own thread (inside a callback).
    /// Destroying a Watcher there is not allowed (it cannot join itself).
    bool onWatcherThread() const noexcept { return std::this_thread::get_id() == _thread.get_id(); }

    /// The revision up to which every change has been delivered.
    std::int64_t position() const noexcept { return _position.load(); }
    std::string const& prefix() const noexcept { return _prefix; }
    std::uint64_t polls() const noexcept { return _polls.load(); }
    std::uint64_t errors() const noexcept { return _errors.load(); }
    std::uint64_t resyncs() const noexcept { return _resyncs.load(); }
    std::uint64_t batches() const noexcept { return _batches.load(); }

private:
    void run();
    bool pollOnce();  // true if it delivered up to a newer revision
    void waitFor(std::chrono::milliseconds d);
    void waitUntil(std::chrono::steady_clock::time_point t);
    void report(std::exception_ptr e, int attempt);

    KvPtr _kv;
    std::string const _prefix;
    WatchCallback _callback;
    WatchOptions const _opts;
    std::atomic<std::int64_t> _position;
    std::atomic<bool> _stop{false};
    std::atomic<std::uint64_t> _polls{0}, _errors{0}, _resyncs{0}, _batches{0};
    std::mutex _mu;
    std::condition_variable _cv;
    bool _woken = false;
    std::thread _thread;
};

/// Start watching `prefix` of `kv`. `sinceRevision` < 0: from the store's
/// current revision (read here, so any change committed after this call
/// returns is delivered); 0: from the beginning of the log.
std::unique_ptr<Watcher> watch(KvPtr kv, std::string const& prefix, WatchCallback callback,
                               std::int64_t sinceRevision = -1, WatchOptions options = {});

// ---- compaction -------------------------------------------------------------

struct CompactPlan {
    std::int64_t upToRevision = 0;  ///< changes with revision <= this are dropped
    std::int64_t removed = 0;       ///< entries removed (DryRun: entries compact would remove)
};

/// Whether compactRetaining() compacts or only says what it would remove.
enum class CompactMode { Apply, DryRun };

/// Compact the log keeping the last `keepRevisions` revisions (-1: no limit by
/// count) and the changes younger than `maxAgeSeconds` (< 0: no limit by age),
/// a revision is dropped only if every policy given allows it. At least one
/// policy must be given (ConfigError otherwise).
/// The age cut is found by binary search over the log's commit times
/// (O(log n) reads of one change). `now` < 0: this machine's clock.
CompactPlan compactRetaining(KvInterface& kv, std::int64_t keepRevisions, double maxAgeSeconds,
                             CompactMode mode = CompactMode::Apply, double now = -1);

}  // namespace qcss
