// qcss: testing.h -- a minimal unit-test harness (no external dependency).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace qcss::testing {

struct Case {
    std::string name;
    std::function<void()> fn;
};

inline std::vector<Case>& registry() {
    static std::vector<Case> cases;
    return cases;
}

struct Register {
    Register(std::string name, std::function<void()> fn) {
        registry().push_back(Case{std::move(name), std::move(fn)});
    }
};

inline int& failures() {
    static int n = 0;
    return n;
}

/// Thrown by skipCase(): the case did not run (printed [SKIP], not [ OK ]).
struct Skipped {
    std::string reason;
};

/// End the current case as skipped (e.g. no MySQL server outside CI).
[[noreturn]] inline void skipCase(std::string reason) { throw Skipped{std::move(reason)}; }

inline int runAll() {
    int failedCases = 0;
    std::size_t skipped = 0;
    for (auto const& c : registry()) {
        int const before = failures();
        try {
            c.fn();
        } catch (Skipped const& s) {
            if (failures() == before) {
                ++skipped;
                std::cout << "[SKIP] " << c.name << ": " << s.reason << "\n";
                continue;
            }
        } catch (std::exception const& e) {
            std::cerr << "  unexpected exception: " << e.what() << "\n";
            ++failures();
        }
        bool const ok = failures() == before;
        if (!ok) ++failedCases;
        std::cout << (ok ? "[ OK ] " : "[FAIL] ") << c.name << "\n";
    }
    std::cout << registry().size() - static_cast<std::size_t>(failedCases) - skipped << "/"
              << registry().size() << " passed, " << skipped << " skipped\n";
    return failedCases == 0 ? 0 : 1;
}

/// True if the shared fixture file `rel` (under ../shared/fixtures, Qserv's
/// data kept out of the repository) is there. If not, the test is skipped with
/// the reason, except in CI (CI set), where a missing fixture is a failure.
inline bool haveFixture(std::string const& dir, std::string const& rel) {
    std::string const path = dir + "/" + rel;
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        std::fclose(f);
        return true;
    }
    char const* ci = std::getenv("CI");
    if (ci != nullptr && *ci != '\0') {
        std::cerr << "  missing fixture in CI: " << path << "\n";
        ++failures();
    } else {
        skipCase("fixture " + path + " is missing (../shared/fixtures)");
    }
    return false;
}

}  // namespace qcss::testing

#define QCSS_CAT2(a, b) a##b
#define QCSS_CAT(a, b) QCSS_CAT2(a, b)
#define TEST_CASE(name)                                                                    \
    static void QCSS_CAT(test_fn_, __LINE__)();                                            \
    static ::qcss::testing::Register QCSS_CAT(test_reg_, __LINE__)(name,                   \
                                                                   QCSS_CAT(test_fn_, __LINE__)); \
    static void QCSS_CAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK(" #cond ") failed\n";     \
            ++::qcss::testing::failures();                                                 \
        }                                                                                  \
    } while (0)

// Both sides are copied: a reference into a temporary (f().results[0].version)
// would dangle past the full expression.
#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        auto const qa_ = (a);                                                              \
        auto const qb_ = (b);                                                              \
        if (!(qa_ == qb_)) {                                                               \
            std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK_EQ(" #a ", " #b ") failed: " \
                      << qa_ << " != " << qb_ << "\n";                                     \
            ++::qcss::testing::failures();                                                 \
        }                                                                                  \
    } while (0)

#define CHECK_THROWS(expr, Type)                                                           \
    do {                                                                                   \
        bool thrown_ = false;                                                              \
        try {                                                                              \
            (void)(expr);                                                                  \
        } catch (Type const&) {                                                            \
            thrown_ = true;                                                                \
        } catch (std::exception const& e) {                                                \
            std::cerr << __FILE__ << ":" << __LINE__ << ": " #expr " threw the wrong type: " \
                      << e.what() << "\n";                                                 \
        }                                                                                  \
        if (!thrown_) {                                                                    \
            std::cerr << __FILE__ << ":" << __LINE__ << ": " #expr " did not throw " #Type "\n"; \
            ++::qcss::testing::failures();                                                 \
        }                                                                                  \
    } while (0)

#define QCSS_TEST_MAIN() \
    int main() { return ::qcss::testing::runAll(); }
