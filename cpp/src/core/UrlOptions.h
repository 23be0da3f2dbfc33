// qcss: UrlOptions.h -- the options a store URL may carry (internal).
//
// The one table is schema/url-options.tsv (embedded at build time); the Python
// schema runner reads the same file (python/qcss/schema.py), so both accept and
// refuse the same options. tests/test_url_options.py and cpp/tests/url_options_test.cc
// check both sides.
#pragma once

#include <string>
#include <vector>

#include "core/Url.h"

namespace qcss::detail {

/// One row of schema/url-options.tsv.
struct UrlOption {
    std::string name;
    std::vector<std::string> backends;  ///< "mem", "sqlite", "mysql"
    std::string meaning;
};

/// Every option, in the table's order (parsed once; thread-safe).
std::vector<UrlOption> const& urlOptions();

/// The backend a scheme opens ("mariadb" is "mysql"), or "" for an unknown scheme.
std::string backendOfScheme(std::string const& scheme);

/// Throws ConfigError naming the option, the (masked) URL and the options the
/// backend takes when `url` carries an option not listed for `backend`.
void checkUrlOptions(Url const& url, std::string const& backend, std::string const& maskedUrl);

}  // namespace qcss::detail
