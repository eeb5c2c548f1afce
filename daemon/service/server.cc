#include "daemon/service/server.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/fs.h"
#include "common/logging.h"
#include "common/status.h"
#include "daemon/service/reflection_v1.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_interceptor.h"

namespace sfactory::service {
namespace {

absl::StatusOr<std::string> ReadPem(const std::filesystem::path& path, absl::string_view key) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (!pem.ok()) return Annotate(pem.status(), absl::StrCat("tls.", key));
  if (!absl::StrContains(*pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.", key, ": ", path.string(), " is not a PEM file"));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const config::TlsConfig& tls) {
  SF_ASSIGN_OR_RETURN(std::string cert, ReadPem(tls.cert_file, "cert_file"));
  SF_ASSIGN_OR_RETURN(std::string key, ReadPem(tls.key_file, "key_file"));
  // A client certificate is optional (tokens work without one) but, when
  // presented, must verify against the client CA.
  grpc::SslServerCredentialsOptions options(
      tls.client_ca_file.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!tls.client_ca_file.empty()) {
    SF_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPem(tls.client_ca_file, "client_ca_file"));
  }
  options.pem_key_cert_pairs.push_back({std::move(key), std::move(cert)});
  return grpc::SslServerCredentials(options);
}

// Counts each call as it sends its status: method ("sfactory.v1.BuildService/
// SubmitBuild") and code. Streaming calls count once, at their end.
class RpcCounter : public grpc::experimental::Interceptor {
 public:
  RpcCounter(grpc::experimental::ServerRpcInfo* info, metrics::Recorder* metrics)
      : method_(absl::StripPrefix(info->method(), "/")), metrics_(metrics) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Rpc(method_, static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  metrics::Recorder* metrics_;
};

class RpcCounterFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcCounterFactory(metrics::Recorder* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcCounter(info, metrics_);
  }

 private:
  metrics::Recorder* metrics_;
};

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<auth::UnixListener>>> BindUnixListeners(
    const config::Config& config) {
  std::vector<std::unique_ptr<auth::UnixListener>> out;
  for (const auto& address : config.listen) {
    if (!absl::StartsWith(address, "unix:")) continue;
    auth::UnixListenerOptions options;
    options.path = address.substr(5);
    options.group = config.socket_group;
    SF_ASSIGN_OR_RETURN(std::unique_ptr<auth::UnixListener> l, auth::UnixListener::Bind(options));
    out.push_back(std::move(l));
  }
  return out;
}

void Server::Shutdown(absl::Duration grace) {
  for (auto& l : unix) l->Stop();
  if (grpc) {
    grpc->GetHealthCheckService()->SetServingStatus(false);
    grpc->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  }
}

absl::StatusOr<Server> StartServer(
    const config::Config& config, std::vector<std::unique_ptr<auth::UnixListener>> unix,
    const std::vector<std::pair<std::string, grpc::Service*>>& services,
    metrics::Recorder* metrics) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<std::string> tcp;
  for (const auto& address : config.listen) {
    if (absl::StartsWith(address, "unix:")) continue;
    SF_RETURN_IF_ERROR(config::CheckListenTls(config, "listen"));
    SF_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds, TlsCredentials(config.tls));
    builder.AddListeningPort(address, creds);
    tcp.push_back(address);
  }
  builder.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  if (metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<RpcCounterFactory>(metrics));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  std::vector<std::string> names;
  for (const auto& [name, service] : services) {
    builder.RegisterService(service);
    names.push_back(name);
  }
  names.push_back("grpc.health.v1.Health");
  names.push_back("grpc.reflection.v1.ServerReflection");
  names.push_back("grpc.reflection.v1alpha.ServerReflection");
  Server server;
  server.reflection = std::make_unique<ReflectionV1Service>(names);
  builder.RegisterService(server.reflection.get());

  server.grpc = builder.BuildAndStart();
  if (!server.grpc) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", absl::StrJoin(tcp, ", "),
                                               " (address in use, or a bad TLS key?)"));
  }
  for (const auto& [name, service] : services) {
    server.grpc->GetHealthCheckService()->SetServingStatus(name, true);
  }
  server.unix = std::move(unix);
  for (auto& l : server.unix) l->Serve(server.grpc.get());
  return server;
}

}  // namespace sfactory::service
