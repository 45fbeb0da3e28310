#include "storage/pg_handles.h"

#include <event2/event.h>
#include <libpq-fe.h>

namespace corvid::storage {

void PgConnDeleter::operator()(pg_conn* conn) const {
    PQfinish(conn);
}

void PgResultDeleter::operator()(pg_result* result) const {
    PQclear(result);
}

void EventDeleter::operator()(event* ev) const {
    event_free(ev);
}

}  // namespace corvid::storage
