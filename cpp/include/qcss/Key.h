// qcss: Key.h -- the rules every key obeys, checked in one place.
//
// A key is an absolute path of UTF-8 text: "/" (the root, which always exists)
// or "/" followed by components separated by "/". No component is empty, "."
// or ".."; no trailing "/"; no NUL byte; at most kMaxKeyLength bytes. Keys are
// case-sensitive and compared as bytes (memcmp order), so "/A" < "/B" < "/a".
//
// Thread safety: the functions here are pure (no state): callable from any thread.
// The checks throw InvalidKeyError (never anything else) for a key that breaks a rule.

#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace qcss {

/// Longest key accepted, in bytes.
constexpr std::size_t kMaxKeyLength = 1024;
/// Default largest value accepted, in bytes (16 MiB); backends may be opened with another.
constexpr std::size_t kDefaultMaxValueSize = 16u * 1024u * 1024u;
/// Digits appended by create(..., CreateMode::Unique).
constexpr int kUniqueDigits = 10;

/// qcss's own subtree (locks, lock tokens). Hidden from getChildren("/"),
/// getChildrenValues("/") and dumpKV of "/" (Qserv's view of the store); still
/// readable by its explicit path and included in snapshots (lossless dumps).
constexpr char const* kInternalRoot = "/.qcss";
/// Its name, the child of "/".
constexpr char const* kInternalName = ".qcss";

/// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool isValidUtf8(std::string_view s) noexcept;

/// Returns an empty string if `key` is a valid key, else the reason it is not.
std::string keyProblem(std::string_view key);

/// Throws InvalidKeyError (naming the key and the reason) unless `key` is valid.
void validateKey(std::string_view key);

/// Throws InvalidKeyError unless `prefix` is a valid key prefix for create(unique=true):
/// the key rules, except that the last component may be empty ("/a/b/" is allowed).
void validateUniquePrefix(std::string_view prefix);

/// The parent of a valid non-root key ("/a/b" -> "/a", "/a" -> "/").
std::string parentKey(std::string_view key);

/// The last component of a valid non-root key ("/a/b" -> "b").
std::string baseName(std::string_view key);

/// The prefix every strict descendant of `key` starts with ("/" -> "/", "/a" -> "/a/").
std::string descendantPrefix(std::string_view key);

/// True if `key` is `prefix` or lies under it ("/a" is under "/" and under "/a",
/// not under "/ab").
bool isUnder(std::string_view key, std::string_view prefix) noexcept;

/// Number of components ("/" -> 0, "/a/b" -> 2).
int keyDepth(std::string_view key) noexcept;

/// The same key with bytes that are not printable ASCII escaped, for messages.
std::string printableKey(std::string_view key);

}  // namespace qcss
