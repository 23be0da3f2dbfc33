// qcss: url_test.cc -- the one URL split rule: parseUrl() and maskUrl() agree,
// and no password (whatever it contains) survives masking or an error message.
#include <string>
#include <vector>

#include "core/Url.h"
#include "qcss/Errors.h"
#include "qcss/Open.h"
#include "testing.h"

using namespace qcss;
using qcss::detail::parseUrl;

namespace {

struct Nasty {
    std::string raw;      ///< as written in the URL
    std::string decoded;  ///< the password the server gets
};

std::vector<Nasty> const kNasty = {
        {"50%off", "50%off"},      {"p#ss", "p#ss"},         {"a/b?c", "a/b?c"},
        {"p@ss", "p@ss"},          {":", ":"},               {"p:w:d", "p:w:d"},
        {"s\xc3\xa9same", "s\xc3\xa9same"}, {"with space", "with space"},
        {"p%40ss%23%2F", "p@ss#/"}, {"%zz%", "%zz%"},        {"x?password=y&z", "x?password=y&z"},
};

bool leaks(std::string const& text, std::string const& password) {
    return !password.empty() && password != ":" && text.find(password) != std::string::npos;
}

}  // namespace

TEST_CASE("nasty passwords: parsed whole, masked whole") {
    for (auto const& n : kNasty) {
        std::string const url = "mysql://u:" + n.raw + "@db.example:3307/css?connect_timeout=3";
        auto const u = parseUrl(url);
        CHECK_EQ(u.user, std::string("u"));
        CHECK(u.hasPassword);
        CHECK_EQ(u.password, n.decoded);
        CHECK_EQ(u.host, std::string("db.example"));
        CHECK_EQ(u.port, 3307);
        CHECK_EQ(u.path, std::string("/css"));
        CHECK_EQ(u.param("connect_timeout"), std::string("3"));
        std::string const m = maskUrl(url);
        CHECK_EQ(m, std::string("mysql://u:***@db.example:3307/css?connect_timeout=3"));
        CHECK(!leaks(m, n.raw));
        CHECK(!leaks(m, n.decoded));
    }
}

TEST_CASE("errors of malformed URLs never quote the password") {
    for (auto const& n : kNasty) {
        for (std::string const& url :
             {"mysql://u:" + n.raw + "@h:port/db", "mysql://u:" + n.raw + "@h:99999999/db",
              "mysql://u:" + n.raw + "@h%zz/db", "nosuch://u:" + n.raw + "@h/db"}) {
            try {
                (void)open(url);
                CHECK(false);
            } catch (ConfigError const& e) {
                CHECK(!leaks(e.what(), n.raw));
                CHECK(!leaks(e.what(), n.decoded));
            }
        }
    }
}

TEST_CASE("query passwords are masked; other parameters kept") {
    CHECK_EQ(maskUrl("mysql://u@h/db?password=s3cret&ssl=1"),
             std::string("mysql://u@h/db?password=***&ssl=1"));
    CHECK_EQ(maskUrl("mysql://u@h/db?ssl=1&passwd=a#b/c"), std::string("mysql://u@h/db?ssl=1&passwd=***"));
    CHECK_EQ(maskUrl("mysql://u@h/db?mypassword=x"), std::string("mysql://u@h/db?mypassword=x"));
    CHECK_EQ(parseUrl("mysql://u@h/db?password=50%off").param("password"), std::string("50%off"));
    CHECK_EQ(parseUrl("mysql://u@h/db?password=a%26b").param("password"), std::string("a&b"));
}

TEST_CASE("URLs without a password are left alone") {
    for (char const* url :
         {"mem://", "mem:///tmp/a@b.json", "sqlite:///tmp/x:y@z/css.db?create=1",
          "mysql://root@127.0.0.1:3306/test", "mysql://h/db"}) {
        CHECK_EQ(maskUrl(url), std::string(url));
    }
    auto const s = parseUrl("sqlite:///tmp/x:y@z/css.db?create=1");
    CHECK_EQ(s.path, std::string("/tmp/x:y@z/css.db"));
    CHECK(!s.hasPassword);
    CHECK_EQ(s.param("create"), std::string("1"));
    auto const r = parseUrl("mysql://root@127.0.0.1:3306/test");
    CHECK_EQ(r.user, std::string("root"));
    CHECK(!r.hasPassword);
}

TEST_CASE("a URL without a scheme is masked all the same") {
    CHECK_EQ(maskUrl("u:p#ss@h/db"), std::string("u:***@h/db"));
}
QCSS_TEST_MAIN()

TEST_CASE("host lists: each host with or without a port, the first is host/port") {
    qcss::detail::Url const u = parseUrl("mysql://u:p@h1:3306,h2:3307,h3/db?failover=random");
    CHECK_EQ(u.hosts.size(), 3u);
    if (u.hosts.size() != 3u) return;
    CHECK_EQ(u.hosts[0].first + ":" + std::to_string(u.hosts[0].second), std::string("h1:3306"));
    CHECK_EQ(u.hosts[1].first + ":" + std::to_string(u.hosts[1].second), std::string("h2:3307"));
    CHECK_EQ(u.hosts[2].first + ":" + std::to_string(u.hosts[2].second), std::string("h3:0"));
    CHECK_EQ(u.host, std::string("h1"));
    CHECK_EQ(u.port, 3306);
    CHECK_EQ(u.password, std::string("p"));
    CHECK_EQ(u.path, std::string("/db"));
    CHECK_EQ(maskUrl("mysql://u:p@h1:3306,h2/db"), std::string("mysql://u:***@h1:3306,h2/db"));
    CHECK_EQ(parseUrl("mysql://u@h/db").hosts.size(), 1u);
    CHECK_THROWS(parseUrl("mysql://u@h1,,h2/db"), ConfigError);
    CHECK_THROWS(parseUrl("mysql://u@h1:x,h2/db"), ConfigError);
}
