#include "libs/common/secrets.h"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "libs/common/logging.h"

namespace batchscribe {

absl::StatusOr<std::string> ReadSecret(const std::string& file, const char* env_var) {
  std::string value;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return absl::NotFoundError("cannot read secret file " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    value = ss.str();
  } else if (const char* env = std::getenv(env_var); env != nullptr) {
    value = env;
  }
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
    value.pop_back();
  }
  log::RegisterSecret(value);
  return value;
}

namespace {
// postgresql://user:PASSWORD@host...  or  password=PASSWORD
const std::regex& UrlPassword() {
  static const std::regex re(R"(^([a-z]+://[^:/@]*:)([^@]*)(@))");
  return re;
}
const std::regex& KeywordPassword() {
  static const std::regex re(R"((password\s*=\s*)('[^']*'|\S+))");
  return re;
}
}  // namespace

std::string RedactDatabaseUrl(const std::string& url) {
  std::string out = std::regex_replace(url, UrlPassword(), "$1***$3");
  return std::regex_replace(out, KeywordPassword(), "$1***");
}

void RegisterDatabaseUrlSecret(const std::string& url) {
  std::smatch m;
  if (std::regex_search(url, m, UrlPassword())) log::RegisterSecret(m[2].str());
  if (std::regex_search(url, m, KeywordPassword())) log::RegisterSecret(m[2].str());
}

}  // namespace batchscribe
