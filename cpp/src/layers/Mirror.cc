// qcss: Mirror.cc -- a read-only local copy kept current by a Watcher.
#include "qcss/Mirror.h"

#include <exception>

#include "mem/MemKv.h"
#include "qcss/Key.h"

namespace qcss {

namespace {
[[noreturn]] void readonly(std::string const& what) {
    throw ReadonlyCss("cannot " + what + ": a mirror is read-only (write to its source store)");
}
}  // namespace

Mirror::Mirror(KvPtr source, std::string prefix, MirrorOptions options)
        : _source(std::move(source)), _prefix(std::move(prefix)), _opts(std::move(options)) {
    if (!_source) throw ConfigError("mirror: no source store given");
    validateKey(_prefix);
    detail::StoreOptions so;
    so.readOnly = false;  // written only by the watcher; Mirror refuses mutations itself
    so.url = _source->url();
    so.clientId = _source->clientId();
    so.maxValueSize = _source->maxValueSize();
    _local = std::make_shared<detail::MemKv>(so);
    _local->setBackendName("mirror");
    _local->disableChangeLog();
    Snapshot const snap = _source->snapshot(_prefix);
    _local->loadSnapshot(snap);
    _applied = snap.revision;

    WatchOptions wo;
    wo.interval = _opts.interval;
    wo.batchLimit = _opts.batchLimit;
    wo.maxBackoff = _opts.maxBackoff;
    wo.emptyBatches = true;
    wo.onError = _opts.onError;
    wo.onResync = [this](Snapshot const& s) {
        _local->loadSnapshot(s);
        // Tell the owner before waking waiters, so that whoever waitFor()
        // releases also sees the resync reported.
        std::exception_ptr err;
        if (_opts.onResync) {
            try {
                _opts.onResync(s.revision);
            } catch (...) {
                err = std::current_exception();
            }
        }
        applied(s.revision);
        if (err) std::rethrow_exception(err);  // reported by the watcher
    };
    _watcher = std::make_unique<Watcher>(
            _source, _prefix,
            [this](std::vector<Change> const& changes, std::int64_t rev) {
                applied(_local->applyChanges(changes, rev));
            },
            snap.revision, std::move(wo));
}

Mirror::~Mirror() { stop(); }

void Mirror::stop() {
    if (_watcher) _watcher->stop();
}

void Mirror::wake() {
    if (_watcher) _watcher->wake();
}

void Mirror::applied(std::int64_t revision) {
    {
        std::lock_guard lock(_mu);
        _applied = revision;
    }
    _cv.notify_all();
}

bool Mirror::waitFor(std::int64_t revision, std::chrono::milliseconds timeout, MirrorWake wake) {
    std::unique_lock lock(_mu);
    if (_applied >= revision) return true;
    if (wake == MirrorWake::PollNow && _watcher) _watcher->wake();
    return _cv.wait_for(lock, timeout, [&] { return _applied >= revision; });
}

std::uint64_t Mirror::resyncs() const noexcept { return _watcher ? _watcher->resyncs() : 0; }
std::uint64_t Mirror::errors() const noexcept { return _watcher ? _watcher->errors() : 0; }

CommitResult Mirror::commit(std::vector<Op> const&) { readonly("commit a batch"); }
std::string Mirror::get(std::string const& key) { return _local->get(key); }
std::string Mirror::get(std::string const& key, std::string const& defaultValue) {
    return _local->get(key, defaultValue);
}
bool Mirror::withValue(std::string_view key, std::function<void(std::string const&)> const& fn) {
    return _local->withValue(key, fn);
}

bool Mirror::tryGet(std::string const& key, std::string& out) { return _local->tryGet(key, out); }
KeyStat Mirror::getStat(std::string const& key) { return _local->getStat(key); }
std::map<std::string, std::string> Mirror::getMany(std::vector<std::string> const& keys) {
    return _local->getMany(keys);
}
bool Mirror::exists(std::string const& key) { return _local->exists(key); }
std::vector<std::string> Mirror::getChildren(std::string const& key) {
    return _local->getChildren(key);
}
std::map<std::string, std::string> Mirror::getChildrenValues(std::string const& key) {
    return _local->getChildrenValues(key);
}
Snapshot Mirror::snapshot(std::string const& prefix) { return _local->snapshot(prefix); }
std::int64_t Mirror::revision() { return _local->revision(); }
std::vector<Change> Mirror::changes(std::int64_t sinceRevision, std::string const& prefix,
                                    std::size_t limit) {
    return _source->changes(sinceRevision, prefix, limit);
}
std::int64_t Mirror::compact(std::int64_t) { readonly("compact the change log"); }
std::int64_t Mirror::compactedRevision() { return _source->compactedRevision(); }
std::int64_t Mirror::grantLease(std::chrono::milliseconds, std::string const&) { readonly("grant a lease"); }
bool Mirror::keepLeaseAlive(std::int64_t) { readonly("keep a lease alive"); }
void Mirror::revokeLease(std::int64_t) { readonly("revoke a lease"); }
std::int64_t Mirror::reapExpiredLeases() { readonly("reap expired leases"); }
std::vector<LeaseInfo> Mirror::leases() { return _source->leases(); }
std::string Mirror::url() const { return "mirror:" + _source->url() + "#" + _prefix; }
std::string Mirror::clientId() const { return _source->clientId(); }
std::size_t Mirror::maxValueSize() const noexcept { return _source->maxValueSize(); }

std::shared_ptr<Mirror> mirror(KvPtr source, std::string const& prefix, MirrorOptions options) {
    return std::make_shared<Mirror>(std::move(source), prefix, std::move(options));
}

}  // namespace qcss
