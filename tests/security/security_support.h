#pragma once
// Helpers of the security suite: random secrets, a throwaway certificate
// authority made with the openssl command line, TLS channel credentials, and
// the batchscribe CLI run as a process.

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace batchscribe::testing {

/// `n` random lowercase hex characters (secrets unique to one test run).
std::string RandomHex(int n);

/// Standard base64 of `data` (to look for encoded copies of a file).
std::string Base64(const std::string& data);

/// A CA, a server certificate it signed for 127.0.0.1 and localhost, and an
/// unrelated second CA, all made by openssl in `dir`.
struct TestCertificates {
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
  std::filesystem::path other_ca_cert;
};
TestCertificates MakeTestCertificates(const std::filesystem::path& dir);

/// TLS credentials trusting the CA in `ca_cert`.
std::shared_ptr<grpc::ChannelCredentials> TrustingCredentials(const std::filesystem::path& ca_cert);

/// What build/bin/batchscribe printed and returned.
struct CliRun {
  int exit_code = -1;
  std::string output;
};
/// Runs the CLI with `args` and extra environment `env`.
CliRun RunCli(const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env = {});

/// Every regular file under `root` (recursively), except `skip`.
std::vector<std::filesystem::path> FilesUnder(const std::filesystem::path& root,
                                              const std::vector<std::filesystem::path>& skip = {});

}  // namespace batchscribe::testing
