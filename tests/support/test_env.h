#pragma once
// Helpers every test binary shares: the throwaway PostgreSQL cluster started by
// scripts/test.sh, fresh databases, free ports and scratch folders.

#include <filesystem>
#include <string>

namespace batchscribe::testing {

/// Directory of the built binaries (build/bin).
std::filesystem::path BinDir();
/// Root of the source tree.
std::filesystem::path SourceDir();

/// Superuser URL of the test cluster (BATCHSCRIBE_TEST_PG_URL). Aborts the test
/// binary with a clear message when scripts/test.sh did not set it.
std::string AdminDatabaseUrl();

/// A fresh, empty database in the test cluster, dropped in the destructor.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  /// URL of this database (no password: the test cluster trusts local users).
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string url_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

/// Waits until something accepts TCP connections on 127.0.0.1:port.
bool WaitForTcp(int port, int timeout_ms);

/// A scratch folder removed in the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Writes a small valid one-page PDF with a text layer saying `text`.
void WriteMinimalPdf(const std::filesystem::path& path, const std::string& text);

}  // namespace batchscribe::testing
