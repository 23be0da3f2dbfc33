// qcss: sql/SqlPool.cc -- the connection pool, the translation of database errors
// into the qcss exception tree (the retry loop itself, SqlKv::run, is in
// SqlKvImpl.h), and urlSeconds.
#include "sql/SqlKvImpl.h"

namespace qcss::detail::sql {

double urlSeconds(std::string const& value, double dflt, std::string const& name,
                  std::string const& maskedUrl) {
    if (value.empty()) return dflt;
    try {
        std::size_t pos = 0;
        double const v = std::stod(value, &pos);
        if (pos != value.size() || v < 0) throw std::invalid_argument(value);
        return v;
    } catch (std::exception const&) {
        throw ConfigError("bad " + name + " '" + value + "' in URL " + maskedUrl +
                          " (expected seconds)");
    }
}

// ---- Pool -------------------------------------------------------------------

std::unique_ptr<Conn> Pool::acquire() {
    std::unique_lock<std::mutex> lk(_mu);
    while (true) {
        if (!_idle.empty()) {
            Idle it = std::move(_idle.back());
            _idle.pop_back();
            lk.unlock();
            double const idle =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - it.since)
                            .count();
            if (skipPoolCheck.load(std::memory_order_relaxed) || it.conn->stillAlive(idle))
                return std::move(it.conn);
            it.conn.reset();  // dead (closed by the server): replace it
            lk.lock();
            --_total;
            continue;
        }
        if (_total < _max) {
            ++_total;
            lk.unlock();
            try {
                return _driver.connect();
            } catch (...) {
                lk.lock();
                --_total;
                _cv.notify_one();
                throw;
            }
        }
        _cv.wait(lk);
    }
}

void Pool::release(std::unique_ptr<Conn> c) {
    if (!c) return;
    std::lock_guard<std::mutex> lk(_mu);
    if (c->usable()) {
        _idle.push_back({std::move(c), std::chrono::steady_clock::now()});
    } else {
        --_total;
    }
    _cv.notify_one();
}

void Pool::adopt(std::unique_ptr<Conn> c) {
    std::lock_guard<std::mutex> lk(_mu);
    ++_total;
    _idle.push_back({std::move(c), std::chrono::steady_clock::now()});
}

void SqlKv::translate(DbError const& e, char const* what) const {
    std::string const msg = std::string(what) + ": " + e.what() + " [" + _opts.url + "]";
    switch (e.kind()) {
        case ErrKind::Auth: throw AuthError(msg);
        case ErrKind::Connect:
        case ErrKind::Lost: throw ConnError(msg);
        case ErrKind::Deadlock:
        case ErrKind::LockTimeout:
        case ErrKind::Busy:
            throw ConnError(msg + " (still failing after retrying for " +
                            std::to_string(static_cast<int>(_retry.deadlineSec)) +
                            " s; see retry_timeout)");
        case ErrKind::TooLarge: throw ValueTooLargeError(msg);
        case ErrKind::CommitUnknown:
            throw CommitUnknownError(std::string(what) + ": the connection was lost while "
                                     "committing; the outcome is unknown (check revision() and "
                                     "the keys before retrying): " + e.what() + " [" + _opts.url +
                                     "]");
        case ErrKind::NoSchema:
            throw SchemaError(msg + " -- is the qcss schema installed? run: css-admin schema init");
        case ErrKind::ReadOnly: throw ReadonlyCss(msg);
        case ErrKind::DiskFull: throw DiskFullError(msg);
        case ErrKind::FileGone: throw StoreFileGoneError(msg);
        case ErrKind::Corrupt: throw CorruptStoreError(msg);
        case ErrKind::Storage: throw StorageError(msg);
        case ErrKind::Duplicate:
        case ErrKind::Precondition:
        case ErrKind::Other: break;
    }
    throw CssError(msg);
}

}  // namespace qcss::detail::sql
