#include "tools/cluster/web_testing.h"

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "sinks/web/basic_auth.h"

namespace kpi::testing {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool MakeTestPki(const fs::path& dir) {
  fs::create_directories(dir);
  const std::string d = Quote(dir.string());
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::string script = "set -e; cd " + d + "; exec 2>openssl.log >&2;";
  for (const std::string ca : {"ca", "other-ca"}) {
    script += "openssl req -x509 " + key + " -days 2 -subj /CN=kpi-test-" + ca + " -keyout " + ca +
              ".key -out " + ca + ".crt;";
  }
  const auto leaf = [&](const std::string& name, const std::string& ca, const std::string& ext) {
    script += "openssl req " + key + " -subj /CN=kpi-test-" + name + " -keyout " + name +
              ".key -out " + name + ".csr;";
    script += "printf '" + ext + "\\n' > " + name + ".ext;";
    script += "openssl x509 -req -in " + name + ".csr -CA " + ca + ".crt -CAkey " + ca +
              ".key -CAcreateserial -days 2 -extfile " + name + ".ext -out " + name + ".crt;";
  };
  leaf("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost");
  leaf("client", "ca", "extendedKeyUsage=clientAuth");
  leaf("other", "other-ca", "extendedKeyUsage=clientAuth");
  return std::system(("bash -c " + Quote(script)).c_str()) == 0;
}

std::string EncodeBase64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t bits = uint32_t(static_cast<uint8_t>(in[i])) << 16;
    if (i + 1 < in.size()) bits |= uint32_t(static_cast<uint8_t>(in[i + 1])) << 8;
    if (i + 2 < in.size()) bits |= uint32_t(static_cast<uint8_t>(in[i + 2]));
    out += kAlphabet[(bits >> 18) & 63];
    out += kAlphabet[(bits >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(bits >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[bits & 63] : '=';
  }
  return out;
}

std::string BcryptHash(const std::string& password, int cost) {
  return sinks::HashPassword(password, cost).value_or("");
}

CurlResult Curl(const std::vector<std::string>& args, const std::string& url,
                const fs::path& scratch) {
  fs::create_directories(scratch);
  const fs::path headers = scratch / "curl.headers";
  const fs::path body = scratch / "curl.body";
  const fs::path code = scratch / "curl.code";
  fs::remove(headers);
  fs::remove(body);
  // Appended piece by piece: g++ 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string command = "curl -sS --max-time 20 -w '%{http_code}' -o ";
  command += Quote(body.string());
  command += " -D ";
  command += Quote(headers.string());
  for (const std::string& a : args) command.append(" ").append(Quote(a));
  command.append(" ").append(Quote(url)).append(" > ").append(Quote(code.string()));
  command.append(" 2>>").append(Quote((scratch / "curl.log").string()));
  const int rc = std::system(command.c_str());
  CurlResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.status = std::atoi(Slurp(code).c_str());
  r.headers = Slurp(headers);
  r.body = Slurp(body);
  return r;
}

}  // namespace kpi::testing
