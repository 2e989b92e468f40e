// stampauth C++ client example: walks through the StampAuthService API against a running server.
//
//   build/stampauth-example --address HOST:PORT [--token TOKEN] [--samples DIR]
//                           [--tls | --tls-ca FILE] [--tls-server-name NAME] [--timeout SECONDS]
//                           [--prefix PREFIX]
//
// It checks the server's health, creates an identity with signature specimens, verifies a
// signature crop and two scanned letters against it, lists identities page by page, shows how an
// INVALID_ARGUMENT error carries a google.rpc.BadRequest, and deletes everything it created.
// The last line of its output is "RESULT {json}" with what the server answered. Exit status: 0
// when every step went as the API says it should, 1 otherwise, 2 for bad command-line options.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "stampauth/v1/stampauth.grpc.pb.h"

namespace {

namespace v1 = stampauth::v1;
namespace health = grpc::health::v1;
using Clock = std::chrono::system_clock;

// ---------------------------------------------------------------- command line

struct Options {
  std::string address;
  std::string token;
  std::string samples = "clients/samples";
  bool tls = false;
  std::string tls_ca;           // PEM file of the CA(s) to trust; empty = the system's roots
  std::string tls_server_name;  // overrides the name checked against the server certificate
  double timeout_s = 60;        // deadline of every call
  std::string prefix;           // start of the identity ids this run creates; empty = a unique one
};

const char kUsage[] =
    "usage: stampauth-example --address HOST:PORT [--token TOKEN] [--samples DIR]\n"
    "                         [--tls | --tls-ca FILE] [--tls-server-name NAME] [--timeout SECONDS]\n"
    "                         [--prefix PREFIX]\n"
    "  --address          the server, e.g. localhost:50051\n"
    "  --token            bearer token (default: $STAMPAUTH_TOKEN; none = no authorization header)\n"
    "  --samples          the sample images (default: clients/samples)\n"
    "  --tls              TLS with the system's root certificates\n"
    "  --tls-ca FILE      TLS trusting the CA certificate(s) in FILE (PEM)\n"
    "  --tls-server-name  name to check the server certificate against (default: the address' host)\n"
    "  --timeout          deadline of each call in seconds (default: 60)\n"
    "  --prefix           start of the ids of the identities created (default: cpp-example-<time>-<random>)\n";

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "stampauth-example: " << message << "\n" << kUsage;
  std::exit(2);
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  if (const char* token = std::getenv("STAMPAUTH_TOKEN")) options.token = token;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--address") {
      options.address = next();
    } else if (arg == "--token") {
      options.token = next();
    } else if (arg == "--samples") {
      options.samples = next();
    } else if (arg == "--tls") {
      options.tls = true;
    } else if (arg == "--tls-ca") {
      options.tls_ca = next();
      options.tls = true;
    } else if (arg == "--tls-server-name") {
      options.tls_server_name = next();
    } else if (arg == "--prefix") {
      options.prefix = next();
    } else if (arg == "--timeout") {
      std::string text = next();
      char* end = nullptr;
      options.timeout_s = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(options.timeout_s > 0)) UsageError("bad --timeout: " + text);
    } else {
      UsageError("unknown option " + arg);
    }
  }
  if (options.address.empty()) UsageError("--address is required");
  return options;
}

// ---------------------------------------------------------------- helpers

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string Basename(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
      "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  int index = static_cast<int>(code);
  return index >= 0 && index < static_cast<int>(std::size(kNames)) ? kNames[index] : "UNKNOWN_CODE";
}

// A tiny JSON writer: enough for the RESULT line.
std::string JsonString(const std::string& text) {
  std::ostringstream out;
  out << '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out << "\\\""; break;
      case '\\': out << "\\\\"; break;
      case '\n': out << "\\n"; break;
      case '\r': out << "\\r"; break;
      case '\t': out << "\\t"; break;
      default:
        if (c < 0x20) {
          out << "\\u" << std::hex << std::setw(4) << std::setfill('0') << static_cast<int>(c) << std::dec;
        } else {
          out << c;  // UTF-8 passes through unchanged
        }
    }
  }
  out << '"';
  return out.str();
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  std::ostringstream out;
  out << std::setprecision(9) << value;
  return out.str();
}

