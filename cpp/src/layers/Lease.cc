// qcss: Lease.cc -- the keep-alive thread of a lease (see Lease.h).
#include "qcss/Lease.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace qcss {

using Clock = std::chrono::steady_clock;

struct Lease::State {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    bool lost = false;
    bool revoked = false;
    bool lostNotified = false;
    Clock::time_point safeUntil;
    std::thread thread;
};

Lease::Lease(KvPtr kv, std::chrono::milliseconds ttl, LeaseOptions opts)
        : _kv(std::move(kv)), _ttl(ttl), _opts(std::move(opts)), _st(std::make_shared<State>()) {
    if (!_kv) throw ConfigError("grantLease: no store");
    if (_ttl.count() <= 0)
        throw ConfigError("lease TTL must be positive, got " + std::to_string(_ttl.count()) + " ms");
    auto const sent = Clock::now();
    _id = _kv->grantLease(_ttl, _opts.purpose);
    _st->safeUntil = sent + _ttl;
    _st->thread = std::thread([this] { run(); });
}

Lease::~Lease() {
    try {
        revoke();
    } catch (...) {
        // The lease expires on its own; nothing else to do in a destructor.
    }
    {
        std::lock_guard<std::mutex> g(_st->mu);
        _st->stop = true;
    }
    _st->cv.notify_all();
    if (_st->thread.joinable()) {
        // Destroyed from its own lost-callback: the thread ends right after.
        if (_st->thread.get_id() == std::this_thread::get_id())
            _st->thread.detach();
        else
            _st->thread.join();
    }
}

bool Lease::lost() const {
    std::lock_guard<std::mutex> g(_st->mu);
    return _st->lost;
}

bool Lease::revoked() const {
    std::lock_guard<std::mutex> g(_st->mu);
    return _st->revoked;
}

Clock::time_point Lease::safeUntil() const {
    std::lock_guard<std::mutex> g(_st->mu);
    return _st->safeUntil;
}

void Lease::markLost() {
    bool notify = false;
    {
        std::lock_guard<std::mutex> g(_st->mu);
        if (_st->revoked) return;
        _st->lost = true;
        _st->stop = true;
        notify = !_st->lostNotified;
        _st->lostNotified = true;
    }
    _st->cv.notify_all();
    if (notify && _opts.onLost) {
        try {
            _opts.onLost(_id);
        } catch (...) {
            // A callback's failure must not kill the process from a background thread.
        }
    }
}

bool Lease::keepAlive() {
    {
        std::lock_guard<std::mutex> g(_st->mu);
        if (_st->lost || _st->revoked) return false;
    }
    auto const sent = Clock::now();
    if (!_kv->keepLeaseAlive(_id)) {
        markLost();
        return false;
    }
    std::lock_guard<std::mutex> g(_st->mu);
    _st->safeUntil = std::max(_st->safeUntil, sent + _ttl);
    return true;
}

void Lease::run() {
    auto const period = std::max(_ttl / 3, std::chrono::milliseconds(1));
    auto const retry = std::max(_ttl / 10, std::chrono::milliseconds(1));
    auto next = Clock::now() + period;
    for (;;) {
        {
            std::unique_lock<std::mutex> lk(_st->mu);
            _st->cv.wait_until(lk, next, [this] { return _st->stop; });
            if (_st->stop) return;
        }
        try {
            if (!keepAlive()) return;  // lost: markLost ran
            next = Clock::now() + period;
        } catch (std::exception const&) {
            // Unreachable store: retry sooner; give up once the lease surely expired.
            if (Clock::now() >= safeUntil()) {
                markLost();
                return;
            }
            next = Clock::now() + retry;
            continue;
        }
        if (_opts.reap) {
            try {
                _kv->reapExpiredLeases();
            } catch (std::exception const&) {
                // Reaping is best effort: another client (or the next tick) does it.
            }
        }
    }
}

void Lease::revoke() {
    {
        std::lock_guard<std::mutex> g(_st->mu);
        if (_st->revoked) return;
        _st->revoked = true;
        _st->stop = true;
    }
    _st->cv.notify_all();
    if (_st->thread.joinable() && _st->thread.get_id() != std::this_thread::get_id())
        _st->thread.join();
    _kv->revokeLease(_id);
}

LeasePtr grantLease(KvPtr kv, std::chrono::milliseconds ttl, LeaseOptions opts) {
    return std::make_shared<Lease>(std::move(kv), ttl, std::move(opts));
}

}  // namespace qcss
