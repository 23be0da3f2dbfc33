// qcss: QservCompat.cc -- Qserv's CssAccess factories (createFromData,
// createFromStream, createFromConfig) and EmptyChunks (see CssAccess.h).
#include <cctype>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "core/Json.h"
#include "core/KvBase.h"
#include "mem/MemKv.h"
#include "qcss/CssAccess.h"
#include "qcss/Key.h"
#include "qcss/Open.h"

namespace qcss {

namespace {

// The keys and values of a Qserv map: its JSON form ({"/key": "value", ...},
// as dumpKV writes) or the older TSV form (key TAB value per line, \N empty).
std::vector<std::pair<std::string, std::string>> parseQservMap(std::string const& data) {
    std::size_t const first = data.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    if (data[first] == '{') return detail::parseFlatStringObject(data, "Qserv CSS map (JSON)");
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(data);
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        auto const tab = line.find('\t');
        std::string key = line.substr(0, tab);
        std::string value = tab == std::string::npos ? std::string() : line.substr(tab + 1);
        if (value == "\\N") value.clear();
        std::string const why = keyProblem(key);
        if (!why.empty()) {
            throw BadDumpError("Qserv CSS map (TSV) line " + std::to_string(lineNo) +
                               ": invalid key '" + printableKey(key) + "': " + why);
        }
        out.emplace_back(std::move(key), std::move(value));
    }
    return out;
}

KvPtr memStoreWith(std::vector<std::pair<std::string, std::string>> const& entries, bool readOnly) {
    detail::StoreOptions opts;
    opts.url = "mem://";
    opts.clientId = detail::defaultClientId();
    opts.maxValueSize = kDefaultMaxValueSize;
    auto kv = std::make_shared<detail::MemKv>(opts);
    std::vector<Op> ops;
    ops.reserve(entries.size());
    for (auto const& [k, v] : entries) {
        std::string const why = keyProblem(k);
        if (!why.empty())
            throw BadDumpError("Qserv CSS map: invalid key '" + printableKey(k) + "': " + why);
        ops.push_back(Op{Op::Type::Set, k, v, -1, 0});
    }
    if (!ops.empty()) kv->commit(ops);
    if (!readOnly) return kv;
    opts.readOnly = true;
    auto frozen = std::make_shared<detail::MemKv>(opts);
    frozen->loadSnapshot(kv->snapshot("/"));
    return frozen;
}

std::string percentEncode(std::string const& s) {
    static char const hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string configValue(std::map<std::string, std::string> const& config, std::string const& name) {
    auto it = config.find(name);
    return it == config.end() ? std::string() : it->second;
}

}  // namespace

std::shared_ptr<CssAccess> CssAccess::createFromData(std::string const& data,
                                                     std::string const& emptyChunkPath,
                                                     bool readOnly) {
    auto css = std::make_shared<CssAccess>(memStoreWith(parseQservMap(data), readOnly), readOnly);
    css->setEmptyChunkPath(emptyChunkPath);
    return css;
}

std::shared_ptr<CssAccess> CssAccess::createFromStream(std::istream& stream,
                                                       std::string const& emptyChunkPath,
                                                       bool readOnly) {
    if (!stream) throw ConfigError("createFromStream: the stream cannot be read");
    std::string data((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
    return createFromData(data, emptyChunkPath, readOnly);
}

std::string CssAccess::urlFromConfig(std::map<std::string, std::string> const& config) {
    std::string const tech = configValue(config, "technology");
    if (tech.empty()) throw ConfigError("CSS configuration: the \"technology\" key is required");
    if (tech == "mem") return "mem://";
    if (tech != "mysql") {
        throw ConfigError("CSS configuration: unexpected value of \"technology\": '" +
                          printableKey(tech) + "' (mem or mysql)");
    }
    std::string const port = configValue(config, "port");
    if (!port.empty() && (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
                          std::stoi(port) > 65535)) {
        throw ConfigError("CSS configuration: port '" + printableKey(port) + "' is not a port number");
    }
    std::string const user = configValue(config, "username");
    std::string const password = configValue(config, "password");
    std::string host = configValue(config, "hostname");
    if (host.empty()) host = "localhost";
    std::string db = configValue(config, "database");
    if (db.empty()) db = "qservCssData";
    std::string url = "mysql://";
    if (!user.empty() || !password.empty()) {
        url += percentEncode(user);
        if (!password.empty()) url += ":" + percentEncode(password);
        url += "@";
    }
    url += percentEncode(host);
    if (!port.empty() && port != "0") url += ":" + port;
    url += "/" + percentEncode(db);
    std::string const socket = configValue(config, "socket");
    if (!socket.empty()) url += "?socket=" + percentEncode(socket);
    return url;
}

std::shared_ptr<CssAccess> CssAccess::createFromConfig(std::map<std::string, std::string> const& config,
                                                       std::string const& emptyChunkPath,
                                                       bool readOnly) {
    std::string const url = urlFromConfig(config);
    std::shared_ptr<CssAccess> css;
    if (url == "mem://") {
        std::string const data = configValue(config, "data");
        std::string const file = configValue(config, "file");
        if (!data.empty() && !file.empty())
            throw ConfigError("CSS configuration: \"data\" and \"file\" are exclusive");
        if (!file.empty()) {
            std::ifstream in(file, std::ios::binary);
            if (!in) throw ConfigError("CSS configuration: cannot read data file '" + file + "'");
            return createFromStream(in, emptyChunkPath, readOnly);
        }
        return createFromData(data, emptyChunkPath, readOnly);
    }
    css = createFromUrl(url, readOnly);
    css->setEmptyChunkPath(emptyChunkPath);
    return css;
}

void CssAccess::setEmptyChunkPath(std::string const& path) {
    _emptyChunks = std::make_shared<EmptyChunks>(path);
}

// ---- EmptyChunks -------------------------------------------------------------------

struct EmptyChunks::Cache {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<std::set<int> const>> sets;
};

EmptyChunks::EmptyChunks(std::string path) : _path(std::move(path)), _cache(new Cache) {}

EmptyChunks::EmptyChunks(std::map<std::string, std::set<int>> const& sets)
        : _fixed(true), _cache(new Cache) {
    for (auto const& [db, chunks] : sets) _cache->sets[db] = std::make_shared<std::set<int> const>(chunks);
}

EmptyChunks::~EmptyChunks() = default;

std::shared_ptr<std::set<int> const> EmptyChunks::getEmpty(std::string const& db) {
    std::lock_guard<std::mutex> lk(_cache->mu);
    if (auto it = _cache->sets.find(db); it != _cache->sets.end()) return it->second;
    if (_fixed) throw ConfigError("no empty-chunk list for database '" + printableKey(db) + "'");
    if (_path.empty())
        throw ConfigError("no empty-chunk path set: cannot read the empty chunks of '" +
                          printableKey(db) + "'");
    if (db.empty() || db.find('/') != std::string::npos)
        throw ConfigError("invalid database name '" + printableKey(db) + "'");
    std::string file = _path + "/empty_" + db + ".txt";
    std::ifstream in(file);
    if (!in) {
        file = _path + "/emptyChunks.txt";
        in.clear();
        in.open(file);
    }
    if (!in) {
        throw ConfigError("no empty-chunk file for database '" + printableKey(db) + "': neither " +
                          _path + "/empty_" + db + ".txt nor " + file + " can be read");
    }
    auto set = std::make_shared<std::set<int>>();
    std::string word;
    while (in >> word) {
        std::size_t used = 0;
        int n = 0;
        try {
            n = std::stoi(word, &used);
        } catch (std::exception const&) {
            used = 0;
        }
        if (used != word.size() || used == 0)
            throw KeyValueError(file + ": '" + printableKey(word) + "' is not a chunk number");
        set->insert(n);
    }
    std::shared_ptr<std::set<int> const> result = set;
    _cache->sets[db] = result;
    return result;
}

bool EmptyChunks::isEmpty(std::string const& db, int chunk) {
    auto s = getEmpty(db);
    return s->count(chunk) != 0;
}

void EmptyChunks::clearCache(std::string const& db) {
    std::lock_guard<std::mutex> lk(_cache->mu);
    if (_fixed) return;
    if (db.empty())
        _cache->sets.clear();
    else
        _cache->sets.erase(db);
}

}  // namespace qcss
