/*
 * err.h - error codes and the caller-provided error text buffer.
 *
 * Every fallible cpgo function returns 0 or a negative CPGO_E* code and, on failure, writes
 * one human line into a struct cpgo_err that the caller owns. The line names what is wrong
 * ("sample 17 references location 99, which does not exist"); the caller prefixes the
 * context it knows (file, backend). Foreign error codes (zlib, protobuf-c, libc) are
 * translated where they are met. Thread: any; the struct is never shared.
 *
 * A code says what kind of failure it was, which decides an exit status; a failure that
 * needs a finer class for retry policy or metrics (base/class.h), such as a decompressed
 * size over its limit as opposed to any other limit, carries it as data in `cls`
 * (cpgo_err_set_class), so that no caller has to read it back from the text.
 */
#ifndef CPGO_BASE_ERR_H
#define CPGO_BASE_ERR_H

#include <stddef.h>

#include "base/class.h"

enum cpgo_errcode {
    CPGO_OK = 0,
    CPGO_E_INPUT = -1,    /* malformed input: not a profile, bad ids, bad gzip */
    CPGO_E_LIMIT = -2,    /* input exceeds a configured limit (size, counts, memory) */
    CPGO_E_INCOMPAT = -3, /* well-formed but incompatible (sample or period types) */
    CPGO_E_EMPTY = -4,    /* no data: empty input */
    CPGO_E_NOMEM = -5,    /* allocation failed */
    CPGO_E_IO = -6,       /* operating-system failure: open, read, write */
    CPGO_E_USAGE = -7,    /* invalid usage */
};

#define CPGO_ERR_TEXT_MAX 512

struct cpgo_err {
    int code;
    enum cpgo_class cls; /* CPGO_CLASS_OK unless the producer named a finer class */
    char text[CPGO_ERR_TEXT_MAX];
};

/* Records code and a printf-style message; returns code so callers can `return cpgo_err_set(...)`.
 */
int cpgo_err_set(struct cpgo_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, naming the failure's class too (cpgo_err_set leaves it CPGO_CLASS_OK). */
int cpgo_err_set_class(struct cpgo_err *err, enum cpgo_class cls, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The class of a failed decode or ingest: `cls` when its producer named one, else the
 * class that goes with the code (CPGO_E_INPUT is a bad payload, CPGO_E_IO internal). */
enum cpgo_class cpgo_err_to_class(const struct cpgo_err *err);

/* Prepends "prefix: " to the message already recorded (used to add file or backend names). */
void cpgo_err_prefix(struct cpgo_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short stable name of a code, used as an error class in logs and metrics. */
const char *cpgo_err_class(int code);

/* True for codes that mean "the input is bad" (exit status 2) rather than an operational failure.
 */
int cpgo_err_is_input(int code);

#endif
