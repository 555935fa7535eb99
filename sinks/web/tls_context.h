// The OpenSSL server context of a TlsServerConfig: certificate chain and key (checked to match),
// protocol versions and, when asked, client certificates verified against a CA.
//
// Thread-safety: an SSL_CTX is safe to share between connections once configured.
#pragma once

#include <openssl/ssl.h>

#include <expected>
#include <memory>
#include <string>

#include "sinks/web/web_config.h"

namespace kpi::sinks {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Sets up `ctx` (fresh from SSL_CTX_new) for `tls`. Errors name the file and OpenSSL's reason
// (never file contents).
std::expected<void, std::string> ConfigureServerContext(SSL_CTX& ctx, const TlsServerConfig& tls);
// A new context, set up by ConfigureServerContext.
std::expected<SslCtxPtr, std::string> MakeServerContext(const TlsServerConfig& tls);

}  // namespace kpi::sinks
