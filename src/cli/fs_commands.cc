// `pgcmk fs ...`: the standalone encrypted filesystem (issue 4). The supervisor embeds the same
// storage::Volume and fuse::Mount in-process; these commands exist for operators and tests.
//
// The data-encryption key is read from a file descriptor (--key-fd N: 32 raw bytes, or 64 hex
// digits and an optional newline) or, without --key-fd, from the terminal with echo off. It is
// never taken from argv or the environment, and never printed.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ostream>
#include <string>

#include "cli/args.h"
#include "cli/command_table.h"
#include "common/log.h"
#include "common/process_hardening.h"
#include "common/secret_bytes.h"
#include "fuse/mount.h"
#include "storage/volume.h"

namespace pgcmk::cli {
namespace {

constexpr std::size_t kDekSize = storage::Volume::kDekSize;

int HexDigit(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Accepts exactly 32 raw bytes, or 64 hex digits followed by optional whitespace.
Result<SecretBytes> DecodeKey(ByteView input) {
  if (input.size() == kDekSize) return SecretBytes::CopyFrom(input);
  std::size_t len = input.size();
  while (len > 0 && (input[len - 1] == '\n' || input[len - 1] == '\r' || input[len - 1] == ' ')) {
    --len;
  }
  if (len != 2 * kDekSize) {
    return Err(StatusCode::kInvalidArgument, "the key must be 32 raw bytes or 64 hex digits (got " +
                                                 std::to_string(len) + " bytes)");
  }
  SecretBytes key(kDekSize);
  for (std::size_t i = 0; i < kDekSize; ++i) {
    const int hi = HexDigit(input[2 * i]);
    const int lo = HexDigit(input[2 * i + 1]);
    if (hi < 0 || lo < 0) return Err(StatusCode::kInvalidArgument, "the key is not valid hex");
    key.reveal_mutable()[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return key;
}

Result<SecretBytes> ReadKeyFromFd(int fd) {
  SecretBytes buffer(2 * kDekSize + 8);
  std::size_t used = 0;
  while (used < buffer.size()) {
    const ssize_t n = ::read(fd, buffer.reveal_mutable().data() + used, buffer.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Err(Status::FromErrno(errno, "read key from fd " + std::to_string(fd)));
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  return DecodeKey(buffer.reveal().first(used));
}

Result<SecretBytes> ReadKeyFromTerminal(std::ostream& err) {
  if (!::isatty(STDIN_FILENO)) {
    return Err(StatusCode::kInvalidArgument,
               "no key: pass --key-fd N (a descriptor holding the key) or run on a terminal");
  }
  err << "Data encryption key (64 hex digits): " << std::flush;
  struct termios old_attrs;
  if (::tcgetattr(STDIN_FILENO, &old_attrs) != 0) return Err(Status::FromErrno(errno, "tcgetattr"));
  struct termios quiet = old_attrs;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
    return Err(Status::FromErrno(errno, "tcsetattr"));
  }
  SecretBytes line(2 * kDekSize + 8);
  std::size_t used = 0;
  while (used < line.size()) {
    std::uint8_t c;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line.reveal_mutable()[used++] = c;
  }
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_attrs);
  err << "\n";
  return DecodeKey(line.reveal().first(used));
}

// The key comes from --key-fd N (closed after reading: nothing else should read it) or the
// terminal, never from argv or the environment.
Result<SecretBytes> ReadKey(const Args& args, std::ostream& err) {
  PGCMK_ASSIGN_OR_RETURN(auto fd, args.GetInt("key-fd", 0, INT32_MAX));
  if (fd) {
    auto key = ReadKeyFromFd(static_cast<int>(*fd));
    ::close(static_cast<int>(*fd));
    return key;
  }
  return ReadKeyFromTerminal(err);
}

Status RunInit(std::span<const std::string> raw, CommandContext& ctx) {
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  PGCMK_ASSIGN_OR_RETURN(Args args, Args::Parse(raw, {{"key-fd"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string backing, args.OnePositional("BACKING directory"));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key, ReadKey(args, ctx.err));
  auto volume = storage::Volume::Create(backing, key);
  if (!volume) return volume.error();
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << "{\"initialised\":true}\n";
  } else {
    ctx.out << "initialised encrypted volume in " << backing << "\n";
  }
  return Status::Ok();
}

Status RunMount(std::span<const std::string> raw, CommandContext& ctx) {
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  PGCMK_RETURN_IF_ERROR(RaiseOpenFileLimit());
  PGCMK_ASSIGN_OR_RETURN(Args args,
                         Args::Parse(raw, {{"key-fd"}, {"writeback-cache"}, {"xattrs"}}));
  fuse::MountOptions options;
  PGCMK_ASSIGN_OR_RETURN(auto writeback_cache, args.GetOnOff("writeback-cache"));
  PGCMK_ASSIGN_OR_RETURN(auto xattrs, args.GetOnOff("xattrs"));
  options.writeback_cache = writeback_cache.value_or(options.writeback_cache);
  options.xattrs = xattrs.value_or(options.xattrs);
  if (args.positional().size() != 2) {
    return Status(
        StatusCode::kInvalidArgument,
        "usage: pgcmk fs mount BACKING MOUNTPOINT [--key-fd N] [--writeback-cache on|off] "
        "[--xattrs on|off]");
  }
  std::unique_ptr<storage::Volume> volume;
  {
    PGCMK_ASSIGN_OR_RETURN(SecretBytes key, ReadKey(args, ctx.err));
    auto opened = storage::Volume::Open(args.positional()[0], key);
    if (!opened) return opened.error();
    volume = std::move(*opened);
  }  // the DEK itself is wiped here; the volume keeps only derived keys

  // Signals are taken synchronously by this thread; the FUSE workers inherit the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto mount = fuse::Mount::Start(*volume, args.positional()[1], options);
  if (!mount) return mount.error();
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << "{\"mounted\":true}\n" << std::flush;
  } else {
    ctx.out << "mounted " << args.positional()[1] << " (stop with SIGTERM or SIGINT)\n"
            << std::flush;
  }
  const struct timespec tick { 0, 200'000'000 };
  while (mount->running()) {
    const int sig = ::sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig > 0) {
      log::Info("fs", "signal " + std::to_string(sig) + ": unmounting");
      break;
    }
  }
  return mount->Stop();
}

}  // namespace

void RegisterFsCommands(CommandTable& table) {
  table.Add({"fs init", "BACKING [--key-fd N]",
             "Initialise an encrypted volume in BACKING (key from fd N or the terminal)", RunInit});
  table.Add({"fs mount",
             "BACKING MOUNTPOINT [--key-fd N] [--writeback-cache on|off] [--xattrs on|off]",
             "Serve the encrypted volume BACKING at MOUNTPOINT until SIGTERM/SIGINT", RunMount});
}

}  // namespace pgcmk::cli
