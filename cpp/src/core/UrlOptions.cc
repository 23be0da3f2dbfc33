// qcss: UrlOptions.cc -- the table of URL options (see UrlOptions.h).
#include "core/UrlOptions.h"

#include <algorithm>
#include <sstream>

#include "qcss/Errors.h"
#include "qcss/SchemaFiles.h"

namespace qcss::detail {

namespace {

std::vector<std::string> splitOn(std::string const& s, char sep) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep)) out.push_back(item);
    return out;
}

std::vector<UrlOption> parseTable() {
    std::vector<UrlOption> out;
    std::istringstream in(schema::kUrlOptions);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> cols = splitOn(line, '\t');
        if (cols.size() != 3) continue;  // tests/test_url_options.py checks the file's shape
        std::vector<std::string> backends = splitOn(cols[1], ',');
        if (cols[1] == "all") backends = {"mem", "sqlite", "mysql"};
        out.push_back(UrlOption{cols[0], std::move(backends), cols[2]});
    }
    return out;
}

bool takes(UrlOption const& o, std::string const& backend) {
    return std::find(o.backends.begin(), o.backends.end(), backend) != o.backends.end();
}

}  // namespace

std::vector<UrlOption> const& urlOptions() {
    static std::vector<UrlOption> const table = parseTable();
    return table;
}

std::string backendOfScheme(std::string const& scheme) {
    if (scheme == "mem" || scheme == "sqlite" || scheme == "mysql") return scheme;
    if (scheme == "mariadb") return "mysql";
    return "";
}

void checkUrlOptions(Url const& url, std::string const& backend, std::string const& maskedUrl) {
    for (auto const& [name, value] : url.params) {
        bool known = false;
        for (UrlOption const& o : urlOptions()) known = known || (o.name == name && takes(o, backend));
        if (known) continue;
        std::string list;
        for (UrlOption const& o : urlOptions()) {
            if (takes(o, backend)) list += (list.empty() ? "" : ", ") + o.name;
        }
        throw ConfigError("unknown option '" + name + "' in URL " + maskedUrl + ": a " + backend +
                          " URL takes " + list + " (see docs/operations.md)");
    }
}

}  // namespace qcss::detail
