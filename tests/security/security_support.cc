#include "tests/security/security_support.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/faults/stack.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace fs = std::filesystem;

std::string RandomHex(int n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(kHex[random() % 16]);
  return out;
}

std::string Base64(const std::string& data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i + 1 == data.size()) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == data.size()) {
    uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

namespace {

void Openssl(const fs::path& dir, const std::string& args) {
  std::string output;
  int rc = RunShell("cd '" + dir.string() + "' && openssl " + args, &output);
  ASSERT_EQ(rc, 0) << "openssl " << args << ":\n" << output;
}

}  // namespace

TestCertificates MakeTestCertificates(const fs::path& dir) {
  fs::create_directories(dir);
  TestCertificates out{dir / "ca.crt", dir / "server.crt", dir / "server.key",
                       dir / "other-ca.crt"};
  Openssl(dir,
          "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
          "-subj '/CN=batchscribe test CA'");
  Openssl(dir,
          "req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 "
          "-subj '/CN=some other CA'");
  Openssl(dir,
          "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
          "-subj '/CN=localhost'");
  WriteFileText(dir / "server.ext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  Openssl(dir,
          "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
          "-days 2 -extfile server.ext");
  return out;
}

std::shared_ptr<grpc::ChannelCredentials> TrustingCredentials(const fs::path& ca_cert) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileText(ca_cert);
  return grpc::SslCredentials(options);
}

CliRun RunCli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::string command;
  for (const auto& [k, v] : env) command += k + "='" + v + "' ";
  command += "'" + (BinDir() / "batchscribe").string() + "'";
  for (const auto& a : args) command += " '" + a + "'";
  command += " </dev/null";
  CliRun run;
  run.exit_code = RunShell(command, &run.output);
  return run;
}

std::vector<fs::path> FilesUnder(const fs::path& root, const std::vector<fs::path>& skip) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
    bool skipped = false;
    for (const auto& s : skip) skipped |= fs::equivalent(it->path(), s, type_ec);
    if (!skipped) out.push_back(it->path());
  }
  return out;
}

}  // namespace batchscribe::testing
