#pragma once

#include <memory>

struct pg_conn;
struct pg_result;
struct event;

namespace corvid::storage {

// Deleter structs for the C handles storage owns. storage may not include src/util/c_handles.h
// (layering), so it keeps its own; never specialise std::default_delete.
struct PgConnDeleter {
    void operator()(pg_conn* conn) const;
};
struct PgResultDeleter {
    void operator()(pg_result* result) const;
};
struct EventDeleter {
    void operator()(event* ev) const;
};

using PgConnPtr = std::unique_ptr<pg_conn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<pg_result, PgResultDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;

}  // namespace corvid::storage
