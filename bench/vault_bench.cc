// Load generator for the key vault: N concurrent clients (one keep-alive HTTPS connection each)
// issue wrapKey or unwrapKey requests against a running `pgcmk vault serve` for a fixed time,
// then print throughput and latency percentiles as one JSON line. Used by bench/vault_bench.sh.
//
// Usage: vault_bench --url URL --ca CA.pem --credential-file FILE --key NAME --version V
//                    --op wrap|unwrap --alg RSA-OAEP-256 --value B64URL --concurrency N --seconds S
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  for (int i = 1; i + 1 < argc; i += 2) opt[std::string(argv[i]).substr(2)] = argv[i + 1];
  std::ifstream cf(opt["credential-file"]);
  std::stringstream cs;
  cs << cf.rdbuf();
  auto cred = nlohmann::json::parse(cs.str());
  std::string token;
  {
    httplib::Client c(opt["url"]);
    if (opt.count("ca")) c.set_ca_cert_path(opt["ca"].c_str());
    httplib::Params form = {
        {"grant_type", "client_credentials"},
        {"client_id", cred["clientId"].get<std::string>()},
        {"client_secret", cred["clientSecret"].get<std::string>()},
        {"scope", cred.value("resource", "https://vault.pgcmk.local") + "/.default"}};
    auto res =
        c.Post(("/" + cred["tenantId"].get<std::string>() + "/oauth2/v2.0/token").c_str(), form);
    if (!res || res->status != 200) {
      std::cerr << "vault_bench: token request failed\n";
      return 1;
    }
    token = nlohmann::json::parse(res->body)["access_token"];
  }
  const int concurrency = std::stoi(opt.count("concurrency") ? opt["concurrency"] : "8");
  const double seconds = std::stod(opt.count("seconds") ? opt["seconds"] : "5");
  const std::string path =
      "/keys/" + opt["key"] + "/" + opt["version"] + "/" + opt["op"] + "key?api-version=7.6";
  const std::string body = nlohmann::json{{"alg", opt["alg"]}, {"value", opt["value"]}}.dump();

  std::atomic<bool> stop = false;
  std::atomic<long> errors = 0;
  std::mutex mu;
  std::vector<double> latencies;
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      httplib::Client c(opt["url"]);
      c.set_url_encode(false);
      if (opt.count("ca")) c.set_ca_cert_path(opt["ca"].c_str());
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      c.set_read_timeout(30, 0);
      httplib::Headers h = {{"Authorization", "Bearer " + token}};
      std::vector<double> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        auto t0 = std::chrono::steady_clock::now();
        auto res = c.Post(path.c_str(), h, body, "application/json");
        auto t1 = std::chrono::steady_clock::now();
        if (!res || res->status != 200) {
          ++errors;
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      std::lock_guard l(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1,
                              static_cast<size_t>(p * static_cast<double>(latencies.size())))];
  };
  nlohmann::json out = {{"op", opt["op"]},
                        {"concurrency", concurrency},
                        {"requests", latencies.size()},
                        {"errors", errors.load()},
                        {"seconds", elapsed},
                        {"rate", static_cast<double>(latencies.size()) / elapsed},
                        {"p50_ms", pct(0.50)},
                        {"p99_ms", pct(0.99)}};
  std::cout << out.dump() << std::endl;
  return errors.load() > 0 && latencies.empty() ? 1 : 0;
}
