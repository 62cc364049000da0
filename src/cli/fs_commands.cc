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

struct FsArgs {
  std::vector<std::string> positional;
  int key_fd = -1;
  bool writeback_cache = fuse::MountOptions{}.writeback_cache;
  bool xattrs = fuse::MountOptions{}.xattrs;
};

Result<FsArgs> ParseArgs(std::span<const std::string> args) {
  FsArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--key-fd" || a == "--writeback-cache" || a == "--xattrs") {
      if (i + 1 >= args.size()) return Err(StatusCode::kInvalidArgument, a + " needs a value");
      const std::string& v = args[++i];
      if (a == "--key-fd") {
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out.key_fd);
        if (ec != std::errc() || p != v.data() + v.size() || out.key_fd < 0) {
          return Err(StatusCode::kInvalidArgument, "--key-fd needs a descriptor number");
        }
      } else if (v == "on" || v == "off") {
        (a == "--xattrs" ? out.xattrs : out.writeback_cache) = v == "on";
      } else {
        return Err(StatusCode::kInvalidArgument, a + " takes on or off");
      }
    } else if (a.starts_with("--")) {
      return Err(StatusCode::kInvalidArgument, "unknown option " + a);
    } else {
      out.positional.push_back(a);
    }
  }
  return out;
}

Result<SecretBytes> ReadKey(const FsArgs& args, std::ostream& err) {
  if (args.key_fd >= 0) {
    auto key = ReadKeyFromFd(args.key_fd);
    ::close(args.key_fd);  // nothing else should read the key from it
    return key;
  }
  return ReadKeyFromTerminal(err);
}

Status RunInit(std::span<const std::string> raw, CommandContext& ctx) {
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  auto args = ParseArgs(raw);
  if (!args) return args.error();
  if (args->positional.size() != 1) {
    return Status(StatusCode::kInvalidArgument, "usage: pgcmk fs init BACKING [--key-fd N]");
  }
  auto key = ReadKey(*args, ctx.err);
  if (!key) return key.error();
  auto volume = storage::Volume::Create(args->positional[0], *key);
  if (!volume) return volume.error();
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << "{\"initialised\":true}\n";
  } else {
    ctx.out << "initialised encrypted volume in " << args->positional[0] << "\n";
  }
  return Status::Ok();
}

Status RunMount(std::span<const std::string> raw, CommandContext& ctx) {
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  PGCMK_RETURN_IF_ERROR(RaiseOpenFileLimit());
  auto args = ParseArgs(raw);
  if (!args) return args.error();
  if (args->positional.size() != 2) {
    return Status(
        StatusCode::kInvalidArgument,
        "usage: pgcmk fs mount BACKING MOUNTPOINT [--key-fd N] [--writeback-cache on|off] "
        "[--xattrs on|off]");
  }
  std::unique_ptr<storage::Volume> volume;
  {
    auto key = ReadKey(*args, ctx.err);
    if (!key) return key.error();
    auto opened = storage::Volume::Open(args->positional[0], *key);
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

  fuse::MountOptions options;
  options.writeback_cache = args->writeback_cache;
  options.xattrs = args->xattrs;
  auto mount = fuse::Mount::Start(*volume, args->positional[1], options);
  if (!mount) return mount.error();
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << "{\"mounted\":true}\n" << std::flush;
  } else {
    ctx.out << "mounted " << args->positional[1] << " (stop with SIGTERM or SIGINT)\n"
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
