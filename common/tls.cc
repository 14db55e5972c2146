#include "common/tls.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace berth::tls {
namespace {

// The last OpenSSL error as text (and the queue cleared), for messages.
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM string, or null.
std::unique_ptr<X509, X509Free> FirstCert(const std::string& pem) {
  auto bio = MemBio(pem);
  return std::unique_ptr<X509, X509Free>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

void AddGrpcTlsOptions(CLI::App* app, GrpcTlsFiles* files, bool server,
                       bool client) {
  const char* cert_help =
      server && client
          ? "PEM certificate chain of this gRPC server, also presented as "
            "client certificate to peers (enables TLS)"
      : server ? "PEM certificate chain of this gRPC server (enables TLS)"
               : "PEM client certificate presented to gRPC servers";
  const char* ca_help =
      server && client
          ? "PEM CA bundle: client certificates are then required and "
            "verified against it, and peers' server certificates too"
      : server ? "PEM CA bundle: client certificates are then required and "
                 "verified against it"
               : "PEM CA bundle that gRPC server certificates are verified "
                 "against (enables TLS)";
  app->add_option("--grpc-tls-cert", files->cert, cert_help);
  app->add_option("--grpc-tls-key", files->key,
                  "PEM private key of --grpc-tls-cert");
  app->add_option("--grpc-tls-ca", files->ca, ca_help);
  if (client) {
    app->add_option("--grpc-tls-server-name", files->server_name,
                    "name gRPC server certificates must carry (default: the "
                    "dialed host)");
  }
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag,
                                        bool want_cert) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream data;
  data << in.rdbuf();
  std::string pem = data.str();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": read error"));
  }
  if (pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": empty file"));
  }
  if (want_cert && FirstCert(pem) == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": no PEM certificate in it"));
  }
  return pem;
}

absl::StatusOr<CertAndKey> LoadCertAndKey(const std::string& cert_path,
                                          absl::string_view cert_flag,
                                          const std::string& key_path,
                                          absl::string_view key_flag) {
  if (cert_path.empty() || key_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_flag, " and ", key_flag, " go together"));
  }
  CertAndKey out;
  auto cert = ReadPemFile(cert_path, cert_flag, /*want_cert=*/true);
  if (!cert.ok()) return cert.status();
  auto key = ReadPemFile(key_path, key_flag, /*want_cert=*/false);
  if (!key.ok()) return key.status();
  out.cert_pem = std::move(*cert);
  out.key_pem = std::move(*key);
  auto x509 = FirstCert(out.cert_pem);
  auto bio = MemBio(out.key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, " ", key_path,
                     ": no usable PEM private key in it (encrypted keys are "
                     "not supported): ",
                     OpenSslError()));
  }
  if (X509_check_private_key(x509.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, " ", key_path, " is not the key of ",
                     cert_flag, " ", cert_path));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const GrpcTlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(
        "a gRPC server with TLS needs --grpc-tls-cert and --grpc-tls-key");
  }
  auto pair = LoadCertAndKey(files.cert, "--grpc-tls-cert", files.key,
                             "--grpc-tls-key");
  if (!pair.ok()) return pair.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({pair->key_pem, pair->cert_pem});
  if (!files.ca.empty()) {
    auto ca = ReadPemFile(files.ca, "--grpc-tls-ca", /*want_cert=*/true);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = std::move(*ca);
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
GrpcChannelCredentials(const GrpcTlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!files.ca.empty()) {
    auto ca = ReadPemFile(files.ca, "--grpc-tls-ca", /*want_cert=*/true);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = std::move(*ca);
  }
  if (!files.cert.empty() || !files.key.empty()) {
    auto pair = LoadCertAndKey(files.cert, "--grpc-tls-cert", files.key,
                               "--grpc-tls-key");
    if (!pair.ok()) return pair.status();
    options.pem_cert_chain = std::move(pair->cert_pem);
    options.pem_private_key = std::move(pair->key_pem);
  }
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelSecurity::Credentials() const {
  return credentials ? credentials : grpc::InsecureChannelCredentials();
}

void ChannelSecurity::ApplyTo(const std::string& default_host,
                              grpc::ChannelArguments* args) const {
  if (!tls()) return;
  const std::string& name = server_name.empty() ? default_host : server_name;
  if (!name.empty()) args->SetSslTargetNameOverride(name);
}

absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const GrpcTlsFiles& files) {
  ChannelSecurity out;
  if (!files.enabled()) {
    if (!files.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--grpc-tls-server-name needs --grpc-tls-ca (or a client "
          "certificate)");
    }
    return out;
  }
  auto creds = GrpcChannelCredentials(files);
  if (!creds.ok()) return creds.status();
  out.credentials = std::move(*creds);
  out.server_name = files.server_name;
  return out;
}

}  // namespace berth::tls
