#include "sinks/web/tls_context.h"

#include <openssl/err.h>

namespace kpi::sinks {
namespace {

// OpenSSL's reason for the newest error on this thread's queue, which is then cleared.
std::string OpenSslReason() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

int ProtocolVersion(TlsVersion v) {
  switch (v) {
    case TlsVersion::kTls10:
      return TLS1_VERSION;
    case TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

}  // namespace

std::expected<void, std::string> ConfigureServerContext(SSL_CTX& ctx_ref,
                                                        const TlsServerConfig& tls) {
  SSL_CTX* ctx = &ctx_ref;
  ERR_clear_error();
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(ctx, ProtocolVersion(tls.min_version)) != 1 ||
      (tls.max_version &&
       SSL_CTX_set_max_proto_version(ctx, ProtocolVersion(*tls.max_version)) != 1)) {
    return std::unexpected("TLS: protocol versions refused: " + OpenSslReason());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return std::unexpected("TLS: cert_file " + tls.cert_file + ": " + OpenSslReason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return std::unexpected("TLS: key_file " + tls.key_file + ": " + OpenSslReason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return std::unexpected("TLS: key_file " + tls.key_file + " does not match cert_file " +
                           tls.cert_file);
  }
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return std::unexpected("TLS: client_ca_file " + tls.client_ca_file + ": " + OpenSslReason());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr) {
      return std::unexpected("TLS: client_ca_file " + tls.client_ca_file +
                             ": no certificate in it");
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  // Sessions resumed across the server's threads need an id context when clients are verified.
  static constexpr unsigned char kSessionContext[] = "kpi-processor";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  return {};
}

std::expected<SslCtxPtr, std::string> MakeServerContext(const TlsServerConfig& tls) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return std::unexpected("TLS: cannot create a context: " + OpenSslReason());
  if (auto r = ConfigureServerContext(*ctx, tls); !r) return std::unexpected(r.error());
  return ctx;
}

}  // namespace kpi::sinks
