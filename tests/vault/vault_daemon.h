// Test helper: runs `pgcmk vault serve` as a child process on loopback and talks to it over real
// sockets (HTTP or HTTPS with the vault's CA). Every wait is bounded.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace pgcmk::vault_test {

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs pgcmk with arguments; returns (exit code, stdout).
inline std::pair<int, std::string> RunPgcmk(const std::vector<std::string>& args) {
  std::string cmd = PGCMK_BINARY;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = ::pclose(f);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

class VaultDaemon {
 public:
  // Starts `pgcmk vault serve` on 127.0.0.1:0 in `dir` (initialised first with `init_args`).
  // `serve_args` are added to `vault serve`'s arguments (changeable before a restart with
  // set_serve_args); `ca_file` replaces the vault's own CA for HTTPS clients.
  VaultDaemon(std::filesystem::path dir, bool https, std::vector<std::string> init_args = {},
              std::vector<std::string> serve_args = {}, std::filesystem::path ca_file = {})
      : dir_(std::move(dir)),
        https_(https),
        serve_args_(std::move(serve_args)),
        ca_file_(std::move(ca_file)) {
    if (!std::filesystem::exists(dir_ / "master.key")) {
      std::vector<std::string> args = {"vault", "init", "--data-dir", dir_.string()};
      args.insert(args.end(), init_args.begin(), init_args.end());
      auto [rc, out] = RunPgcmk(args);
      if (rc != 0) throw std::runtime_error("vault init failed: " + out);
    }
    Start();
  }
  ~VaultDaemon() { Stop(SIGTERM); }

  void Start() {
    std::filesystem::remove(dir_ / "vault.url");
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = (dir_.parent_path() / "daemon.log").string();
      FILE* f = std::freopen(log.c_str(), "a", stdout);
      (void)f;
      ::dup2(1, 2);
      std::vector<std::string> args = {PGCMK_BINARY,
                                       "vault",
                                       "serve",
                                       "--data-dir",
                                       dir_.string(),
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--scheduler-interval",
                                       "1"};
      if (!https_) args.push_back("--insecure-http");
      args.insert(args.end(), serve_args_.begin(), serve_args_.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(PGCMK_BINARY, argv.data());
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::filesystem::exists(dir_ / "vault.url")) {
        url_ = ReadFile(dir_ / "vault.url");
        while (!url_.empty() && (url_.back() == '\n' || url_.back() == ' ')) url_.pop_back();
        if (!url_.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (url_.empty()) throw std::runtime_error("vault daemon did not start");
    auto cred = nlohmann::json::parse(ReadFile(dir_ / "admin.credential"));
    tenant_ = cred["tenantId"];
    admin_client_id_ = cred["clientId"];
    admin_secret_ = cred["clientSecret"];
  }

  // SIGTERM: orderly stop; SIGKILL: crash.
  void Stop(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>(url_);
    c->set_url_encode(false);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(60, 0);
    if (https_) {
      c->set_ca_cert_path(ca_file_.empty() ? (dir_ / "tls" / "ca.pem").c_str() : ca_file_.c_str());
    }
    return c;
  }

  // Client-credentials token from the vault's token endpoint.
  std::string Token(const std::string& client_id, const std::string& secret) const {
    auto c = Client();
    auto res = c->Post(("/" + tenant_ + "/oauth2/v2.0/token").c_str(),
                       "grant_type=client_credentials&client_id=" + client_id + "&client_secret=" +
                           secret + "&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
                       "application/x-www-form-urlencoded");
    if (!res || res->status != 200) return "";
    return nlohmann::json::parse(res->body)["access_token"];
  }
  std::string AdminToken() const { return Token(admin_client_id_, admin_secret_); }

  const std::string& url() const { return url_; }
  const std::string& tenant() const { return tenant_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::vector<std::string> ConnArgs() const { return {"--data-dir", dir_.string()}; }
  void set_serve_args(std::vector<std::string> args) { serve_args_ = std::move(args); }

 private:
  std::filesystem::path dir_;
  bool https_;
  std::vector<std::string> serve_args_;
  std::filesystem::path ca_file_;
  pid_t pid_ = -1;
  std::string url_, tenant_, admin_client_id_, admin_secret_;
};

}  // namespace pgcmk::vault_test
