// qcss: QservCompat.h -- Qserv's CSS names (lsst::qserv::css) for qcss.
//
// Qserv code built against qcss includes this header instead of Qserv's
// css/CssAccess.h, css/CssError.h, css/KvInterface.h, css/*Params.h,
// css/EmptyChunks.h and css/constants.h: every name is an alias of the qcss
// class of the same name (docs/css-layout.md, "Qserv compatibility", lists
// them and the deliberate differences). Nothing here has behaviour of its own.
#pragma once

#include "qcss/CssAccess.h"
#include "qcss/Errors.h"
#include "qcss/KvInterface.h"

namespace lsst::qserv::css {

// The facade, its parameter structs and the empty-chunk sets.
using qcss::CssAccess;
using qcss::EmptyChunks;
using qcss::MatchTableParams;
using qcss::NodeParams;
using qcss::PartTableParams;
using qcss::ScanTableParams;
using qcss::StripingParams;
using qcss::TableParams;
// The store (Qserv's KvInterface; qcss's has the same calls and more).
using qcss::KvInterface;

// The errors, with Qserv's hierarchy (all derive from CssError; typeName()).
using qcss::AuthError;
using qcss::ConfigError;
using qcss::ConnError;
using qcss::CssError;
using qcss::KeyExistsError;
using qcss::KeyValueError;
using qcss::NodeExists;
using qcss::NodeInUse;
using qcss::NoSuchDb;
using qcss::NoSuchKey;
using qcss::NoSuchNode;
using qcss::NoSuchTable;
using qcss::ReadonlyCss;
using qcss::TableExists;
using qcss::VersionMismatchError;
using qcss::VersionMissingError;

// css/constants.h
char const VERSION_KEY[] = "/css_meta/version";
int const VERSION = 1;
char const VERSION_STR[] = "1";
char const KEY_STATUS_IGNORE[] = "DO_NOT_USE";
char const KEY_STATUS_READY[] = "READY";
char const KEY_STATUS_CREATE_PFX[] = "PENDING_CREATE:";
char const KEY_STATUS_DROP_PFX[] = "PENDING_DROP:";
char const KEY_STATUS_FAILED_PFX[] = "FAILED:";
char const NODE_STATE_ACTIVE[] = "ACTIVE";
char const NODE_STATE_INACTIVE[] = "INACTIVE";

}  // namespace lsst::qserv::css
