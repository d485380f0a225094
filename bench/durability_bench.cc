// What durable transcript writes cost on the storage root's filesystem: N
// files of S bytes written three ways.
//
//   per_file  storage::AtomicWriteFile for each (what SYNC-mode transcribe
//             does, and retrieve did before issue 8): temporary file, fsync,
//             rename, fsync of the folder: 2 fsyncs a file
//   group     storage::AtomicWriteFile with Durability::kDeferred for each,
//             then one storage::FileSystemSyncer::Sync (syncfs(2)) before the
//             database would record anything: retrieve's group commit
//   parallel  storage::AtomicWriteFile for each, from T threads at once: the
//             same guarantee as per_file; concurrent fsyncs share journal
//             commits (ext4/xfs), so the wall is the disk's flush rate, not
//             the sum of the flush latencies
//   none      temporary file + rename, never synced (the seed's guarantee: a
//             crash may leave empty or missing transcripts the database
//             already counts as written)
//
//   bench-durability --dir DIR --files N --bytes S --mode per_file|group|parallel|none
//                    [--threads T]

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/bench_support.h"
#include "libs/storage/atomic_file.h"

namespace batchscribe::bench {
namespace {

namespace fs = std::filesystem;

bool WriteAndRename(const fs::path& path, const std::string& bytes) {
  const fs::path temp = path.string() + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ok = ::close(fd) == 0 && ok;
  return ok && ::rename(temp.c_str(), path.c_str()) == 0;
}

std::string FileName(int i) {
  char name[64];
  std::snprintf(name, sizeof(name), "doc-%06d.json", i);
  return name;
}

bool WriteParallel(const fs::path& dir, int files, const std::string& content, int threads) {
  std::atomic<int> next{1};
  std::atomic<bool> ok{true};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next.fetch_add(1); i <= files && ok; i = next.fetch_add(1)) {
        absl::Status s = storage::AtomicWriteFile(dir / FileName(i), content);
        if (!s.ok()) {
          std::cerr << s << "\n";
          ok = false;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  return ok;
}

int Run(const fs::path& dir, int files, int bytes, const std::string& mode, int threads) {
  fs::create_directories(dir);
  std::string content(static_cast<size_t>(bytes), 'x');
  const auto start = std::chrono::steady_clock::now();
  if (mode == "parallel") {
    if (!WriteParallel(dir, files, content, threads)) return 1;
  }
  for (int i = 1; mode != "parallel" && i <= files; ++i) {
    const std::string name = FileName(i);
    content[0] = static_cast<char>('a' + i % 26);
    if (mode == "per_file" || mode == "group") {
      absl::Status s = storage::AtomicWriteFile(
          dir / name, content,
          mode == "group" ? storage::Durability::kDeferred : storage::Durability::kSynced);
      if (!s.ok()) {
        std::cerr << s << "\n";
        return 1;
      }
    } else if (!WriteAndRename(dir / name, content)) {
      std::perror("write");
      return 1;
    }
  }
  if (mode == "group") {
    storage::FileSystemSyncer syncer;
    absl::Status s = syncer.Add(dir);
    if (s.ok()) s = syncer.Sync();
    if (!s.ok()) {
      std::cerr << s << "\n";
      return 1;
    }
  }
  const double seconds = SecondsSince(start);
  PrintResult({{"mode", mode},
               {"threads", mode == "parallel" ? threads : 1},
               {"files", files},
               {"bytes", bytes},
               {"seconds", seconds},
               {"files_per_s", files / seconds}});
  return 0;
}

}  // namespace
}  // namespace batchscribe::bench

int main(int argc, char** argv) {
  CLI::App app{"cost of durable transcript writes"};
  std::string dir, mode = "per_file";
  int files = 1000, bytes = 4000, threads = 16;
  app.add_option("--dir", dir, "folder to write into")->required();
  app.add_option("--files", files);
  app.add_option("--bytes", bytes, "size of each file");
  app.add_option("--mode", mode)->check(CLI::IsMember({"per_file", "group", "parallel", "none"}));
  app.add_option("--threads", threads, "writers at once (parallel)");
  CLI11_PARSE(app, argc, argv);
  return batchscribe::bench::Run(dir, files, bytes, mode, threads);
}
