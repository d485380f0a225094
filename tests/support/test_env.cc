#include "tests/support/test_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <thread>

namespace batchscribe::testing {
namespace fs = std::filesystem;

fs::path BinDir() { return BATCHSCRIBE_BIN_DIR; }
fs::path SourceDir() { return BATCHSCRIBE_SOURCE_DIR; }

std::string AdminDatabaseUrl() {
  const char* url = std::getenv("BATCHSCRIBE_TEST_PG_URL");
  if (url == nullptr || *url == '\0') {
    std::cerr << "BATCHSCRIBE_TEST_PG_URL is not set: run the tests through scripts/test.sh, "
                 "which starts a throwaway PostgreSQL cluster\n";
    std::abort();
  }
  return url;
}

namespace {
std::string RandomSuffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  std::ostringstream out;
  out << getpid() << "_" << counter++ << "_" << (rd() % 100000);
  return out.str();
}

std::string ReplaceDatabase(const std::string& url, const std::string& db) {
  auto slash = url.rfind('/');
  auto query = url.find('?', slash);
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, slash + 1) + db + rest;
}
}  // namespace

TestDatabase::TestDatabase() : name_("t_" + RandomSuffix()) {
  pqxx::connection admin(AdminDatabaseUrl());
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  url_ = ReplaceDatabase(AdminDatabaseUrl(), name_);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(AdminDatabaseUrl());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    std::cerr << "dropping test database " << name_ << ": " << e.what() << "\n";
  }
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool WaitForTcp(int port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TempDir::TempDir() {
  const char* base = std::getenv("BATCHSCRIBE_TEST_TMP");
  fs::path root = base != nullptr ? fs::path(base) : fs::temp_directory_path();
  path_ = root / ("dir_" + RandomSuffix());
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void WriteMinimalPdf(const fs::path& path, const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '(' || c == ')' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::string content = "BT /F1 12 Tf 72 720 Td (" + escaped + ") Tj ET";
  std::vector<std::string> objects = {
      "<< /Type /Catalog /Pages 2 0 R >>",
      "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
      "/Resources << /Font << /F1 5 0 R >> >> >>",
      "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "\nendstream",
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  };
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char line[32];
    std::snprintf(line, sizeof(line), "%010zu 00000 n \n", off);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) +
         " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << out;
}

}  // namespace batchscribe::testing