// Fields of one JSON object, written in insertion order.
class JsonObject {
 public:
  JsonObject& Raw(const std::string& key, const std::string& json) {
    fields_.emplace_back(key, json);
    return *this;
  }
  JsonObject& Str(const std::string& key, const std::string& value) { return Raw(key, JsonString(value)); }
  JsonObject& Num(const std::string& key, double value) { return Raw(key, JsonNumber(value)); }
  JsonObject& Bool(const std::string& key, bool value) { return Raw(key, value ? "true" : "false"); }
  std::string str() const {
    std::string out = "{";
    for (size_t i = 0; i < fields_.size(); ++i) {
      out += (i ? "," : "") + JsonString(fields_[i].first) + ":" + fields_[i].second;
    }
    return out + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string JsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out + "]";
}

std::string JsonStrings(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const auto& item : items) quoted.push_back(JsonString(item));
  return JsonArray(quoted);
}

// ---------------------------------------------------------------- errors

// The google.rpc.Status the server puts in the grpc-status-details-bin trailer, when there is one.
bool DecodeStatus(const grpc::Status& status, google::rpc::Status* decoded) {
  return !status.error_details().empty() && decoded->ParseFromString(status.error_details());
}

struct Violation {
  std::string field, description;
};

// The field violations of every google.rpc.BadRequest detail of a failed call.
std::vector<Violation> FieldViolations(const grpc::Status& status) {
  std::vector<Violation> violations;
  google::rpc::Status decoded;
  if (!DecodeStatus(status, &decoded)) return violations;
  for (const auto& detail : decoded.details()) {
    google::rpc::BadRequest bad_request;
    if (detail.Is<google::rpc::BadRequest>() && detail.UnpackTo(&bad_request)) {
      for (const auto& violation : bad_request.field_violations()) {
        violations.push_back({violation.field(), violation.description()});
      }
    }
  }
  return violations;
}

std::string Describe(const grpc::Status& status) {
  std::string text = std::string(CodeName(status.error_code())) + ": " + status.error_message();
  for (const auto& violation : FieldViolations(status)) text += "\n    field " + violation.field + ": " + violation.description;
  return text;
}

// A call that failed where it should have succeeded.
class RpcFailure : public std::runtime_error {
 public:
  RpcFailure(const std::string& method, const grpc::Status& status)
      : std::runtime_error(method + " failed with " + Describe(status)) {}
};

// Something the server answered that contradicts the API.
class Unexpected : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- the client

class Client {
 public:
  Client(const std::shared_ptr<grpc::Channel>& channel, std::string token, std::chrono::milliseconds timeout)
      : stub_(v1::StampAuthService::NewStub(channel)),
        health_(health::Health::NewStub(channel)),
        token_(std::move(token)),
        timeout_(timeout) {}

  // Calls a method; returns the status so that the caller can look at an expected error.
  template <typename Stub, typename Request, typename Response>
  grpc::Status TryCall(Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                       const Request& request, Response* response) const {
    grpc::ClientContext context;
    context.set_deadline(Clock::now() + timeout_);  // every call gets a deadline
    if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
    return (stub->*method)(&context, request, response);
  }

  // Calls a method that must succeed.
  template <typename Stub, typename Request, typename Response>
  Response Call(const char* name, Stub* stub,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const Request& request) const {
    Response response;
    grpc::Status status = TryCall(stub, method, request, &response);
    if (!status.ok()) throw RpcFailure(name, status);
    return response;
  }

  v1::StampAuthService::Stub* api() const { return stub_.get(); }
  health::Health::Stub* health() const { return health_.get(); }

