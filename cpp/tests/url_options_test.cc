// qcss: url_options_test.cc -- the table of URL options (schema/url-options.tsv)
// as the library applies it; tests/test_url_options.py checks the Python side.
#include "core/UrlOptions.h"
#include "qcss/Errors.h"
#include "qcss/Open.h"
#include "testing.h"

using namespace qcss;

TEST_CASE("the embedded table lists the common and per-backend options") {
    auto const& table = detail::urlOptions();
    CHECK(table.size() >= 10);
    bool common = false, sqliteOnly = false;
    for (auto const& o : table) {
        CHECK(!o.name.empty() && !o.backends.empty() && !o.meaning.empty());
        if (o.name == "read_only") common = o.backends.size() == 3;
        if (o.name == "create") sqliteOnly = o.backends == std::vector<std::string>{"sqlite"};
    }
    CHECK(common);
    CHECK(sqliteOnly);
}

TEST_CASE("a listed option is accepted, anything else refused before connecting") {
    CHECK(open("mem://?read_only=0&client=me&max_value_size=100")->create("/k", "v") == "/k");
    CHECK_THROWS(open("mem://?bogus=1"), ConfigError);
    CHECK_THROWS(open("mem://?create=1"), ConfigError);
    CHECK_THROWS(open("sqlite:///nonexistent/x.db?socket=/s"), ConfigError);
    // Port 1: nothing listens; the option is refused before any connection.
    CHECK_THROWS(open("mysql://u@127.0.0.1:1/db?synchronous=off"), ConfigError);
    try {
        open("mariadb://u:secret@127.0.0.1:1/db?bogus");
        CHECK(false);
    } catch (ConfigError const& e) {
        std::string const msg = e.what();
        CHECK(msg.find("unknown option 'bogus' in URL mariadb://u:***@127.0.0.1:1/db") == 0);
        CHECK(msg.find("a mysql URL takes read_only, ") != std::string::npos);
        CHECK(msg.find("secret") == std::string::npos);
    }
}

QCSS_TEST_MAIN()
