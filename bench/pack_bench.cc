// pack_bench --tree DIR [--runs N] [--threads N]
//
// Packs DIR three ways in one run and prints wall time, CPU time and size:
//   baseline  `tar -czf` (GNU tar piping into gzip -6, what the Python tool did)
//   zstd      WriteDeterministicArchive, zstd level 3, multi-threaded
//   gzip      WriteDeterministicArchive, gzip level 6
// Targets: zstd >= 5x faster than the baseline with output no larger; our
// gzip within 1.1x of the baseline's time. The best of N runs counts. Page
// cache is warmed first so every contender reads from memory.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "daemon/packaging/archive.h"

namespace {

namespace fs = std::filesystem;
using sfactory::packaging::ArchiveOptions;
using sfactory::packaging::Compression;

struct Sample {
  double wall = 0;  // seconds
  double cpu = 0;   // user + system seconds, this process and its children
  uint64_t bytes = 0;
};

double CpuSeconds() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    struct rusage ru;
    ::getrusage(who, &ru);
    total += ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
             ru.ru_stime.tv_usec / 1e6;
  }
  return total;
}

template <typename Fn>
Sample Measure(Fn&& fn) {
  double cpu0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  uint64_t bytes = fn();
  Sample s;
  s.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.cpu = CpuSeconds() - cpu0;
  s.bytes = bytes;
  return s;
}

// Reads every file once; returns the bytes of distinct files (hard links
// counted once, as both tar and our writer store them once).
uint64_t WarmCache(const fs::path& tree) {
  uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<char> buf(1 << 20);
  for (auto it = fs::recursive_directory_iterator(tree); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->is_symlink() || !it->is_regular_file()) continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0 || !seen.emplace(st.st_dev, st.st_ino).second) {
      continue;
    }
    int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) total += static_cast<uint64_t>(n);
    ::close(fd);
  }
  return total;
}

void Usage() {
  std::fprintf(stderr, "usage: pack_bench [--tree DIR] [--runs N] [--threads N]\n");
}

}  // namespace

int main(int argc, char** argv) {
  fs::path tree = "/usr/lib/x86_64-linux-gnu";
  int runs = 1;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--tree" && i + 1 < argc) {
      tree = argv[++i];
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      Usage();
      return 2;
    }
  }
  if (!fs::is_directory(tree)) {
    std::fprintf(stderr, "pack_bench: %s is not a directory\n", tree.c_str());
    return 2;
  }
  auto tmp = sfactory::TempDir::Create("sf-pack-bench-");
  if (!tmp.ok()) {
    std::fprintf(stderr, "pack_bench: %s\n", tmp.status().ToString().c_str());
    return 1;
  }
  uint64_t input = WarmCache(tree);
  std::printf("tree      %s (%.1f MB in distinct files), %u CPUs online, best of %d run(s)\n",
              tree.c_str(), input / 1e6, std::thread::hardware_concurrency(), runs);

  const fs::path tar_out = tmp->path() / "baseline.tar.gz";
  const fs::path zst_out = tmp->path() / "ours.tar.zst";
  const fs::path gz_out = tmp->path() / "ours.tar.gz";
  Sample best_tar, best_zst, best_gz;
  bool failed = false;
  auto keep_best = [](Sample& best, const Sample& s) {
    if (best.wall == 0 || s.wall < best.wall) best = s;
  };
  for (int run = 0; run < runs && !failed; ++run) {
    keep_best(best_tar, Measure([&]() -> uint64_t {
      auto r = sfactory::RunCapture({"tar", "-czf", tar_out.string(), "-C", tree.string(), "."});
      if (!r.ok() || r->exit_code != 0) {
        std::fprintf(stderr, "tar -czf failed: %s\n",
                     r.ok() ? r->output.c_str() : r.status().ToString().c_str());
        failed = true;
        return 0;
      }
      return fs::file_size(tar_out);
    }));
    for (auto [c, out, best] : {std::tuple{Compression::kZstd, zst_out, &best_zst},
                                std::tuple{Compression::kGzip, gz_out, &best_gz}}) {
      keep_best(*best, Measure([&, c = c, out = out]() -> uint64_t {
        ArchiveOptions options;
        options.compression = c;
        options.threads = threads;
        auto s = sfactory::packaging::WriteDeterministicArchive(tree, out, options);
        if (!s.ok()) {
          std::fprintf(stderr, "pack failed: %s\n", s.status().ToString().c_str());
          failed = true;
          return 0;
        }
        return s->archive_bytes;
      }));
    }
  }
  if (failed) return 1;

  auto row = [&](const char* name, const Sample& s) {
    std::printf("%-28s wall %7.2f s  cpu %7.2f s  size %9.1f MB  (%.1f%% of input)\n", name,
                s.wall, s.cpu, s.bytes / 1e6, 100.0 * s.bytes / std::max<uint64_t>(input, 1));
  };
  row("tar -czf (baseline)", best_tar);
  row("ours zstd -3 (threads)", best_zst);
  row("ours gzip -6", best_gz);
  double zst_speedup = best_tar.wall / best_zst.wall;
  double zst_size = static_cast<double>(best_zst.bytes) / best_tar.bytes;
  double gz_ratio = best_gz.wall / best_tar.wall;
  std::printf("zstd speedup vs tar -czf: %.2fx (target >= 5x) %s\n", zst_speedup,
              zst_speedup >= 5 ? "PASS" : "MISS");
  std::printf("zstd size vs tar.gz:      %.2fx (target <= 1.0x) %s\n", zst_size,
              zst_size <= 1.0 ? "PASS" : "MISS");
  std::printf("gzip time vs tar -czf:    %.2fx (target <= 1.1x) %s\n", gz_ratio,
              gz_ratio <= 1.1 ? "PASS" : "MISS");
  return 0;
}