 private:
  std::unique_ptr<v1::StampAuthService::Stub> stub_;
  std::unique_ptr<health::Health::Stub> health_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

using Api = v1::StampAuthService::Stub;

std::shared_ptr<grpc::Channel> OpenChannel(const Options& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);  // annotated pages can make responses large
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca.empty()) ssl.pem_root_certs = ReadFile(options.tls_ca);
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(options.address, credentials, args);
}

// A prefix no earlier run used: identity ids are 1-128 characters of letters, digits and "._:@-".
std::string UniquePrefix() {
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  std::random_device random;
  std::ostringstream out;
  out << "cpp-example-" << millis << "-" << std::hex << std::setw(8) << std::setfill('0') << random();
  return out.str();
}

v1::SpecimenInput SignatureSpecimen(const std::string& path) {
  v1::SpecimenInput specimen;
  specimen.set_kind(v1::MARK_KIND_SIGNATURE);
  specimen.mutable_image()->set_content(ReadFile(path));
  specimen.mutable_image()->set_filename(Basename(path));
  specimen.set_note("C++ client example: " + Basename(path));
  return specimen;
}

std::string DecisionLine(const v1::Decision& decision) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3) << v1::Verdict_Name(decision.verdict()) << ", score "
      << decision.score() << " (" << v1::ScoreKind_Name(decision.score_kind()) << ") vs threshold "
      << decision.threshold() << " +/- " << decision.review_band() << ", P(genuine) "
      << decision.probability_genuine() << ", " << decision.references_used() << " reference(s), model "
      << decision.model_version();
  return out.str();
}

JsonObject DecisionJson(const v1::Decision& decision) {
  JsonObject json;
  json.Str("verdict", v1::Verdict_Name(decision.verdict()))
      .Num("score", decision.score())
      .Str("score_kind", v1::ScoreKind_Name(decision.score_kind()))
      .Num("threshold", decision.threshold())
      .Num("review_band", decision.review_band())
      .Num("probability_genuine", decision.probability_genuine())
      .Str("model_version", decision.model_version())
      .Num("references_used", decision.references_used());
  return json;
}

std::string BoxText(const v1::BoundingBox& box) {
  std::ostringstream out;
  out << "(" << box.x_min() << "," << box.y_min() << ")-(" << box.x_max() << "," << box.y_max() << ")";
  return out.str();
}

// ---------------------------------------------------------------- the walkthrough

class Example {
 public:
  Example(const Options& options, Client& client) : options_(options), client_(client) {}

  void Run() {
    prefix_ = options_.prefix.empty() ? UniquePrefix() : options_.prefix;
    result_.Str("prefix", prefix_);
    CheckHealth();
    CreateAndEnroll();
    VerifyImage();
    VerifyDocument("letter-signed.jpg");
    VerifyDocument("letter-other-signer.jpg");
    ListIdentities();
    ShowInvalidArgument();
  }

