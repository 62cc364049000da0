// The two conversions that common/status.h's macros leave out (XXX: candidates for common/):
//   STORAGE_TRY_STATUS(expr)       in a function returning Result<T>, propagates a non-OK Status.
//   STORAGE_ASSIGN_OR_STATUS(l, e) in a function returning Status, unwraps a Result<T> or returns
//                                  its error.
#pragma once

#include "common/status.h"

#define STORAGE_TRY_STATUS(expr)                                                \
  do {                                                                          \
    ::pgcmk::Status storage_status_ = (expr);                                   \
    if (!storage_status_.ok()) return ::pgcmk::Err(std::move(storage_status_)); \
  } while (0)

#define STORAGE_ASSIGN_OR_STATUS(lhs, expr) \
  STORAGE_ASSIGN_OR_STATUS_IMPL_(PGCMK_CONCAT_(storage_result_, __LINE__), lhs, expr)
#define STORAGE_ASSIGN_OR_STATUS_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.has_value()) return std::move(tmp).error(); \
  lhs = std::move(tmp).value()
