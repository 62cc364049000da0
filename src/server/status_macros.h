// The two conversions that common/status.h's macros leave out (storage has the same pair in
// storage/result_macros.h; XXX: candidates for common/):
//   SERVER_TRY(expr)                 in a function returning Result<T>, propagates a non-OK Status.
//   SERVER_ASSIGN_OR_STATUS(l, e)    in a function returning Status, unwraps a Result<T>.
#pragma once

#include "common/status.h"

#define SERVER_TRY(expr)                                                      \
  do {                                                                        \
    ::pgcmk::Status server_status_ = (expr);                                  \
    if (!server_status_.ok()) return ::pgcmk::Err(std::move(server_status_)); \
  } while (0)

#define SERVER_ASSIGN_OR_STATUS(lhs, expr) \
  SERVER_ASSIGN_OR_STATUS_IMPL_(PGCMK_CONCAT_(server_result_, __LINE__), lhs, expr)
#define SERVER_ASSIGN_OR_STATUS_IMPL_(tmp, lhs, expr)  \
  auto tmp = (expr);                                   \
  if (!tmp.has_value()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