  // Deletes every identity this run created; false when one could not be deleted.
  bool CleanUp() {
    std::cout << "\n== clean up\n";
    bool ok = true;
    std::vector<std::string> deleted;
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      v1::DeleteIdentityRequest request;
      request.set_identity_id(*it);
      v1::DeleteIdentityResponse response;
      grpc::Status status = client_.TryCall(client_.api(), &Api::DeleteIdentity, request, &response);
      if (status.ok()) {
        std::cout << "deleted " << *it << " with " << response.deleted_specimen_count() << " specimen(s)\n";
        deleted.push_back(JsonObject().Str("identity_id", *it).Num("specimens", response.deleted_specimen_count()).str());
      } else {
        std::cerr << "could not delete " << *it << ": " << Describe(status) << "\n";
        ok = false;
      }
    }
    created_.clear();
    result_.Raw("deleted", JsonArray(deleted));
    return ok;
  }

  // The RESULT line's object: what the server answered at each step reached, and whether all went well.
  std::string Result(bool ok) const {
    JsonObject out = result_;
    return out.Raw("documents", documents_.str()).Bool("ok", ok).str();
  }

 private:
  std::string Sample(const std::string& name) const { return options_.samples + "/" + name; }

  // 1. The standard gRPC health check of the StampAuthService.
  void CheckHealth() {
    std::cout << "== health\n";
    health::HealthCheckRequest request;
    request.set_service("stampauth.v1.StampAuthService");
    auto response = client_.Call("Health.Check", client_.health(), &health::Health::Stub::Check, request);
    std::string status = health::HealthCheckResponse::ServingStatus_Name(response.status());
    std::cout << request.service() << ": " << status << "\n";
    result_.Str("health", status);
    if (response.status() != health::HealthCheckResponse::SERVING) throw Unexpected("the server is not SERVING");
  }

  // 2. An identity created with two signature specimens, then a third enrolled.
  void CreateAndEnroll() {
    std::cout << "\n== create identity and enroll signature specimens\n";
    identity_id_ = prefix_ + "-jansen";
    v1::CreateIdentityRequest create;
    create.mutable_identity()->set_identity_id(identity_id_);
    create.mutable_identity()->set_display_name("J. Jansen");
    (*create.mutable_identity()->mutable_metadata())["created_by"] = "clients/cpp example";
    *create.add_specimens() = SignatureSpecimen(Sample("specimens/jansen-signature-1.png"));
    *create.add_specimens() = SignatureSpecimen(Sample("specimens/jansen-signature-2.png"));
    auto created = client_.Call("CreateIdentity", client_.api(), &Api::CreateIdentity, create);
    created_.push_back(identity_id_);
    std::cout << "created " << created.identity().identity_id() << " (" << created.identity().display_name()
              << ") with " << created.specimens_size() << " specimen(s)\n";
    for (const auto& specimen : created.specimens()) {
      std::cout << "  specimen " << specimen.specimen_id() << ": " << v1::MarkKind_Name(specimen.kind()) << " "
                << specimen.width() << "x" << specimen.height() << ", model " << specimen.model_version() << "\n";
    }
    result_.Str("identity_id", identity_id_);
  }

  // 3. A signature crop the identity's references have not seen, then enrolled as a third reference.
  void VerifyImage() {
    std::cout << "\n== verify an image (jansen-signature-3.png, not enrolled yet)\n";
    v1::VerifyImageRequest request;
    request.set_identity_id(identity_id_);
    request.set_kind(v1::MARK_KIND_SIGNATURE);
    *request.mutable_image() = SignatureSpecimen(Sample("specimens/jansen-signature-3.png")).image();
    auto response = client_.Call("VerifyImage", client_.api(), &Api::VerifyImage, request);
    const auto& decision = response.decision();
    std::cout << "verdict " << DecisionLine(decision) << "\n";
    for (const auto& reference : decision.reference_similarities()) {
      std::cout << "  vs specimen " << reference.specimen_id() << ": similarity " << std::fixed << std::setprecision(3)
                << reference.similarity() << "\n";
    }
    if (decision.verdict() == v1::VERDICT_UNSPECIFIED) throw Unexpected("VerifyImage returned no verdict");
    result_.Raw("verify_image", DecisionJson(decision).str());

    v1::EnrollSpecimensRequest enroll;
    enroll.set_identity_id(identity_id_);
    *enroll.add_specimens() = SignatureSpecimen(Sample("specimens/jansen-signature-3.png"));
    auto enrolled = client_.Call("EnrollSpecimens", client_.api(), &Api::EnrollSpecimens, enroll);
    std::cout << "enrolled it: " << identity_id_ << " now has " << enrolled.identity().signature_specimen_count()
              << " signature specimen(s)\n";
    result_.Num("signature_specimens", enrolled.identity().signature_specimen_count());
  }

  // 4. A scanned letter verified against a claim: this identity signed it.
  void VerifyDocument(const std::string& file) {
    std::cout << "\n== verify a document (" << file << ", claim: signed by " << identity_id_ << ")\n";
    v1::VerifyDocumentRequest request;
    request.mutable_document()->set_content(ReadFile(Sample(file)));
    request.mutable_document()->set_filename(file);
    v1::Claim* claim = request.add_claims();
    claim->set_identity_id(identity_id_);
    claim->set_kind(v1::MARK_KIND_SIGNATURE);
    auto response = client_.Call("VerifyDocument", client_.api(), &Api::VerifyDocument, request);
    std::cout << response.pages_size() << " page(s), " << response.verifications_size()
              << " verification(s), detector " << response.detector_version() << "\n";
    if (response.claim_results_size() != 1) throw Unexpected("VerifyDocument: expected one claim result");
    const auto& claim_result = response.claim_results(0);
    std::cout << "claim: " << v1::ClaimOutcome_Name(claim_result.outcome()) << ", verdict "
              << v1::Verdict_Name(claim_result.verdict()) << "\n  " << claim_result.explanation() << "\n";
    JsonObject json;
    json.Str("outcome", v1::ClaimOutcome_Name(claim_result.outcome()))
        .Str("verdict", v1::Verdict_Name(claim_result.verdict()))
        .Str("explanation", claim_result.explanation())
        .Bool("all_claims_satisfied", response.all_claims_satisfied())
        .Num("verifications", response.verifications_size());
    if (claim_result.has_mark_index()) {
      json.Num("mark_index", claim_result.mark_index());
      // The verification the claim's verdict comes from: that mark, against the claimed identity.
      const v1::MarkVerification* match = nullptr;
      for (const auto& verification : response.verifications()) {
        if (verification.mark().mark_index() == claim_result.mark_index() &&
            verification.identity_id() == identity_id_) {
          match = &verification;
        }
      }
      if (match == nullptr) throw Unexpected("VerifyDocument: no verification for the claim's mark");
      const auto& mark = match->mark();
      std::cout << "mark " << mark.mark_index() << ": " << v1::MarkKind_Name(mark.kind()) << " on page "
                << mark.page_number() << " at " << BoxText(mark.box()) << ", detection score " << std::fixed
                << std::setprecision(3) << mark.detection_score() << "\n  " << DecisionLine(match->decision()) << "\n";
      const auto& box = mark.box();
      json.Num("page", mark.page_number())
          .Str("kind", v1::MarkKind_Name(mark.kind()))
          .Raw("box", JsonArray({std::to_string(box.x_min()), std::to_string(box.y_min()),
                                 std::to_string(box.x_max()), std::to_string(box.y_max())}))
          .Raw("decision", DecisionJson(match->decision()).str());
    }
    documents_.Raw(file, json.str());
  }

  // 5. ListIdentities page by page (page_size 2), with three more identities so that there are pages to follow.
  void ListIdentities() {
    std::cout << "\n== list identities, 2 per page\n";
    std::vector<std::string> ours = {identity_id_};
    for (int i = 1; i <= 3; ++i) {
      v1::CreateIdentityRequest create;
      std::string id = prefix_ + "-extra-" + std::to_string(i);
      create.mutable_identity()->set_identity_id(id);
      create.mutable_identity()->set_display_name("Extra " + std::to_string(i));
      client_.Call("CreateIdentity", client_.api(), &Api::CreateIdentity, create);
      created_.push_back(id);
      ours.push_back(id);
    }
    std::cout << "created " << ours.size() - 1 << " more: " << ours[1] << " ...\n";

    std::vector<std::string> pages, listed;
    v1::ListIdentitiesRequest request;
    request.set_page_size(2);
    for (int page = 1;; ++page) {
      if (page > 100000) throw Unexpected("ListIdentities: next_page_token never ends");
      auto response = client_.Call("ListIdentities", client_.api(), &Api::ListIdentities, request);
      std::vector<std::string> ids;
      for (const auto& identity : response.identities()) ids.push_back(identity.identity_id());
      std::cout << "page " << page << ":";
      for (const auto& id : ids) std::cout << " " << id;
      std::cout << (response.next_page_token().empty() ? " (last)" : "") << "\n";
      if (ids.size() > 2) throw Unexpected("ListIdentities: more identities than page_size");
      pages.push_back(JsonStrings(ids));
      listed.insert(listed.end(), ids.begin(), ids.end());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    for (const auto& id : ours) {
      auto seen = std::count(listed.begin(), listed.end(), id);
      if (seen != 1) throw Unexpected("ListIdentities listed " + id + " " + std::to_string(seen) + " times");
    }
    if (!std::is_sorted(listed.begin(), listed.end())) throw Unexpected("ListIdentities: not ordered by identity_id");
    std::cout << "each of the " << ours.size() << " identities created here was listed exactly once, across "
              << pages.size() << " page(s)\n";
    result_.Raw("list", JsonObject().Num("page_size", 2).Raw("created", JsonStrings(ours)).Raw("pages", JsonArray(pages)).str());
  }

  // 6. An invalid identity_id: INVALID_ARGUMENT, with a google.rpc.BadRequest naming the field.
  void ShowInvalidArgument() {
    std::cout << "\n== an error: CreateIdentity with an invalid identity_id\n";
    v1::CreateIdentityRequest create;
    const std::string bad_id = "not a valid id!";
    create.mutable_identity()->set_identity_id(bad_id);
    v1::CreateIdentityResponse response;
    grpc::Status status = client_.TryCall(client_.api(), &Api::CreateIdentity, create, &response);
    if (status.ok()) {
      created_.push_back(bad_id);
      throw Unexpected("CreateIdentity accepted the identity_id " + JsonString(bad_id));
    }
    std::cout << "code: " << CodeName(status.error_code()) << "\nmessage: " << status.error_message() << "\n";
    google::rpc::Status decoded;
    if (!DecodeStatus(status, &decoded)) throw Unexpected("the error carries no google.rpc.Status details");
    std::vector<std::string> types, violations;
    for (const auto& detail : decoded.details()) types.push_back(JsonString(detail.type_url()));
    auto fields = FieldViolations(status);
    for (const auto& violation : fields) {
      std::cout << "violation: field " << violation.field << ": " << violation.description << "\n";
      violations.push_back(JsonObject().Str("field", violation.field).Str("description", violation.description).str());
    }
    result_.Raw("error", JsonObject()
                             .Str("code", CodeName(status.error_code()))
                             .Num("status_code", decoded.code())
                             .Str("message", status.error_message())
                             .Raw("detail_types", JsonArray(types))
                             .Raw("field_violations", JsonArray(violations))
                             .str());
    if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) throw Unexpected("expected INVALID_ARGUMENT");
    if (decoded.code() != static_cast<int>(status.error_code())) throw Unexpected("details' code differs from the call's");
    if (fields.empty()) throw Unexpected("INVALID_ARGUMENT without a google.rpc.BadRequest field violation");
  }

  const Options& options_;
  Client& client_;
  std::string prefix_, identity_id_;
  std::vector<std::string> created_;
  JsonObject documents_, result_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options = ParseOptions(argc, argv);
  int exit_code = 0;
  std::string result;
  try {
    auto timeout = std::chrono::milliseconds(static_cast<long long>(options.timeout_s * 1000));
    Client client(OpenChannel(options), options.token, timeout);
    Example example(options, client);
    try {
      example.Run();
    } catch (const std::exception& error) {
      std::cerr << "\nstampauth-example: " << error.what() << "\n";
      exit_code = 1;
    }
    if (!example.CleanUp()) exit_code = 1;
    result = example.Result(exit_code == 0);
  } catch (const std::exception& error) {
    std::cerr << "stampauth-example: " << error.what() << "\n";
    exit_code = 1;
  }
  if (!result.empty()) std::cout << "\nRESULT " << result << std::endl;
  return exit_code;
}
