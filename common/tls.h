// TLS material for Berth's listeners and channels: PEM files read and
// checked once at start (a missing file, a key that does not belong to its
// certificate or a CA file without a certificate is a clear error naming
// the flag and the file, before anything listens), then turned into gRPC
// credentials or handed to the HTTPS server.
//
// gRPC (between tiers and from berthctl), per process:
//   servers (metad, blobd): --grpc-tls-cert/--grpc-tls-key are the server's
//     certificate chain and key; --grpc-tls-ca, when given, makes client
//     certificates REQUIRED and verified against that CA (mutual TLS).
//   clients (frontend, berthctl; metad dialing a peer): --grpc-tls-ca
//     verifies the server (its certificate must name the dialed host, or
//     --grpc-tls-server-name); --grpc-tls-cert/--grpc-tls-key are the
//     client's own certificate. A metad uses its server files as a client
//     too, so its certificate must allow both serverAuth and clientAuth.
// No flag given: insecure, as before.
#ifndef BERTH_COMMON_TLS_H_
#define BERTH_COMMON_TLS_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ChannelArguments;
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace berth::tls {

// One side's PEM file paths (empty = not given).
struct GrpcTlsFiles {
  std::string cert;  // own certificate chain (server's, or client's)
  std::string key;   // private key of `cert`
  std::string ca;    // servers: CA of client certs; clients: CA of servers
  // Clients only: the name server certificates must carry (default: the
  // host of the dialed address; for several addresses, the first one's).
  std::string server_name;

  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// --grpc-tls-cert, --grpc-tls-key, --grpc-tls-ca; `client` adds
// --grpc-tls-server-name. Help texts say which role the files play.
void AddGrpcTlsOptions(CLI::App* app, GrpcTlsFiles* files, bool server,
                       bool client);

// A certificate chain and its private key, read and matched.
struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

// Reads a PEM file; `flag` names it in errors ("--grpc-tls-ca FILE: cannot
// read: No such file or directory"). INVALID_ARGUMENT for an unreadable or
// empty file, or one with no PEM certificate when `want_cert`.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag,
                                        bool want_cert);

// Reads `cert_path` and `key_path` and checks that the key is the
// certificate's. Both must be given.
absl::StatusOr<CertAndKey> LoadCertAndKey(const std::string& cert_path,
                                          absl::string_view cert_flag,
                                          const std::string& key_path,
                                          absl::string_view key_flag);

// Server credentials: insecure when !files.enabled(); TLS with
// files.cert/key (both required); with files.ca also mutual TLS.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const GrpcTlsFiles& files);

// Channel credentials: insecure when !files.enabled(); else TLS verifying
// the server against files.ca (system roots if empty) and presenting
// files.cert/key if given (both or neither).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
GrpcChannelCredentials(const GrpcTlsFiles& files);

// What a dial site needs: credentials (null = insecure) and the name to
// verify in server certificates. Copyable; the default is insecure.
struct ChannelSecurity {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string server_name;  // "" = the dialed host

  bool tls() const { return credentials != nullptr; }
  // `credentials`, or insecure ones.
  std::shared_ptr<grpc::ChannelCredentials> Credentials() const;
  // With TLS, sets the name checked in the server's certificate to
  // server_name, else to `default_host` when non-empty (needed for a
  // target like "ipv4:a:1,b:2" whose authority is no host name).
  void ApplyTo(const std::string& default_host,
               grpc::ChannelArguments* args) const;
};

// GrpcChannelCredentials plus files.server_name.
absl::StatusOr<ChannelSecurity> LoadChannelSecurity(const GrpcTlsFiles& files);

}  // namespace berth::tls

#endif  // BERTH_COMMON_TLS_H_
