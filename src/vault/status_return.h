// Early-return macros usable in functions returning either Status or Result<T>.
// common/status.h's PGCMK_RETURN_IF_ERROR only fits Status-returning functions and
// PGCMK_ASSIGN_OR_RETURN only Result-returning ones; vault code mixes both, so the value returned
// here converts to whichever the enclosing function returns.
#pragma once

#include <expected>
#include <utility>

#include "common/status.h"

namespace pgcmk::vault {

struct StatusReturn {
  Status status;
  operator Status() && { return std::move(status); }  // NOLINT(google-explicit-constructor)
  template <typename T>
  operator std::expected<T, Status>() && {  // NOLINT(google-explicit-constructor)
    return std::unexpected(std::move(status));
  }
};

}  // namespace pgcmk::vault

#define VAULT_RETURN_IF_ERROR(expr)                                  \
  do {                                                               \
    ::pgcmk::Status vault_status_ = (expr);                          \
    if (!vault_status_.ok()) {                                       \
      return ::pgcmk::vault::StatusReturn{std::move(vault_status_)}; \
    }                                                                \
  } while (0)

#define VAULT_ASSIGN_OR_RETURN(lhs, expr) \
  VAULT_ASSIGN_OR_RETURN_IMPL_(PGCMK_CONCAT_(vault_result_, __LINE__), lhs, expr)
#define VAULT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)                                 \
  auto tmp = (expr);                                                                 \
  if (!tmp.has_value()) return ::pgcmk::vault::StatusReturn{std::move(tmp).error()}; \
  lhs = std::move(tmp).value()
