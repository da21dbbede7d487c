// SPDX-License-Identifier: Apache-2.0
//
// The real spated binary: start-up on a fresh data directory, ready file,
// SIGTERM ends it with exit 0, settings from flags, environment and TOML,
// and clear errors (exit 2) for bad settings and (exit 3) a foreign directory.

#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace {

struct Run {
  int exit_code = -1;
  std::string output;
};

// Runs spated with `args` (and `env` added) to completion, bounded by 10 s.
Run run_spated(const std::vector<std::string>& args, const std::vector<std::string>& env,
               const std::filesystem::path& out_file) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen(out_file.c_str(), "w", stdout);
    ::dup2(::fileno(stdout), 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string binary = SPATE_SPATED_PATH;
    argv.push_back(binary.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    std::_Exit(127);
  }
  Run run;
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (run.exit_code == -1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  std::ifstream in(out_file);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

class Spated : public ::testing::Test {
 protected:
  spate::testing::TempDir tmp_;
  std::filesystem::path data_ = tmp_.path() / "data";
  std::filesystem::path ready_ = tmp_.path() / "ready";
  std::filesystem::path out_ = tmp_.path() / "out.txt";
};

TEST_F(Spated, StartsOnAFreshDirectoryAndStopsCleanlyOnSigterm) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen(out_.c_str(), "w", stdout);
    ::dup2(::fileno(stdout), 2);
    // The committed sample config, as an operator would start with it (the
    // flags after it override its addresses).
    ::execl(SPATE_SPATED_PATH, SPATE_SPATED_PATH, "--config", SPATE_CONFIG_SAMPLE, "--data-dir",
            data_.c_str(), "--ready-file", ready_.c_str(), "--listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  bool ready = false;
  for (int i = 0; i < 500 && !ready; ++i) {  // up to 5 s
    ready = std::filesystem::exists(ready_);
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(ready) << "spated never wrote its ready file";
  EXPECT_TRUE(std::filesystem::exists(data_ / "node.meta"));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (i == 499) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "spated did not stop within 5 s of SIGTERM";
    }
  }
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(Spated, BadSettingsStopStartUpNamingTheSetting) {
  auto bad_policy =
      run_spated({"--data-dir", data_.string(), "--flush-policy", "sometimes"}, {}, out_);
  EXPECT_EQ(bad_policy.exit_code, 2);
  EXPECT_NE(bad_policy.output.find("--flush-policy"), std::string::npos) << bad_policy.output;
  EXPECT_FALSE(std::filesystem::exists(data_));  // nothing touched

  auto bad_listen = run_spated({"--listen", "localhost"}, {}, out_);
  EXPECT_EQ(bad_listen.exit_code, 2);
  EXPECT_NE(bad_listen.output.find("--listen"), std::string::npos) << bad_listen.output;

  auto bad_env = run_spated({}, {"SPATE_NODE_ID=abc"}, out_);
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_NE(bad_env.output.find("node-id"), std::string::npos) << bad_env.output;

  auto config = tmp_.path() / "spated.toml";
  std::ofstream(config) << "node-id = 1\nbogus-key = 3\n";
  auto bad_key = run_spated({"--config", config.string()}, {}, out_);
  EXPECT_EQ(bad_key.exit_code, 2);
  EXPECT_NE(bad_key.output.find("bogus-key"), std::string::npos) << bad_key.output;

  for (const char* ms : {"1999", "3600001", "-5"}) {
    auto bad_session =
        run_spated({"--data-dir", data_.string(), "--broker-session-timeout-ms", ms}, {}, out_);
    EXPECT_EQ(bad_session.exit_code, 2) << ms;
    EXPECT_NE(bad_session.output.find("--broker-session-timeout-ms"), std::string::npos)
        << bad_session.output;
    EXPECT_FALSE(std::filesystem::exists(data_));
  }

  auto unknown_flag = run_spated({"--no-such-flag"}, {}, out_);
  EXPECT_EQ(unknown_flag.exit_code, 2);
}

// Each bad --seeds gets exit code 2 and a message naming what is wrong,
// before the data directory is touched.
TEST_F(Spated, BadSeedsStopStartUpWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0@127.0.0.1", "seeds"},                        // no port
      {"x@127.0.0.1:9093", "not a node id"},           // id not a number
      {"-1@127.0.0.1:9093", "not a node id"},          // negative id
      {"127.0.0.1:9093", "ID@HOST:PORT"},              // no id
      {"0@127.0.0.1:9093,0@127.0.0.1:9193", "twice"},  // id repeated
      {"0@0.0.0.0:9093", "reach"},                     // not reachable
      {"0@127.0.0.1:9093,", "ID@HOST:PORT"},           // empty entry
      // This node (0) is absent, so it joins: the default 0.0.0.0 is no address to register.
      {"1@127.0.0.1:9093,2@127.0.0.1:9193", "outside --seeds"},
  };
  for (const auto& [seeds, why] : cases) {
    auto r = run_spated({"--data-dir", data_.string(), "--seeds", seeds}, {}, out_);
    EXPECT_EQ(r.exit_code, 2) << seeds << ": " << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << seeds << ": " << r.output;
    EXPECT_FALSE(std::filesystem::exists(data_)) << seeds;
  }
  // A joining broker on a seed's address, and a second broker with a seed's
  // id (same host, another port): refused, naming why.
  const std::vector<std::array<std::string, 3>> colliding = {
      {"0", "127.0.0.1:9193", "is the address of seed 2"},
      {"1", "127.0.0.1:9393", "needs a node id of its own"},
  };
  for (const auto& [id, listen, why] : colliding) {
    auto r = run_spated({"--data-dir", data_.string(), "--node-id", id, "--cluster-listen", listen,
                         "--seeds", "1@127.0.0.1:9093,2@127.0.0.1:9193"},
                        {}, out_);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(data_));
  }
  std::string many;
  for (int i = 0; i < 16; ++i) {
    many += (i == 0 ? "" : ",") + std::to_string(i) + "@127.0.0.1:" + std::to_string(9000 + i);
  }
  auto r = run_spated({"--data-dir", data_.string(), "--seeds", many}, {}, out_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("more than 15"), std::string::npos) << r.output;
}

TEST_F(Spated, ForeignOrOtherNodesDirectoryIsRefused) {
  std::filesystem::create_directories(data_);
  std::ofstream(data_ / "holiday.jpg") << "not spate";
  auto foreign = run_spated({"--data-dir", data_.string()}, {}, out_);
  EXPECT_EQ(foreign.exit_code, 3);
  EXPECT_NE(foreign.output.find("holiday.jpg"), std::string::npos) << foreign.output;
}

TEST_F(Spated, PrintConfigIsTheCommittedSample) {
  auto printed = run_spated({"--print-config"}, {}, out_);
  ASSERT_EQ(printed.exit_code, 0);
  std::ifstream sample(SPATE_CONFIG_SAMPLE);
  std::stringstream text;
  text << sample.rdbuf();
  EXPECT_EQ(printed.output, text.str())
      << "config/spated.toml is stale: regenerate it with build/bin/spated --print-config";
}

}  // namespace
